"""MTurk export (an HTMLQuestion page using crowd-form, one batch row per session) and results-CSV layout.

The template holds ``${session}`` and ``${trials}`` placeholders that MTurk fills from ``batch_input.csv``; the
page inlines the same study.js/study.css as the local study, so both behave alike.  Answers come back as
crowd-form's single ``Answer.taskAnswers`` column: a JSON list with one object holding ``answers`` (a JSON string
of the per-trial answers) and ``comments``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from human_study.common import ANSWER_COLUMNS, write_csv

PLACEHOLDER_HOSTS = ("example.com", "example.org", "example.net")   # RFC 2606: never a real image host
PRODUCTION_SUBMIT = "https://www.mturk.com/mturk/externalSubmit"
SANDBOX_SUBMIT = "https://workersandbox.mturk.com/mturk/externalSubmit"
TEMPLATE_VARS = ("session", "trials", "study_version")
RESULT_COLUMNS = ("HITId", "HITTypeId", "Title", "Description", "Keywords", "Reward", "CreationTime",
                  "MaxAssignments", "RequesterAnnotation", "AssignmentDurationInSeconds",
                  "AutoApprovalDelayInSeconds", "Expiration", "NumberOfSimilarHITs", "LifetimeInSeconds",
                  "AssignmentId", "WorkerId", "AssignmentStatus", "AcceptTime", "SubmitTime", "AutoApprovalTime",
                  "ApprovalTime", "RejectionTime", "RequesterFeedback", "WorkTimeInSeconds", "LifetimeApprovalRate",
                  "Last30DaysApprovalRate", "Last7DaysApprovalRate")


def _static(name: str) -> str:
    return resources.files("human_study").joinpath("static", name).read_text(encoding="utf-8")


def template_html(config: dict, image_base_url: str) -> str:
    """The HTMLQuestion page: crowd-form around the study body, study.js/css inlined, MTurk placeholders."""
    js, css = _static("study.js"), _static("study.css")
    if "${" in js + css:
        raise ValueError("study.js/study.css must not contain '${' (MTurk would treat it as a placeholder)")
    hit_config = {**config, "mode": "mturk", "image_base": image_base_url}
    page = _static("mturk.html")
    for marker, text in (("/*CONFIG*/", json.dumps(hit_config)), ("/*CSS*/", css), ("/*JS*/", js),
                         ("<!--BODY-->", _static("body.html"))):
        page = page.replace(marker, text)
    return page


def check_image_base_url(url: str) -> str:
    """``url`` if it can be where the study's ``img/`` is hosted for MTurk: https, ending in ``/``, not a
    placeholder host; else a ValueError that says how to set it."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    how = ("pass --image-base-url https://HOST/PATH/ naming where the study folder's img/ is publicly hosted "
           "(e.g. an S3 bucket); see mturk/README.md")
    if parts.scheme != "https" or not host or not url.endswith("/"):
        raise ValueError(f"--image-base-url {url!r} must be an https URL ending in '/': {how}")
    if any(host == h or host.endswith("." + h) for h in PLACEHOLDER_HOSTS) or "your-bucket" in host:
        raise ValueError(f"--image-base-url {url!r} is a placeholder, not a real host: {how}")
    return url


def write_mturk(study: Path, config: dict, sessions: list[list[dict]], image_base_url: str, version: str = "") -> bool:
    """``STUDY/mturk/``: its README always; the HTMLQuestion template and batch input only with a checked
    ``image_base_url`` (returns whether they were written)."""
    folder = study / "mturk"
    folder.mkdir(exist_ok=True)
    (folder / "README.md").write_text(_static("mturk_README.md"), encoding="utf-8")
    for stale in ("template.html", "batch_input.csv"):
        (folder / stale).unlink(missing_ok=True)
    if not image_base_url:
        return False
    (folder / "template.html").write_text(template_html(config, check_image_base_url(image_base_url)),
                                          encoding="utf-8")
    write_csv(folder / "batch_input.csv", TEMPLATE_VARS,
              ({"session": s, "trials": json.dumps(t, separators=(",", ":")), "study_version": version}
               for s, t in enumerate(sessions)))
    return True


def to_results(answers: pd.DataFrame) -> pd.DataFrame:
    """The local answer table (one row per trial) in MTurk's batch-results layout (one row per assignment)."""
    rows = []
    for (worker, assignment), group in answers.groupby(["worker_id", "assignment_id"], sort=False, dropna=False):
        trials = [{"trial_id": r.trial_id, "choice": r.choice, "rt_ms": None if pd.isna(r.rt_ms) else int(r.rt_ms),
                   "client_time": r.client_time} for r in group.itertuples()]
        first = {k: v if isinstance(v, str) else "" for k, v in group.iloc[0].items()}
        finished = first.get("finished_at") or group["server_time"].iloc[-1]
        task_answers = [{"answers": json.dumps(trials), "comments": first["comments"],
                         "consented_at": first.get("consented_at", "")}]
        session = int(group["session"].iloc[0])
        row = dict.fromkeys(RESULT_COLUMNS, "")
        row.update({"HITId": f"HIT{session:05d}", "AssignmentId": assignment if isinstance(assignment, str) and
                    assignment else f"A-{worker}", "WorkerId": worker, "AssignmentStatus": "Submitted",
                    "AcceptTime": first.get("consented_at", ""), "SubmitTime": finished,
                    "Title": "Which photo looks real?", "Input.session": session, "Input.trials": "[]",
                    "Input.study_version": first.get("study_version", ""),
                    "Answer.taskAnswers": json.dumps(task_answers), "Approve": "", "Reject": ""})
        rows.append(row)
    return pd.DataFrame(rows)


def from_results(results: pd.DataFrame) -> pd.DataFrame:
    """MTurk batch results (``Input.*``, ``Answer.*``) as the local answer table (one row per trial).

    Reads crowd-form's ``Answer.taskAnswers`` JSON or, from a plain form, ``Answer.answers``/``Answer.comments``."""
    if "Input.session" not in results:
        raise ValueError("MTurk results lack the Input.session column (was the batch built by `build`?)")
    out = []
    for r in results.to_dict("records"):
        if str(r.get("AssignmentStatus", "")) == "Rejected":
            continue
        if "Answer.taskAnswers" in r and isinstance(r["Answer.taskAnswers"], str):
            fields = json.loads(r["Answer.taskAnswers"])
            fields = fields[0] if isinstance(fields, list) and fields else fields
        else:
            fields = {"answers": r.get("Answer.answers", "[]"), "comments": r.get("Answer.comments", "")}
        answers = fields.get("answers") or "[]"
        answers = json.loads(answers) if isinstance(answers, str) else answers
        comments = fields.get("comments") or ""
        for a in answers:
            out.append({"worker_id": str(r["WorkerId"]), "session": int(r["Input.session"]),
                        "trial_id": str(a["trial_id"]), "choice": a["choice"], "rt_ms": a.get("rt_ms"),
                        "client_time": a.get("client_time"), "server_time": r.get("SubmitTime", ""),
                        "assignment_id": str(r.get("AssignmentId", "")), "study_id": str(r.get("HITId", "")),
                        "session_id": "", "source": "mturk", "comments": comments,
                        # the page's consent time (else MTurk's accept time) and MTurk's submit time
                        "consented_at": fields.get("consented_at") or r.get("AcceptTime", ""),
                        "finished_at": r.get("SubmitTime", ""),
                        "study_version": r.get("Input.study_version", "")})
    return pd.DataFrame(out, columns=list(ANSWER_COLUMNS))
