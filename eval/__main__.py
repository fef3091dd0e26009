"""``python -m eval``: measure the editor against baselines and ablations."""

import sys

from ganpaint_core.commands.cli import main
from ganpaint_core.cpu import prepare_openmp

COMMANDS = {
    "run": ("eval.run.runner", "render every task with every method and write metrics, strips and plots"),
    "bench": ("eval.bench.editor", "time fitting and editing; write JSON"),
    "placement-bench": ("eval.bench.placement", "time where an add puts its object (the exemplar search); JSON"),
    "speed": ("eval.studies.speed", "fit step counts vs. reconstruction and edit quality, and the cost of a step"),
    "generator-report": ("eval.studies.generator_report", "pixel shares and Fréchet distance vs. the scene world"),
    "add-study": ("eval.studies.add_study", "what holds add edits back: edit variants on held-out scene pairs"),
    "added-trees": ("eval.studies.added_trees", "added trees (or domes) before and after the add levers, by the truth"),
    "editor-study": ("eval.studies.editor_study", "measure the editor's design choices on held-out scene pairs"),
    "sharing-bench": ("eval.bench.sharing", "a fit's time alone and beside a busy core, per threads and OpenMP wait"),
    "cluster-bench": ("eval.bench.cluster", "wall time of one `eval run` on the local pool vs. a local Dask cluster"),
    "scenes-bench": ("eval.bench.scenes", "measure scenes per second"),
    "removal-bench": ("eval.bench.removal", "what a remove edit adds to a forward render, 128 and 256 px; JSON"),
    "realism-check": ("eval.studies.realism_check",
                      "rank real scenes, generator samples and crude composites by realism"),
    "gallery": ("eval.studies.gallery",
                "the editor's edits as pictures: fixed scene tasks beside the truth and baselines, and real photos"),
    "edit-stages": ("eval.bench.edit_stages",
                    "an edit's render and paste-back blend against their plain forms, interleaved; JSON"),
    "app-latency": ("eval.bench.app_latency",
                    "time the demo's edit round trip in a browser and via gradio_client; JSON"),
}

# The evaluation's processes run side by side (workers, servers, other jobs): OpenMP waits passively unless
# GANPAINT_OMP_WAIT / OMP_WAIT_POLICY / GOMP_SPINCOUNT say otherwise.  The benches time the library's own
# default, as a user alone gets it (docs/speed.md, "Sharing the machine").  Before torch is imported.
TIMED_AS_IS = ("bench", "sharing-bench")

if __name__ == "__main__":
    if not set(sys.argv[1:2]) & set(TIMED_AS_IS):
        prepare_openmp("passive")
    sys.exit(main("python -m eval", __doc__, COMMANDS))
