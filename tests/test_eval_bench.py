"""Bench: the random-weight model folder it times, and (once the editor exists) a real tiny run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from eval.bench.editor import write_random_model

HAS_EDITOR = importlib.util.find_spec("ganpaint_core.editing.editor") is not None


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_random_model(tmp_path_factory.mktemp("m") / "tiny", sizes=[32, 32, 32, 16, 16], dissection_samples=4)


def test_random_model_folder_loads_complete(tiny_model):
    from ganpaint_core.models import load_model

    bundle = load_model(str(tiny_model))
    assert bundle.resolution == 32 and bundle.layer == "layer4"
    assert bundle.encoder is not None and bundle.segmenter is not None
    assert len(bundle.dissection["units"]) == 32


@pytest.mark.skipif(not HAS_EDITOR, reason="ganpaint_core/editing/editor.py is not written yet")
def test_bench_writes_timings_and_memory(tiny_model, tmp_path, capsys):
    from eval.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    out = tmp_path / "bench.json"
    # the command in this process; it measures in a fresh process of its own (the behaviour under test)
    code = main("python -m eval", "", COMMANDS, ["bench", "--model", str(tiny_model), "--fits", "1", "--edits", "2",
                                                 "--scaling", "none", "--threads", "1", "--fit",
                                                 "z_steps=2,r_steps=3,adapt_steps=4", "--out", str(out)])
    assert code == 0, capsys.readouterr().err[-2000:]
    [result] = json.loads(out.read_text())["results"]
    assert result["size"] == 32 and len(result["edit_seconds"]) == 2
    assert result["steps"] == [2, 3, 4]                  # --fit reached the fit in the fresh process
    assert result["fit_seconds_median"] > 0 and result["peak_rss_mib"] >= result["rss_after_load_mib"] > 50
    assert result["edit_actions"] == ["add", "remove"]
    assert result["add_seconds_median"] == result["edit_seconds"][0]
    assert result["remove_seconds_median"] == result["edit_seconds"][1]
    assert result["first_edit_seconds"] == result["edit_seconds"][:1]
    stages = result["edit_stage_seconds_median"]
    assert set(stages) == {"add", "remove"}
    for action, total in (("add", result["add_seconds_median"]), ("remove", result["remove_seconds_median"])):
        assert {"labels", "operation", "render", "paste"} <= set(stages[action])
        assert 0 < stages[action]["render"] and sum(stages[action].values()) <= total
    assert json.loads(out.read_text())["machine"]["cpu"]


@pytest.mark.skipif(not HAS_EDITOR, reason="ganpaint_core/editing/editor.py is not written yet")
def test_edit_stages_writes_both_forms_per_action(tiny_model, tmp_path):
    out = tmp_path / "stages.json"
    done = subprocess.run([sys.executable, "-m", "eval", "edit-stages", "--model", str(tiny_model), "--edits", "2",
                           "--reps", "1", "--threads", "1", "--clock", "cpu",
                           "--fit", "z_steps=2,r_steps=2,adapt_steps=2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    [result] = report["results"]
    assert report["machine"]["cpu"] and result["size"] == 32 and result["clock"] == "cpu"
    for key in ("add_render_ms", "remove_render_ms", "add_blend_ms", "remove_blend_ms"):
        row = result[key]
        assert row["today"] > 0 and row["plain"] > 0 and row["ratio"] == pytest.approx(row["today"] / row["plain"],
                                                                                        abs=1e-3)


@pytest.mark.skipif(not HAS_EDITOR, reason="ganpaint_core/editing/editor.py is not written yet")
def test_bench_compares_with_another_checkout(tiny_model, tmp_path):
    """``--before``: each configuration in both checkouts, alternately; the ratios of this one's medians."""
    from pathlib import Path

    from eval.bench.editor import comparison

    out, root = tmp_path / "bench.json", Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "eval", "bench", "--model", str(tiny_model), "--fits", "1",
                           "--edits", "2", "--scaling", "none", "--threads", "1", "--fit",
                           "z_steps=1,r_steps=1,adapt_steps=1", "--before", str(root), "--rounds", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [r["checkout"] for r in report["results"]] == ["before", "this"] and report["before"] == str(root)
    [(label, ratios)] = report["comparison"].items()
    assert "model" in label and ratios["edit_seconds_median"] > 0 and "add.render" in ratios
    rows = [{"label": "m", "channels_last": True, "checkout": c, "edit_seconds_median": t, "add_seconds_median": t,
             "edit_stage_seconds_median": {"add": {"render": t / 2}}} for c, t in (("before", 4.0), ("this", 1.0),
                                                                                   ("before", 2.0), ("this", 1.0))]
    assert comparison(rows) == {"m (channels_last=True)": pytest.approx(
        {"edit_seconds_median": 0.333, "add_seconds_median": 0.333, "add.render": 0.333})}      # 1 / median(4, 2)
    bad = subprocess.run([sys.executable, "-m", "eval", "bench", "--before", str(tmp_path), "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "not a checkout of this repository" in bad.stderr


@pytest.mark.skipif(not HAS_EDITOR, reason="ganpaint_core/editing/editor.py is not written yet")
def test_bench_reads_cpu_time_in_both_checkouts(tiny_model, tmp_path):
    """``--clock cpu``: the edits and their stages read CPU time, in the other checkout too (this bench runs on
    that checkout's code, so an older one without the option compares on the same clock)."""
    from pathlib import Path

    out, root = tmp_path / "bench.json", Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "eval", "bench", "--model", str(tiny_model), "--fits", "1",
                           "--edits", "2", "--scaling", "none", "--threads", "1", "--fit",
                           "z_steps=1,r_steps=1,adapt_steps=1", "--before", str(root), "--rounds", "1",
                           "--clock", "cpu", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [(r["checkout"], r["clock"]) for r in report["results"]] == [("before", "cpu"), ("this", "cpu")]
    assert all(r["edit_seconds_median"] > 0 for r in report["results"])
    bad = subprocess.run([sys.executable, "-m", "eval", "bench", "--clock", "sundial", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--clock" in bad.stderr
