"""The scene segmenter: a small U-Net that labels every pixel with a concept.

Used by dissection (concept masks of generated images), by the edit metrics
and by the app.  ``Segmenter(x)`` takes images in [-1, 1] and returns logits
(B, NUM_CONCEPTS, H, W); ``predict`` takes uint8 pictures and returns labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.concepts import NUM_CONCEPTS
from ganpaint_core.imaging import to_tensor


def _conv(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Segmenter(nn.Module):
    def __init__(self, widths=(24, 48, 96, 128), num_classes: int = NUM_CONCEPTS):
        super().__init__()
        self.widths = list(widths)
        self.down = nn.ModuleList()
        c_in = 3
        for w in widths:
            self.down.append(nn.Sequential(_conv(c_in, w), _conv(w, w)))
            c_in = w
        self.up = nn.ModuleList()
        for w_skip, w in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
            self.up.append(nn.Sequential(_conv(w + w_skip, w_skip), _conv(w_skip, w_skip)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def features(self, x) -> list[torch.Tensor]:
        """Encoder activations at each scale (a perceptual feature space too)."""
        feats = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats

    def forward(self, x):
        return self.decode(self.features(x))

    def decode(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """Logits from the encoder activations ``features`` returned (callers that need both run the encoder once)."""
        x = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 (H,W,3) or (N,H,W,3) -> uint8 labels (H,W) or (N,H,W)."""
        arr = np.asarray(images)
        single = arr.ndim == 3
        x = to_tensor(arr).to(next(self.parameters()).device)
        was_training = self.training
        self.eval()
        out = torch.cat([self(chunk).argmax(1) for chunk in x.split(batch)]).to(torch.uint8).cpu().numpy()
        self.train(was_training)
        return out[0] if single else out


def confusion(pred: np.ndarray, truth: np.ndarray, num_classes: int = NUM_CONCEPTS) -> np.ndarray:
    """Pixel confusion matrix, rows = truth, columns = prediction."""
    idx = truth.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(conf: np.ndarray) -> np.ndarray:
    """IoU of each class from a confusion matrix (NaN where a class never occurs)."""
    tp = np.diag(conf).astype(np.float64)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)
