/* Two-alternative forced-choice study: consent, instructions, practice with feedback, scored trials, comments.
 * Modes: "server" (served by `python -m human_study serve`: answers go to /api as they are given and the
 * completion code comes back only once all are stored), "mturk" (the HTMLQuestion template: answers go into
 * crowd-form) and "static" (opened from disk or a plain web host: answers stay in this browser, downloadable).
 * No template literals here: MTurk would read them as placeholders.
 */
(function () {
  "use strict";

  var S = window.STUDY || {};
  var params = new URLSearchParams(window.location.search);
  var KEYS = {ArrowLeft: "left", f: "left", F: "left", ArrowRight: "right", j: "right", J: "right"};
  var SCREENS = ["consent", "instructions", "trial", "break", "comments", "done"];
  var state = {mode: "static", who: null, session: 0, trials: [], index: 0, answers: {}, pending: [],
               ready: false, shownAt: 0, maskTimer: null};

  function $(id) { return document.getElementById(id); }

  function show(name) {
    SCREENS.forEach(function (s) { $("screen-" + s).hidden = s !== name; });
  }

  function randomId() {
    var bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    return "local-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); })
      .join("");
  }

  function remember(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* storage may be disabled */ }
  }

  function recall(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function identity() {
    if (S.mode === "mturk") {
      return {worker_id: params.get("workerId") || "", assignment_id: params.get("assignmentId") || "",
              source: "mturk"};
    }
    if (params.get("PROLIFIC_PID")) {
      return {worker_id: params.get("PROLIFIC_PID"), study_id: params.get("STUDY_ID") || "",
              session_id: params.get("SESSION_ID") || "", source: "prolific"};
    }
    var worker = params.get("workerId") || params.get("worker_id") || recall("study-worker") || randomId();
    remember("study-worker", worker);
    return {worker_id: worker, assignment_id: params.get("assignmentId") || "", source: "local"};
  }

  function imageUrl(path) {
    return (S.mode === "mturk" ? S.image_base || "" : "") + path;
  }

  function storageKey() {
    return "study-answers-" + state.who.worker_id + "-" + state.session;
  }

  function postJson(url, body) {
    return fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error(data.error || ("HTTP " + r.status)); }
          return data;
        });
      });
  }

  /* Decide the mode and the session; resolves once state.trials is set. */
  function startSession() {
    state.who = identity();
    if (S.mode === "mturk") {
      state.mode = "mturk";
      state.session = S.session;
      state.trials = JSON.parse($("hit-trials").textContent);
      return Promise.resolve();
    }
    var query = new URLSearchParams(state.who).toString();
    var online = window.location.protocol === "http:" || window.location.protocol === "https:";
    /* Static mode only from disk or from a plain web host (404 on the API); a failing server is an error. */
    var ask = online ? fetch("api/session?" + query) : Promise.resolve(null);
    return ask.then(function (r) {
      if (r === null || r.status === 404) { return null; }
      if (!r.ok) { throw new Error("the study server answered " + r.status); }
      return r.json();
    }).then(function (data) {
      if (data) {
        state.mode = "server";
        state.session = data.session;
        state.trials = S.sessions[data.session];
        data.answered.forEach(function (id) { state.answers[id] = {trial_id: id, stored: true}; });
        return;
      }
      state.mode = "static";
      var saved = recall("study-session-" + state.who.worker_id);
      state.session = saved !== null ? Number(saved) : Math.floor(Math.random() * S.sessions.length);
      remember("study-session-" + state.who.worker_id, String(state.session));
      state.trials = S.sessions[state.session];
      var previous = JSON.parse(recall(storageKey()) || "{}");
      Object.keys(previous).forEach(function (id) { state.answers[id] = previous[id]; });
    }).then(function () {
      while (state.index < state.trials.length && state.answers[state.trials[state.index].id]) { state.index++; }
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
    var t = state.trials[state.index];
    var left = $("img-left");
    var right = $("img-right");
    state.ready = false;
    setButtons(false);
    clearTimeout(state.maskTimer);
    $("feedback").textContent = "";
    $("feedback").className = "feedback";
    $("feedback-next").hidden = true;
    left.classList.add("masked");
    right.classList.add("masked");
    left.src = imageUrl(t.left);
    right.src = imageUrl(t.right);
    progress();
    show("trial");
    Promise.all([loaded(left), loaded(right)]).then(function () {
      left.classList.remove("masked");
      right.classList.remove("masked");
      state.shownAt = performance.now();
      state.ready = true;
      setButtons(true);
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
    return postJson("api/answers", {worker_id: state.who.worker_id, answers: batch}).then(function () {
      state.pending = state.pending.filter(function (a) { return batch.indexOf(a) < 0; });
    }, function () { /* kept in state.pending; retried with the next answer and at the end */ });
  }

  function choose(side) {
    if (!state.ready) { return; }
    state.ready = false;
    setButtons(false);
    var t = state.trials[state.index];
    var answer = {trial_id: t.id, choice: side, rt_ms: Math.round(performance.now() - state.shownAt),
                  client_time: new Date().toISOString()};
    state.answers[t.id] = answer;
    state.pending.push(answer);
    remember(storageKey(), JSON.stringify(state.answers));
    send();
    if (t.phase === "practice") {
      clearTimeout(state.maskTimer);
      $("img-left").classList.remove("masked");
      $("img-right").classList.remove("masked");
      var right = side === t.correct;
      var other = t.correct === "left" ? "right" : "left";
      $("feedback").textContent = right ? "Correct: the " + other + " photo was edited."
        : "Not quite: the " + side + " photo was the edited one.";
      $("feedback").className = "feedback " + (right ? "right" : "wrong");
      $("feedback-next").hidden = false;
      $("feedback-next").focus();
      return;
    }
    next();
  }

  function next() {
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

  function finish() {
    var comments = $("comments").value;
    var status = $("save-status");
    $("submit-answers").disabled = true;
    status.textContent = "Saving your answers\u2026";
    if (state.mode === "mturk") {
      $("answers-field").value = JSON.stringify(answerList());
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
      show("done");
      return;
    }
    var all = answerList().filter(function (a) { return a.rt_ms !== undefined; });
    var upload = all.length ? postJson("api/answers", {worker_id: state.who.worker_id, answers: all})
      : Promise.resolve();
    upload.then(function () {
      return postJson("api/finish", {worker_id: state.who.worker_id, comments: comments});
    }).then(function (data) {
      $("completion-code").textContent = data.completion_code;
      $("code-line").hidden = false;
      $("done-text").textContent = "Your answers are saved.";
      if (data.redirect) {
        $("prolific-link").href = data.redirect;
        $("prolific-link").hidden = false;
      }
      show("done");
    }, function (err) {
      status.textContent = "Could not save (" + err.message + "). Please check your connection and try again.";
      $("submit-answers").disabled = false;
    });
  }

  function init() {
    if (S.title) { $("title").textContent = S.title; }
    if (S.question) { $("question").textContent = S.question; }
    $("exposure-note").hidden = !(S.exposure_ms > 0);
    var preview = S.mode === "mturk" &&
      (params.get("assignmentId") || "ASSIGNMENT_ID_NOT_AVAILABLE") === "ASSIGNMENT_ID_NOT_AVAILABLE";
    $("preview-note").hidden = !preview;
    $("consent-check").addEventListener("change", function () {
      $("consent-next").disabled = preview || !$("consent-check").checked;
    });
    var session = startSession();
    session.catch(function () { /* reported when the participant continues */ });
    $("consent-next").addEventListener("click", function () {
      show("instructions");
      session.then(function () {
        return preload(state.trials.slice(state.index));
      }).then(function () {
        $("loading").textContent = "Ready.";
        $("start-practice").disabled = false;
        if (state.index > 0) { $("start-practice").textContent = "Continue"; }
      }, function (err) {
        $("loading").textContent = "Sorry, the study could not be loaded (" + err.message + "). Please reload.";
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
    document.addEventListener("keydown", function (e) {
      if ($("screen-trial").hidden || e.target.tagName === "TEXTAREA" || !KEYS[e.key]) { return; }
      e.preventDefault();
      choose(KEYS[e.key]);
    });
  }

  init();
}());
