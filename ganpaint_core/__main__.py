"""``python -m ganpaint_core``: scenes, training, dissection and editing."""

import sys

from ganpaint_core.cli import HELP_KEY, main

COMMANDS = {
    "scenes": {
        HELP_KEY: "the procedural, labelled scene world",
        "export": ("ganpaint_core.scenes.export", "render N scenes (and edit pairs) to a folder"),
        "bench": ("ganpaint_core.scenes.bench", "measure scenes per second"),
    },
    "train": {
        HELP_KEY: "train the default models on the scene world",
        "generator": ("ganpaint_core.training.train_generator", "train the Progressive-GAN generator"),
        "segmenter": ("ganpaint_core.training.train_segmenter", "train the scene segmenter"),
        "encoder": ("ganpaint_core.training.train_encoder", "train the inversion encoder"),
    },
    "generator-report": ("ganpaint_core.generator_report", "pixel shares and Fréchet distance vs. the scene world"),
    "sample": ("ganpaint_core.sample", "write a grid of generator samples"),
    "dissect": ("ganpaint_core.dissect", "label the units of the semantic layer with concepts"),
    "ship": ("ganpaint_core.ship", "assemble a model folder (fp16 safetensors, config.json) from trained parts"),
    "edit": ("ganpaint_core.edit_cli", "fit a photo and apply one painted edit"),
    "editor-study": ("ganpaint_core.editor_study", "measure the editor's design choices on held-out scene pairs"),
}

if __name__ == "__main__":
    sys.exit(main("python -m ganpaint_core", __doc__, COMMANDS))
