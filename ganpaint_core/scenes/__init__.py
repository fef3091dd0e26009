"""The scene world: procedural, labelled outdoor "church-like" scenes.

``sample_scene(seed)`` gives a scene description; ``render(scene, size)`` gives
``(rgb uint8 HxWx3, labels uint8 HxW)`` with concept ids from
``ganpaint_core.concepts``; ``render_batch(seeds, size)`` renders many in a
process pool.
"""

from ganpaint_core.scenes.description import Scene, sample_scene
from ganpaint_core.scenes.render import MIN_SIZE, render, render_batch

HELDOUT_SEED_START = 10_000_000  # seeds at or above this are never used for training

__all__ = ["HELDOUT_SEED_START", "MIN_SIZE", "Scene", "render", "render_batch", "sample_scene"]
