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

import pandas as pd

from human_study.common import ANSWER_COLUMNS, write_csv

DEFAULT_IMAGE_BASE_URL = "https://YOUR-BUCKET.example.com/STUDY/"
PRODUCTION_SUBMIT = "https://www.mturk.com/mturk/externalSubmit"
SANDBOX_SUBMIT = "https://workersandbox.mturk.com/mturk/externalSubmit"
TEMPLATE_VARS = ("session", "trials")
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


def write_mturk(study: Path, config: dict, sessions: list[list[dict]], image_base_url: str) -> None:
    folder = study / "mturk"
    folder.mkdir(exist_ok=True)
    (folder / "template.html").write_text(template_html(config, image_base_url), encoding="utf-8")
    write_csv(folder / "batch_input.csv", TEMPLATE_VARS, ({"session": s, "trials": json.dumps(t, separators=(",", ":"))}
                                                         for s, t in enumerate(sessions)))
    (folder / "README.md").write_text(_static("mturk_README.md"), encoding="utf-8")


def to_results(answers: pd.DataFrame) -> pd.DataFrame:
    """The local answer table (one row per trial) in MTurk's batch-results layout (one row per assignment)."""
    rows = []
    for (worker, assignment), group in answers.groupby(["worker_id", "assignment_id"], sort=False, dropna=False):
        trials = [{"trial_id": r.trial_id, "choice": r.choice, "rt_ms": None if pd.isna(r.rt_ms) else int(r.rt_ms),
                   "client_time": r.client_time} for r in group.itertuples()]
        comments = group["comments"].iloc[0]
        task_answers = [{"answers": json.dumps(trials), "comments": "" if pd.isna(comments) else comments}]
        session = int(group["session"].iloc[0])
        row = dict.fromkeys(RESULT_COLUMNS, "")
        row.update({"HITId": f"HIT{session:05d}", "AssignmentId": assignment if isinstance(assignment, str) and
                    assignment else f"A-{worker}", "WorkerId": worker, "AssignmentStatus": "Submitted",
                    "SubmitTime": group["server_time"].iloc[-1], "Title": "Which photo looks real?",
                    "Input.session": session, "Input.trials": "[]",
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
                        "session_id": "", "source": "mturk", "comments": comments})
    return pd.DataFrame(out, columns=list(ANSWER_COLUMNS))
