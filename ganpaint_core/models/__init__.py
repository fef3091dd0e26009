"""Loading models: the shipped default, a registered model, a model folder, a checkpoint file or a URL.

``load_model(name_or_path)`` returns a ``ModelBundle`` holding the generator and,
where present, the segmenter, encoder, discriminator and dissection.  Registered
models (``church`` …, see ``registry.py``) come from the model cache (``hub.py``).  Weights
are read without unpickling: safetensors, or ``torch.load(weights_only=True)``
for GAN-dissection ``.pth`` checkpoints.

This package's front; each module does one job: ``bundle`` (what a model is), ``weights`` (weight I/O),
``build`` (networks from weight files), ``cards``, ``dissection_check``, ``downloads``, ``registry`` and
``hub`` (registered models and their cache), ``loader`` (names to bundles, saving).
"""

from ganpaint_core.models.build import load_generator, load_part, load_segmenter
from ganpaint_core.models.bundle import DEFAULT_LAYER, MODELS_DIR, PARTS, ModelBundle
from ganpaint_core.models.cards import model_card
from ganpaint_core.models.dissection_check import check_dissection
from ganpaint_core.models.downloads import download
from ganpaint_core.models.loader import (
    known_dissection,
    load_folder,
    load_model,
    load_registered,
    save_model,
    shipped_models,
)
from ganpaint_core.models.weights import read_torch_checkpoint, save_part
from ganpaint_core.networks.proggan import ProgressiveGenerator, generator_from_state_dict

__all__ = ["DEFAULT_LAYER", "MODELS_DIR", "PARTS", "ModelBundle", "ProgressiveGenerator", "check_dissection",
           "download", "generator_from_state_dict", "known_dissection", "load_folder", "load_generator", "load_model",
           "load_part", "load_registered", "load_segmenter", "model_card", "read_torch_checkpoint", "save_model",
           "save_part", "shipped_models"]
