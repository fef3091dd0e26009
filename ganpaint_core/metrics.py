"""Image metrics (the one metrics module): PSNR, SSIM, L1 (whole or masked), concept share, LPIPS.

All pictures are uint8 HxWx3.  A ``region`` is a bool HxW array selecting the
pixels a metric is averaged over (``None``: the whole picture).  PSNR of two
identical pictures is capped at ``PSNR_CAP`` so that means stay finite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from ganpaint_core.concepts import concept_id
from ganpaint_core.morphology import dilate

PSNR_CAP = 100.0


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"pictures differ in shape: {a.shape} vs {b.shape}")


def _region(region: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if region is None:
        return np.ones(shape[:2], dtype=bool)
    region = np.asarray(region, dtype=bool)
    if region.shape != tuple(shape[:2]):
        raise ValueError(f"region of shape {region.shape} does not fit a picture of shape {shape}")
    return region


def _masked_mean(values: np.ndarray, region: np.ndarray) -> float:
    """Mean of a per-pixel (HxW or HxWxC) array over ``region``; NaN for an empty region."""
    if not region.any():
        return float("nan")
    return float(values[region].mean())


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (peak 255), over ``region``."""
    _check_pair(a, b)
    region = _region(region, a.shape)
    mse = _masked_mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, region)
    if np.isnan(mse):
        return mse
    if mse <= 255.0**2 * 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return float(10 * np.log10(255.0**2 / mse))


def l1(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean absolute difference in [0, 1] units, over ``region``."""
    _check_pair(a, b)
    region = _region(region, a.shape)
    return _masked_mean(np.abs(a.astype(np.float64) - b.astype(np.float64)) / 255.0, region)


def ssim(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """Structural similarity (skimage, 7x7 window), its map averaged over ``region``."""
    _check_pair(a, b)
    region = _region(region, a.shape)
    _, ssim_map = structural_similarity(a, b, channel_axis=-1, data_range=255, full=True)
    return _masked_mean(ssim_map.mean(axis=-1), region)


def outside_region(mask: np.ndarray, radius: int | None = None) -> np.ndarray:
    """The pixels farther than ``radius`` (default: ``default_margin``) from the mask: where an edit changes nothing."""
    return ~dilate(mask, default_margin(mask.shape[0]) if radius is None else radius)


def default_margin(size: int) -> int:
    """The dilation used for "outside the mask" metrics: 1/32 of the picture (4 px at 128)."""
    return max(1, round(size / 32))


def concept_share(labels: np.ndarray, concept: str, region: np.ndarray) -> float:
    """The share of ``region`` that ``labels`` assign to ``concept``."""
    return _masked_mean(labels == concept_id(concept), _region(region, labels.shape))


def label_accuracy(labels: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """The share of ``region`` where ``labels`` agree with the ground-truth labels."""
    if labels.shape != truth.shape:
        raise ValueError(f"label maps differ in shape: {labels.shape} vs {truth.shape}")
    return _masked_mean(labels == truth, _region(region, labels.shape))


class LPIPS:
    """LPIPS distance where the ``lpips`` package imports (through ``vision_shim`` next to a CPU torch) and its
    backbone's ImageNet weights are already in torch's cache (``TORCH_HOME``/hub/checkpoints).

    Never downloads: when unavailable, ``available`` is False, ``reason`` says why
    and ``__call__`` returns NaN (the tables show ``n/a``).  README (LPIPS) says how to fetch the weights once.
    """

    BACKBONES = {"alex": "alexnet-owt", "vgg": "vgg16-", "squeeze": "squeezenet1_1-"}

    def __init__(self, net: str = "alex"):
        self.model = None
        self.reason = ""
        try:
            import torch

            from ganpaint_core.vision_shim import import_lpips

            lpips = import_lpips()
        except Exception as err:  # any failure to import means "not available", never a crash
            self.reason = f"the lpips package does not import here ({type(err).__name__}: {err})"
            return
        checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
        prefix = self.BACKBONES[net]
        if not any(p.name.startswith(prefix) for p in checkpoints.glob("*.pth")):
            self.reason = (f"no backbone weights in TORCH_HOME ({checkpoints} has no {prefix}*.pth, the {net} "
                           "backbone); LPIPS is skipped rather than downloaded, see README (LPIPS)")
            return
        try:
            import warnings

            with warnings.catch_warnings():     # lpips still passes torchvision's pre-0.13 ``pretrained=``
                warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
                self.model = lpips.LPIPS(net=net, spatial=True, verbose=False).eval()
        except Exception as err:
            self.reason = f"lpips.LPIPS(net={net!r}) failed: {type(err).__name__}: {err}"

    @property
    def available(self) -> bool:
        return self.model is not None

    def __call__(self, a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
        if self.model is None:
            return float("nan")
        _check_pair(a, b)
        import torch

        from ganpaint_core.imaging import to_tensor

        with torch.inference_mode():
            dist = self.model(to_tensor(a), to_tensor(b))[0, 0].numpy()
        return _masked_mean(dist, _region(region, a.shape))
