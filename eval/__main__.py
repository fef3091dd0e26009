"""``python -m eval``: measure the editor against baselines and ablations."""

import sys

from ganpaint_core.commands.cli import main

COMMANDS = {
    "run": ("eval.runner", "render every task with every method and write metrics, strips and plots"),
    "bench": ("eval.bench", "time fitting and editing; write JSON"),
    "generator-report": ("eval.generator_report", "pixel shares and Fréchet distance vs. the scene world"),
    "add-study": ("eval.add_study", "what holds add edits back: edit variants on held-out scene pairs"),
    "editor-study": ("eval.editor_study", "measure the editor's design choices on held-out scene pairs"),
    "scenes-bench": ("eval.scenes_bench", "measure scenes per second"),
    "app-latency": ("eval.app_latency", "time the demo's edit round trip in a browser and via gradio_client; JSON"),
}

if __name__ == "__main__":
    sys.exit(main("python -m eval", __doc__, COMMANDS))
