"""``python -m ganpaint_core``: scenes, training, dissection, model files, editing (measuring: ``python -m eval``)."""

import sys

from ganpaint_core.commands.cli import HELP_KEY, main

COMMANDS = {
    "scenes": {
        HELP_KEY: "the procedural, labelled scene world",
        "export": ("ganpaint_core.commands.scenes_export", "render N scenes (and edit pairs) to a folder"),
    },
    "train": {
        HELP_KEY: "train the default models on the scene world",
        "generator": ("ganpaint_core.training.train_generator", "train the Progressive-GAN generator"),
        "segmenter": ("ganpaint_core.training.train_segmenter", "train the scene segmenter"),
        "encoder": ("ganpaint_core.training.train_encoder", "train the inversion encoder"),
    },
    "sample": ("ganpaint_core.commands.sample", "write a grid of generator samples"),
    "dissect": ("ganpaint_core.commands.dissect", "label the units of the semantic layer with concepts"),
    "ship": ("ganpaint_core.commands.ship", "assemble a model folder (fp16 safetensors, config.json)"),
    "edit": ("ganpaint_core.commands.edit", "fit a photo and apply one painted edit"),
    "fetch": ("ganpaint_core.commands.fetch", "download a registered model's files into the cache (e.g. church)"),
    "import-dissection": ("ganpaint_core.commands.import_dissection",
                          "write a dissection.json from GAN dissection's published unit rankings"),
}

if __name__ == "__main__":
    sys.exit(main("python -m ganpaint_core", __doc__, COMMANDS))
