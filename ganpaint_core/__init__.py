"""GANPaint: semantic photo editing with a generative image prior.

The public API is loaded lazily so that ``import ganpaint_core`` stays light:
``load_model``, ``Editor``.
"""

__version__ = "0.1.0"

_LAZY = {
    "load_model": "ganpaint_core.models",
    "Editor": "ganpaint_core.editing.editor",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganpaint_core' has no attribute {name!r}")
