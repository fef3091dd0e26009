/* Two-alternative forced-choice study: consent, instructions, practice with feedback, scored trials, comments.
 * Modes: "server" (served by `python -m human_study serve`: nothing is sent before consent; consent returns a
 * token that every later call carries; answers go to /api as they are given and the completion code comes back
 * only once all are stored; with MTurk's assignmentId and turkSubmitTo in the URL it is an ExternalQuestion and
 * submits to MTurk at the end), "mturk" (the HTMLQuestion template: answers go into crowd-form) and "static"
 * (opened from disk or a plain web host: answers stay in this browser, downloadable).
 * Every mode keeps its progress in localStorage, so a reload or Back/Forward resumes at the first unanswered
 * trial; a second tab of the same participant takes over and the first is told.
 * Keys answer only a trial that is shown, at least min_rt_ms after its photos appeared, once; never with
 * Ctrl/Alt/Meta held, never from auto-repeat.
 * No template literals here: MTurk would read them as placeholders.
 */
(function () {
  "use strict";

  var S = window.STUDY || {};
  var params = new URLSearchParams(window.location.search);
  var KEYS = {ArrowLeft: "left", f: "left", F: "left", ArrowRight: "right", j: "right", J: "right"};
  var SCREENS = ["consent", "instructions", "trial", "break", "comments", "done", "elsewhere"];
  var MTURK_SUBMIT_HOSTS = ["www.mturk.com", "workersandbox.mturk.com"];
  var NO_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE";
  var narrow = window.matchMedia("(max-width: 640px)");  /* the photos stack: say top/bottom */
  var state = {mode: "static", who: null, token: "", session: 0, trials: [], index: 0, answers: {}, pending: [],
               consented: false, finished: false, ready: false, shownAt: 0, maskTimer: null, armTimer: null,
               tab: randomHex(6), superseded: false, minRt: Number(S.min_rt_ms) || 0};

  function $(id) { return document.getElementById(id); }

  function show(name) {
    SCREENS.forEach(function (s) { $("screen-" + s).hidden = s !== name; });
  }

  function randomHex(n) {
    var bytes = new Uint8Array(n);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function remember(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* storage may be disabled */ }
  }

  function recall(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (e) { /* storage may be disabled */ }
  }

  /* A storage key for this participant in this build of the study (ids may hold any characters: encoded); per
   * assignment too in an HTMLQuestion, where each HIT is its own session. */
  function key(what) {
    return "study-" + what + ":" + (S.study_version || "") + ":" + encodeURIComponent(state.who.worker_id) +
      (state.mode === "mturk" ? ":" + encodeURIComponent(state.who.assignment_id) : "");
  }

  function sideWord(side) {
    if (!narrow.matches) { return side; }
    return side === "left" ? "top" : "bottom";
  }

  /* MTurk's ExternalQuestion parameters, if this page is one and may submit (never to any other host). */
  function externalSubmit() {
    var assignment = params.get("assignmentId");
    var to = params.get("turkSubmitTo");
    if (S.mode === "mturk" || !assignment || assignment === NO_ASSIGNMENT || !to) { return null; }
    try {
      var url = new URL("/mturk/externalSubmit", to);
      if (url.protocol !== "https:" || MTURK_SUBMIT_HOSTS.indexOf(url.hostname) < 0) { return null; }
      return {action: url.href, assignmentId: assignment};
    } catch (e) {
      return null;
    }
  }

  function identity() {
    if (S.mode === "mturk" || (params.get("assignmentId") && params.get("workerId"))) {
      return {worker_id: params.get("workerId") || "", assignment_id: params.get("assignmentId") || "",
              study_id: params.get("hitId") || "", source: "mturk"};
    }
    if (params.get("PROLIFIC_PID")) {
      return {worker_id: params.get("PROLIFIC_PID"), study_id: params.get("STUDY_ID") || "",
              session_id: params.get("SESSION_ID") || "", source: "prolific"};
    }
    /* Stored only at consent. */
    var worker = params.get("workerId") || params.get("worker_id") || recall("study-worker") ||
      "local-" + randomHex(8);
    return {worker_id: worker, assignment_id: params.get("assignmentId") || "", source: "local"};
  }

  function imageUrl(path) {
    return (S.mode === "mturk" ? S.image_base || "" : "") + path;
  }

  function request(method, url, body) {
    var headers = {};
    if (state.token) { headers["X-Study-Token"] = state.token; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {method: method, headers: headers, cache: "no-store",
                       body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) {
            var err = new Error(data.error || ("HTTP " + r.status));
            err.status = r.status;
            throw err;
          }
          return data;
        });
      });
  }

  /* Served or not: asks the server (which stores nothing for it); 404 or no server means static mode. */
  function detectMode() {
    if (S.mode === "mturk") { return Promise.resolve("mturk"); }
    var online = window.location.protocol === "http:" || window.location.protocol === "https:";
    if (!online) { return Promise.resolve("static"); }
    return fetch("api/study", {cache: "no-store"}).then(function (r) {
      if (r.status === 404) { return "static"; }
      if (!r.ok) { throw new Error("the study server answered " + r.status); }
      return r.json().then(function (data) {
        state.minRt = Number(data.min_rt_ms) || 0;
        return "server";
      });
    });
  }

  function restoreAnswers() {
    var saved = {};
    try { saved = JSON.parse(recall(key("answers") + ":" + state.session) || "{}"); } catch (e) { saved = {}; }
    Object.keys(saved).forEach(function (id) {
      if (!state.answers[id] && saved[id] && saved[id].choice) {
        state.answers[id] = saved[id];
        if (state.mode === "server") { state.pending.push(saved[id]); }  /* given but perhaps never stored */
      }
    });
  }

  function saveAnswers() {
    remember(key("answers") + ":" + state.session, JSON.stringify(state.answers));
  }

  function firstOpen() {
    state.index = 0;
    while (state.index < state.trials.length && state.answers[state.trials[state.index].id]) { state.index++; }
  }

  function useServerSession(data) {
    state.session = data.session;
    state.trials = S.sessions[data.session];
    data.answered.forEach(function (id) { state.answers[id] = {trial_id: id, stored: true}; });
    restoreAnswers();
    firstOpen();
  }

  /* Resolves to true if this participant has consented before (reload, Back/Forward, a second tab). */
  function resume() {
    state.who = identity();
    if (state.mode === "mturk") {
      state.session = S.session;
      state.trials = JSON.parse($("hit-trials").textContent);
      if (!recall(key("consented"))) { return Promise.resolve(false); }
      restoreAnswers();
      firstOpen();
      return Promise.resolve(true);
    }
    if (state.mode === "static") {
      var saved = recall(key("session"));
      if (saved === null) { return Promise.resolve(false); }
      state.session = Number(saved);
      state.trials = S.sessions[state.session];
      restoreAnswers();
      firstOpen();
      return Promise.resolve(true);
    }
    state.token = recall(key("token")) || "";
    if (!state.token) { return Promise.resolve(false); }
    return request("GET", "api/session?" + new URLSearchParams({worker_id: state.who.worker_id}).toString())
      .then(function (data) {
        useServerSession(data);
        return true;
      }, function (err) {
        if (err.status === 403) {    /* a token of another study build, or of a database since removed */
          forget(key("token"));
          state.token = "";
          return false;
        }
        throw err;
      });
  }

  /* Nothing is stored (on the server or in this browser) before this. */
  function consent() {
    var when = new Date().toISOString();
    /* Another tab of this browser may have consented since this one loaded: join it rather than start anew. */
    var known = recall("study-worker");
    if (state.who.source === "local" && known && !params.get("workerId") && !params.get("worker_id")) {
      state.who.worker_id = known;
    }
    state.token = recall(key("token")) || state.token;
    if (state.mode === "mturk") {
      if (!recall(key("consented"))) { remember(key("consented"), when); }
      restoreAnswers();
      firstOpen();
      return Promise.resolve();
    }
    if (state.mode === "static") {
      remember("study-worker", state.who.worker_id);
      var saved = recall(key("session"));
      state.session = saved !== null ? Number(saved) : Math.floor(Math.random() * S.sessions.length);
      remember(key("session"), String(state.session));
      state.trials = S.sessions[state.session];
      restoreAnswers();
      firstOpen();
      return Promise.resolve();
    }
    return request("POST", "api/consent", state.who).then(function (data) {
      state.token = data.token;
      remember(key("token"), data.token);
      if (state.who.source === "local") { remember("study-worker", state.who.worker_id); }
      useServerSession(data);
    });
  }

  /* This tab now runs the study; another tab of the same participant is told to stop. */
  function claimTab() {
    remember(key("active"), state.tab + " " + Date.now());
    window.addEventListener("storage", function (e) {
      if (e.key === key("active") && e.newValue && e.newValue.split(" ")[0] !== state.tab && !state.finished) {
        state.superseded = true;
        state.ready = false;
        clearTimeout(state.armTimer);
        show("elsewhere");
      }
    });
  }

  function preload(trials) {
    var urls = [];
    trials.forEach(function (t) {
      [t.left, t.right].forEach(function (u) { if (urls.indexOf(u) < 0) { urls.push(u); } });
    });
    var done = 0;
    var note = $("loading");
    return Promise.all(urls.map(function (u) {
      return new Promise(function (resolve, reject) {
        var img = new Image();
        img.onload = function () {
          done += 1;
          note.textContent = "Loading photos " + done + " / " + urls.length;
          resolve();
        };
        img.onerror = function () { reject(new Error("could not load " + u)); };
        img.src = imageUrl(u);
      });
    }));
  }

  function progress() {
    var t = state.trials[state.index];
    var practice = state.trials.filter(function (x) { return x.phase === "practice"; }).length;
    var text;
    if (t.phase === "practice") {
      text = "Practice " + (state.index + 1) + " of " + practice;
    } else {
      text = "Pair " + (state.index - practice + 1) + " of " + (state.trials.length - practice);
    }
    $("progress").hidden = false;
    $("progress-bar").value = state.index / state.trials.length;
    $("progress-text").textContent = text;
  }

  function setButtons(enabled) {
    $("choose-left").disabled = !enabled;
    $("choose-right").disabled = !enabled;
  }

  function loaded(img) {
    if (img.complete && img.naturalWidth) { return Promise.resolve(); }
    return new Promise(function (resolve) { img.onload = resolve; img.onerror = resolve; });
  }

  function present() {
    if (state.superseded) { return; }
    var t = state.trials[state.index];
    var left = $("img-left");
    var right = $("img-right");
    state.ready = false;
    setButtons(false);
    clearTimeout(state.maskTimer);
    clearTimeout(state.armTimer);
    $("feedback").textContent = "";
    $("feedback").className = "feedback";
    $("feedback-next").hidden = true;
    left.classList.add("masked");
    right.classList.add("masked");
    left.src = imageUrl(t.left);
    right.src = imageUrl(t.right);
    left.alt = sideWord("left") + " photo";
    right.alt = sideWord("right") + " photo";
    progress();
    show("trial");
    Promise.all([loaded(left), loaded(right)]).then(function () {
      if (state.trials[state.index] !== t || state.superseded) { return; }
      left.classList.remove("masked");
      right.classList.remove("masked");
      state.shownAt = performance.now();
      /* Answers open min_rt_ms after the photos appear (plus a little: timers may round down): earlier presses
       * cannot be a judgement of them, and the server would refuse them. */
      state.armTimer = setTimeout(function () {
        state.ready = true;
        setButtons(true);
      }, state.minRt > 0 ? state.minRt + 10 : 0);
      if (S.exposure_ms > 0) {
        state.maskTimer = setTimeout(function () {
          left.classList.add("masked");
          right.classList.add("masked");
        }, S.exposure_ms);
      }
    });
  }

  function send() {
    if (state.mode !== "server" || !state.pending.length) { return Promise.resolve(); }
    var batch = state.pending.slice();
    return request("POST", "api/answers", {worker_id: state.who.worker_id, answers: batch}).then(function () {
      state.pending = state.pending.filter(function (a) { return batch.indexOf(a) < 0; });
    }, function () { /* kept in state.pending; retried with the next answer and at the end */ });
  }

  function choose(side) {
    if (!state.ready || state.superseded) { return; }
    state.ready = false;
    setButtons(false);
    var t = state.trials[state.index];
    var answer = {trial_id: t.id, choice: side, rt_ms: Math.round(performance.now() - state.shownAt),
                  client_time: new Date().toISOString()};
    state.answers[t.id] = answer;
    state.pending.push(answer);
    saveAnswers();
    send();
    if (t.phase === "practice") {
      clearTimeout(state.maskTimer);
      $("img-left").classList.remove("masked");
      $("img-right").classList.remove("masked");
      var right = side === t.correct;
      var other = t.correct === "left" ? "right" : "left";
      $("feedback").textContent = right ? "Correct: the " + sideWord(other) + " photo was edited."
        : "Not quite: the " + sideWord(side) + " photo was the edited one.";
      $("feedback").className = "feedback " + (right ? "right" : "wrong");
      $("feedback-next").hidden = false;
      $("feedback-next").focus();
      return;
    }
    next();
  }

  function next() {
    if (state.superseded) { return; }
    state.index += 1;
    if (state.index >= state.trials.length) {
      $("progress-bar").value = 1;
      show("comments");
      return;
    }
    var previous = state.trials[state.index - 1];
    if (previous.phase === "practice" && state.trials[state.index].phase !== "practice") {
      show("break");
      return;
    }
    present();
  }

  function answerList() {
    return state.trials.map(function (t) { return state.answers[t.id]; })
      .filter(function (a) { return a && a.choice; });
  }

  /* An ExternalQuestion HIT ends with a form POST to MTurk's externalSubmit, which needs assignmentId. */
  function submitToMturk(target, code) {
    var form = document.createElement("form");
    form.method = "POST";
    form.action = target.action;
    form.hidden = true;
    [["assignmentId", target.assignmentId], ["completion_code", code], ["session", String(state.session)]]
      .forEach(function (field) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = field[0];
        input.value = field[1];
        form.appendChild(input);
      });
    document.body.appendChild(form);
    form.submit();
  }

  function done() {
    state.finished = true;
    show("done");
  }

  function finish() {
    var comments = $("comments").value;
    var status = $("save-status");
    $("submit-answers").disabled = true;
    status.textContent = "Saving your answers\u2026";
    if (state.mode === "mturk") {
      $("answers-field").value = JSON.stringify(answerList());
      $("consented-field").value = recall(key("consented")) || "";
      state.finished = true;
      document.querySelector("crowd-form").submit();
      return;
    }
    if (state.mode === "static") {
      var blob = new Blob([JSON.stringify({worker_id: state.who.worker_id, session: state.session,
                                           answers: answerList(), comments: comments})],
                          {type: "application/json"});
      $("download-link").href = URL.createObjectURL(blob);
      $("download-link").hidden = false;
      $("done-text").textContent = "Your answers are saved in this browser. Please download them and send the " +
        "file to the researcher.";
      done();
      return;
    }
    var all = answerList().filter(function (a) { return a.rt_ms !== undefined; });
    var upload = all.length ? request("POST", "api/answers", {worker_id: state.who.worker_id, answers: all})
      : Promise.resolve();
    upload.then(function () {
      return request("POST", "api/finish", {worker_id: state.who.worker_id, comments: comments});
    }).then(function (data) {
      state.pending = [];
      $("completion-code").textContent = data.completion_code;
      $("code-line").hidden = false;
      $("done-text").textContent = "Your answers are saved.";
      if (data.redirect) {
        $("prolific-link").href = data.redirect;
        $("prolific-link").hidden = false;
      }
      done();
      var target = externalSubmit();
      if (target) {
        $("done-text").textContent = "Your answers are saved; submitting the HIT to MTurk\u2026";
        submitToMturk(target, data.completion_code);
      }
    }, function (err) {
      status.textContent = "Could not save (" + err.message + "). Please check your connection and try again.";
      $("submit-answers").disabled = false;
    });
  }

  /* After consent (now or earlier): instructions, then load the photos of the trials still to do. */
  function begin() {
    claimTab();
    show("instructions");
    preload(state.trials.slice(state.index)).then(function () {
      $("loading").textContent = "Ready.";
      $("start-practice").disabled = false;
      if (state.index > 0) { $("start-practice").textContent = "Continue"; }
    }, function (err) {
      $("loading").textContent = "Sorry, the study could not be loaded (" + err.message + "). Please reload.";
    });
  }

  function onKey(e) {
    var side = KEYS[e.key];
    if (!side || e.ctrlKey || e.altKey || e.metaKey || e.repeat) { return; }
    if ($("screen-trial").hidden || document.visibilityState !== "visible") { return; }
    if (e.target && (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT")) { return; }
    e.preventDefault();
    /* A press that went down before the photos had been up min_rt_ms is not an answer to them. */
    if (!state.ready || e.timeStamp - state.shownAt < state.minRt) { return; }
    choose(side);
  }

  function init() {
    if (S.title) { $("title").textContent = S.title; }
    if (S.question) { $("question").textContent = S.question; }
    $("exposure-note").hidden = !(S.exposure_ms > 0);
    var external = S.mode !== "mturk" && params.get("assignmentId") !== null;
    var preview = (S.mode === "mturk" || external) &&
      (params.get("assignmentId") || NO_ASSIGNMENT) === NO_ASSIGNMENT;
    $("preview-note").hidden = !preview;
    var check = $("consent-check");
    function syncConsent() { $("consent-next").disabled = preview || !check.checked; }
    check.addEventListener("change", syncConsent);
    syncConsent();                       /* the browser may restore the tick after Back/Forward */
    window.addEventListener("pageshow", syncConsent);
    window.addEventListener("beforeunload", function (e) {
      if (state.consented && !state.finished && !state.superseded) {
        e.preventDefault();
        e.returnValue = "";              /* leave mid-study? (progress is kept: coming back resumes) */
      }
    });
    var ready = detectMode().then(function (mode) {
      state.mode = mode;
      return resume();
    }).then(function (before) {
      if (before) {
        state.consented = true;
        begin();
      }
    });
    ready.catch(function (err) {
      $("consent-status").textContent = "Sorry, the study could not be loaded (" + err.message + "). " +
        "Please check your connection and reload.";
    });
    $("consent-next").addEventListener("click", function () {
      $("consent-next").disabled = true;
      ready.then(consent).then(function () {
        state.consented = true;
        begin();
      }, function (err) {
        $("consent-status").textContent = "Sorry: " + err.message;
        syncConsent();
      });
    });
    $("start-practice").addEventListener("click", function () {
      if (state.index >= state.trials.length) { show("comments"); } else { present(); }
    });
    $("start-scored").addEventListener("click", present);
    $("feedback-next").addEventListener("click", next);
    $("choose-left").addEventListener("click", function () { choose("left"); });
    $("choose-right").addEventListener("click", function () { choose("right"); });
    $("submit-answers").addEventListener("click", finish);
    document.addEventListener("keydown", onKey);
  }

  init();
}());
