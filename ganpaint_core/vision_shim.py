"""Importing torchvision (and ``lpips``, which imports it) next to a CPU torch whose torchvision build has no
loadable compiled operators.

The registry's torchvision that pairs with ``torch==2.13.0`` is a CUDA build: beside the CPU torch its compiled
library does not load, and ``import torchvision`` fails with ``operator torchvision::nms does not exist`` when its
meta registrations look the operators up.  Declaring the two operator schemas it needs first (no kernels: the
models and transforms LPIPS uses never call them) lets it import.  Where torchvision imports by itself (a matching
CPU or CUDA build), nothing is declared.
"""

from __future__ import annotations

import sys

SCHEMAS = ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
           "qnms(Tensor dets, Tensor scores, float iou_threshold, float scale, int zero_point) -> Tensor")
_LIBRARY = None          # kept alive: the declarations last as long as it does


def _declare_schemas() -> None:
    global _LIBRARY
    import torch

    if _LIBRARY is None:
        _LIBRARY = torch.library.Library("torchvision", "DEF")
        for schema in SCHEMAS:
            _LIBRARY.define(schema)


def import_torchvision():
    """The ``torchvision`` module, through the schema declarations where it does not import by itself; the
    import's own error where it fails for another reason."""
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]            # the half-imported package, so that it imports afresh
        _declare_schemas()
        import torchvision
    return torchvision


def import_lpips():
    """The ``lpips`` package (it imports torchvision at import time), through ``import_torchvision``."""
    import_torchvision()
    import lpips

    return lpips
