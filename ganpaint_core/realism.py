"""No-reference realism of pictures, with a model's discriminator: the evaluation's realism score and KID, and the
machine judge's verdict (it gets the model from its caller).

No method optimises the discriminator: the fit's perceptual term uses the segmenter's features (``perceptual``
resolves ``auto`` to the segmenter before the discriminator), and the edit and compositing code never sees it.  It
is the one network here trained to tell real scenes from this generator's output, the artefact a generator-based
edit adds.  docs/eval/realism.md gives the measured ordering of real scenes, generator samples and crude composites.

- ``score(images)``, per picture, the sum of two parts, each standardised (mean and standard deviation) over
  held-out real scenes, so that neither is tuned against the other; higher is more real, a real scene scores
  about 0.  *Realness*: the discriminator's own verdict (its logit), with its minibatch-deviation input fixed at
  its value over the real references, so that a picture's score does not depend on the pictures scored with it
  (low for the generator's texture).  *Typicality*: minus the mean squared Mahalanobis distance of the picture's
  patches (one feature vector per location of the discriminator's ``STAGES``, its 128x128 and 64x64 grids at
  128 px) from a Gaussian fitted to the real references' patches (low for seams, broken composites and anything
  real scenes do not have; the discriminator never saw composites in training, so its logit alone misses some).
  The machine judge of the 2AFC study answers by this score.
- ``kid(images)``: kernel inception distance, with the discriminator's patch features in place of Inception's,
  between a set of pictures and held-out real scene renders: unbiased MMD^2 with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3`` over random subsets of pictures (and of their patches), mean and standard deviation
  over the subsets.  The subsets are drawn by index, so sets of the same size (the methods' pictures of the same
  tasks) are compared on the same subsets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

STAGES = (0, 1)
REFERENCE_IMAGES = 256           # held-out real scenes behind the model
SCALE_IMAGES = 64                # of them, those whose scores set the two parts' means and spreads
KEPT_PER_IMAGE = 256             # patches per stage kept of each real reference picture, for KID
REALISM_SEED_OFFSET = 50_000_000  # the real references' scene seeds start this far into the held-out range
KID_SUBSETS = 100
KID_PATCHES = 64                 # patches per picture and stage in a KID subset


def _kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


@dataclass
class RealismModel:
    discriminator: torch.nn.Module
    deviation: float                 # the minibatch-deviation feature over the real references
    mean: list[torch.Tensor]         # per stage: channel means of the real references' patches
    std: list[torch.Tensor]
    precision: list[torch.Tensor]    # per stage: inverse covariance of the real references' standardised patches
    real_images: list[torch.Tensor]  # per stage: (N, KEPT_PER_IMAGE, C) patches of each real reference, for KID
    centre: tuple[float, float] = (0.0, 0.0)   # means of (realness, typicality) over real reference pictures
    spread: tuple[float, float] = (1.0, 1.0)   # their standard deviations

    @classmethod
    def fit(cls, discriminator, real: np.ndarray, seed: int = 0) -> RealismModel:
        """A model from uint8 NxSxSx3 held-out real pictures (the references)."""
        d = copy.deepcopy(discriminator).float().eval().requires_grad_(False)
        *raw, last = _raw_features(d, real)
        rng = np.random.default_rng(seed)
        model = cls(d, float(last.std(0, unbiased=False).mean()), [], [], [], [])
        for r in raw:
            flat = r.reshape(-1, r.shape[-1])
            mean, std = flat.mean(0), flat.std(0) + 1e-6
            model.mean.append(mean)
            model.std.append(std)
            model.real_images.append(_patches((r - mean) / std, rng, KEPT_PER_IMAGE).reshape(len(r), -1, len(mean)))
            standard = (flat - mean) / std
            model.precision.append(torch.linalg.inv(torch.cov(standard.T) + 1e-3 * torch.eye(len(mean))))
        parts = np.stack(model.parts(real[:SCALE_IMAGES]))
        model.centre = tuple(float(v) for v in parts.mean(1))
        model.spread = tuple(float(v) or 1.0 for v in parts.std(1))
        return model

    @classmethod
    def from_model(cls, bundle, n: int = REFERENCE_IMAGES, seed: int = 0) -> RealismModel:
        """References from a model (an Editor or a ModelBundle): ``n`` held-out real scenes at its generator's
        size.  ValueError when it has no discriminator."""
        from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

        if getattr(bundle, "discriminator", None) is None:
            raise ValueError("the model has no discriminator, so no realism features")
        size = bundle.generator.resolution
        start = HELDOUT_SEED_START + REALISM_SEED_OFFSET + seed * REFERENCE_IMAGES
        real = np.stack([render(sample_scene(start + i), size)[0] for i in range(n)])
        return cls.fit(bundle.discriminator, real, seed)

    def _measure(self, images: np.ndarray) -> tuple[list[torch.Tensor], np.ndarray]:
        """Per stage (N, L, C) standardised patch features, and the discriminator's logits, of uint8 pictures."""
        *raw, last = _raw_features(self.discriminator, images)
        with torch.inference_mode():
            logits = np.array([float(self.discriminator.head(x[None], self.deviation)) for x in last])
        return [(f - m) / s for f, m, s in zip(raw, self.mean, self.std, strict=True)], logits

    def features(self, images: np.ndarray) -> list[torch.Tensor]:
        """Per stage, (N, L, C) standardised patch features of uint8 NxSxSx3 pictures."""
        return self._measure(images)[0]

    def parts(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per picture, unstandardised: (realness, the discriminator's logit; typicality, averaged over stages)."""
        feats, realness = self._measure(_batch(images))
        typicality = np.zeros(len(realness))
        for f, p in zip(feats, self.precision, strict=True):
            typicality -= [float(((x @ p) * x).sum(-1).mean()) for x in f]   # one picture at a time: see below
        return realness, typicality / len(STAGES)

    def standardised_parts(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per picture: (realness, typicality), each standardised over real scenes (a real scene: about 0)."""
        realness, typicality = ((v - c) / s for v, c, s in zip(self.parts(images), self.centre, self.spread,
                                                                 strict=True))
        return realness, typicality

    def score(self, images: np.ndarray) -> np.ndarray:
        """Per picture: realness + typicality, each standardised over real scenes (higher: more real)."""
        return sum(self.standardised_parts(images))

    def kid(self, images: np.ndarray, subsets: int = KID_SUBSETS, seed: int = 0) -> tuple[float, float]:
        """(mean, std over subsets) of KID between ``images`` and the real references (x 1000 is customary)."""
        images = _batch(images)
        if len(images) < 2:
            raise ValueError("KID needs at least 2 pictures")
        feats = self.features(images)
        m = max(2, min(len(images) // 2, len(self.real_images[0]) // 2))
        rng = np.random.default_rng(seed)
        values = []
        for _ in range(subsets):
            a, b = rng.choice(len(images), m, replace=False), rng.choice(len(self.real_images[0]), m, replace=False)
            value = 0.0
            for x_all, y_all in zip(feats, self.real_images, strict=True):
                x, y = _patches(x_all[torch.from_numpy(a)], rng), _patches(y_all[torch.from_numpy(b)], rng)
                value += _mmd2(x, y, len(x) // m)
            values.append(value / len(STAGES))
        return float(np.mean(values)), float(np.std(values))


@dataclass(frozen=True)
class SquareView:
    """A realism model that scores pictures at a photo's own size on the model's square of them
    (``photo.square_crop``), as the discriminator sees photos; for callers that show whole photos (the judge)."""

    model: RealismModel
    size: int

    def score(self, images: np.ndarray) -> np.ndarray:
        from ganpaint_core.photo import square_crop

        images = _batch(images)
        if images.shape[1:3] != (self.size, self.size):
            images = np.stack([square_crop(x, self.size)[0] for x in images])
        return self.model.score(images)


def _batch(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.uint8)
    return images[None] if images.ndim == 3 else images


def _raw_features(discriminator, images: np.ndarray, batch: int = 1) -> list[torch.Tensor]:
    """Per stage of ``STAGES``, (N, L, C) patch features; then the (N, C, 4, 4) features the head scores.  One
    picture at a time by default: batched kernels may round a picture differently by its place in the batch, and
    identical pictures must score identically (the machine judge breaks exact ties by a coin)."""
    from ganpaint_core.imaging import to_tensor

    images = _batch(images)
    out: list[list[torch.Tensor]] = [[] for _ in (*STAGES, "head")]
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            feats = discriminator.features(to_tensor(images[i:i + batch]).float())
            for k, stage in enumerate(STAGES):
                f = feats[stage]
                out[k].append(f.permute(0, 2, 3, 1).reshape(f.shape[0], -1, f.shape[1]))
            out[-1].append(feats[-1])
    return [torch.cat(parts) for parts in out]


def _patches(feats: torch.Tensor, rng: np.random.Generator, count: int = KID_PATCHES) -> torch.Tensor:
    """``count`` random patches of each picture in (N, L, C) features, stacked."""
    n, locations, _ = feats.shape
    pick = torch.from_numpy(rng.integers(0, locations, (n, min(count, locations))))
    return torch.gather(feats, 1, pick[..., None].expand(-1, -1, feats.shape[2])).reshape(-1, feats.shape[2])


def _within(k: torch.Tensor, per_picture: int) -> float:
    """Mean of ``k`` over pairs of patches from different pictures (rows are grouped by picture)."""
    n = len(k) // per_picture
    blocks = k.reshape(n, per_picture, n, per_picture).diagonal(dim1=0, dim2=2).sum()
    return float((k.sum() - blocks) / (len(k) ** 2 - n * per_picture ** 2))


def _mmd2(x: torch.Tensor, y: torch.Tensor, per_picture: int) -> float:
    """MMD^2 with the cubic polynomial kernel, unbiased across pictures: pairs of patches of one picture are left
    out of the within-set terms (they are not independent draws)."""
    return _within(_kernel(x, x), per_picture) + _within(_kernel(y, y), per_picture) - 2 * float(_kernel(x, y).mean())
