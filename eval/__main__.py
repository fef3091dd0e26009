"""``python -m eval``: measure the editor against baselines and ablations."""

import sys

from ganpaint_core.commands.cli import main

COMMANDS = {
    "run": ("eval.runner", "render every task with every method and write metrics, strips and plots"),
    "bench": ("eval.bench", "time fitting and editing; write JSON"),
    "speed": ("eval.speed", "fit step counts vs. reconstruction and edit quality, and the cost of a step"),
    "generator-report": ("eval.generator_report", "pixel shares and Fréchet distance vs. the scene world"),
    "add-study": ("eval.add_study", "what holds add edits back: edit variants on held-out scene pairs"),
    "editor-study": ("eval.editor_study", "measure the editor's design choices on held-out scene pairs"),
    "cluster-bench": ("eval.cluster_bench", "wall time of one `eval run` on the local pool vs. a local Dask cluster"),
    "scenes-bench": ("eval.scenes_bench", "measure scenes per second"),
    "realism-check": ("eval.realism_check", "rank real scenes, generator samples and crude composites by realism"),
    "app-latency": ("eval.app_latency", "time the demo's edit round trip in a browser and via gradio_client; JSON"),
}

if __name__ == "__main__":
    sys.exit(main("python -m eval", __doc__, COMMANDS))
