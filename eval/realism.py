"""No-reference realism, measured the same way for every method, in the shipped discriminator's feature space.

Features: the activations of the shipped discriminator at ``STAGES`` (its 128x128 and 64x64 grids at 128 px),
one feature vector per grid location (a patch), each channel standardised by held-out real scenes.  No method
optimises these features: the fit's perceptual term uses the segmenter's (``perceptual`` resolves ``auto`` to the
segmenter before the discriminator), and the edit and compositing code never sees the discriminator.  The
discriminator was trained to tell real scenes from the generator's samples, so it is sensitive to exactly the
artefacts a generator-based edit can add; docs/eval/realism.md gives the measured ordering of real scenes,
generator samples and crude copy-paste.

Two measurements, with a cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3`` (as in KID):

- ``score(images)``: per picture, the sum of two parts, each divided by its spread (standard deviation) over
  held-out real scenes: *typicality*, minus the mean squared Mahalanobis distance of the picture's patches from a
  Gaussian fitted to real scenes' patches (low for seams, broken composites and any patch real scenes do not
  have), and the *witness*, the MMD witness function between real scenes and the generator's samples averaged
  over the patches (low for the generator's own texture).  Higher is more real.  The machine judge of the 2AFC
  study answers by it.
- ``kid(images)``: kernel inception distance, with the discriminator in place of Inception, between a set of
  pictures and held-out real scene renders: unbiased MMD^2 over random subsets of pictures (and of their
  patches), mean and standard deviation over the subsets.  The subsets are drawn by index, so sets of the same
  size (the methods' pictures of the same tasks) are compared on the same subsets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

STAGES = (0, 1)
REFERENCE_IMAGES = 256           # held-out real scenes and generator samples behind the model
REFERENCE_PATCHES = 8192         # patches per stage drawn from each reference set for the witness's moments
SCALE_IMAGES = 64                # real references whose scores set the two parts' scales
KEPT_PER_IMAGE = 256             # patches per stage kept of each real reference picture, for KID
REALISM_SEED_OFFSET = 50_000_000  # the real references' scene seeds start this far into the held-out range
KID_SUBSETS = 100
KID_PATCHES = 64                 # patches per picture and stage in a KID subset


def _kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


@dataclass
class Moments:
    """The first three moments of a set of standardised patch features, so that the mean of the cubic kernel
    against the whole set is exact and cheap: mean_r k(x, r) = 1 + 3 x.m1/d + 3 x'M2x/d^2 + M3(x,x,x)/d^3."""

    m1: torch.Tensor
    m2: torch.Tensor
    m3: torch.Tensor

    @classmethod
    def of(cls, feats: torch.Tensor, chunk: int = 2048) -> Moments:
        n, c = feats.shape
        m3 = torch.zeros(c * c, c)
        for i in range(0, n, chunk):
            x = feats[i:i + chunk]
            m3 += (x[:, :, None] * x[:, None, :]).reshape(len(x), c * c).T @ x
        return cls(feats.mean(0), feats.T @ feats / n, (m3 / n).reshape(c, c, c))

    def __sub__(self, other: Moments) -> Moments:
        return Moments(self.m1 - other.m1, self.m2 - other.m2, self.m3 - other.m3)

    def mean_kernel(self, x: torch.Tensor, constant: float = 1.0) -> torch.Tensor:
        """mean over the set of k(x_i, r), for each row x_i of ``x`` (``constant`` 0 for a difference of sets)."""
        d = x.shape[1]
        cubic = (((x @ self.m3.reshape(d, d * d)).reshape(len(x), d, d) * x[:, :, None]).sum(1) * x).sum(1)
        return constant + 3 * (x @ self.m1) / d + 3 * ((x @ self.m2) * x).sum(1) / d ** 2 + cubic / d ** 3


@dataclass
class RealismModel:
    discriminator: torch.nn.Module
    mean: list[torch.Tensor]         # per stage: channel means of the real references
    std: list[torch.Tensor]
    witness: list[Moments]           # per stage: moments of the real references' patches minus the generator's
    real_images: list[torch.Tensor]  # per stage: (N, KEPT_PER_IMAGE, C) patches of each real reference, for KID
    precision: list[torch.Tensor]    # per stage: inverse covariance of the real references' patches
    scale: tuple[float, float] = (1.0, 1.0)   # spreads of (typicality, witness) over real reference pictures

    @classmethod
    def fit(cls, discriminator, real: np.ndarray, fake: np.ndarray, seed: int = 0) -> RealismModel:
        """A model from uint8 NxSxSx3 real pictures and generator samples (the references)."""
        d = copy.deepcopy(discriminator).float().eval().requires_grad_(False)
        raw_real, raw_fake = _raw_features(d, real), _raw_features(d, fake)
        rng = np.random.default_rng(seed)
        model = cls(d, [], [], [], [], [])
        for r, f in zip(raw_real, raw_fake, strict=True):
            flat = r.reshape(-1, r.shape[-1])
            mean, std = flat.mean(0), flat.std(0) + 1e-6
            model.mean.append(mean)
            model.std.append(std)
            model.real_images.append(_patches((r - mean) / std, rng, KEPT_PER_IMAGE).reshape(len(r), -1, len(mean)))
            standard = (flat - mean) / std
            model.precision.append(torch.linalg.inv(torch.cov(standard.T) + 1e-3 * torch.eye(len(mean))))
            moments = []
            for feats in (flat, f.reshape(-1, f.shape[-1])):
                pick = rng.choice(len(feats), min(REFERENCE_PATCHES, len(feats)), replace=False)
                moments.append(Moments.of((feats[torch.from_numpy(pick)] - mean) / std))
            model.witness.append(moments[0] - moments[1])
        typicality, witness = model.parts(real[:SCALE_IMAGES])
        model.scale = (float(typicality.std()) or 1.0, float(witness.std()) or 1.0)
        return model

    @classmethod
    def from_model(cls, bundle, n: int = REFERENCE_IMAGES, seed: int = 0) -> RealismModel:
        """References from a model (an Editor or a ModelBundle): ``n`` held-out real scenes and ``n`` samples of
        its plain generator.  ValueError when it has no discriminator."""
        from ganpaint_core.imaging import to_uint8
        from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

        if getattr(bundle, "discriminator", None) is None:
            raise ValueError("the model has no discriminator, so no realism features")
        g = bundle.generator
        start = HELDOUT_SEED_START + REALISM_SEED_OFFSET + seed * REFERENCE_IMAGES
        real = np.stack([render(sample_scene(start + i), g.resolution)[0] for i in range(n)])
        gen = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            fake = np.concatenate([to_uint8(g(torch.randn(min(32, n - i), g.z_dim, generator=gen)))
                                   for i in range(0, n, 32)])
        return cls.fit(bundle.discriminator, real, fake, seed)

    def features(self, images: np.ndarray) -> list[torch.Tensor]:
        """Per stage, (N, L, C) standardised patch features of uint8 NxSxSx3 pictures."""
        return [(f - m) / s for f, m, s in zip(_raw_features(self.discriminator, images), self.mean, self.std,
                                               strict=True)]

    def parts(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per picture: (typicality, witness), each averaged over patches and stages."""
        images = _batch(images)
        typicality, witness = np.zeros(len(images)), np.zeros(len(images))
        for feats, moments, precision in zip(self.features(images), self.witness, self.precision, strict=True):
            typicality -= ((feats @ precision) * feats).sum(-1).mean(1).numpy()
            for i, x in enumerate(feats):
                witness[i] += float(moments.mean_kernel(x, constant=0.0).mean())
        return typicality / len(STAGES), witness / len(STAGES)

    def score(self, images: np.ndarray) -> np.ndarray:
        """Per picture: typicality and witness, each in units of its spread over real scenes (higher: more real)."""
        typicality, witness = self.parts(images)
        return typicality / self.scale[0] + witness / self.scale[1]

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


def _batch(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.uint8)
    return images[None] if images.ndim == 3 else images


def _raw_features(discriminator, images: np.ndarray, batch: int = 64) -> list[torch.Tensor]:
    from ganpaint_core.imaging import to_tensor

    images = _batch(images)
    out: list[list[torch.Tensor]] = [[] for _ in STAGES]
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            feats = discriminator.features(to_tensor(images[i:i + batch]).float())
            for k, stage in enumerate(STAGES):
                f = feats[stage]
                out[k].append(f.permute(0, 2, 3, 1).reshape(f.shape[0], -1, f.shape[1]))
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


def ordering_sets(generator, n: int = 64, seed: int = 1) -> dict[str, np.ndarray]:
    """A fixed check set of uint8 pictures: held-out real scenes (``real``; other seeds than the references),
    the generator's samples (``generated``) and crude copy-paste (``copy_paste``: each real scene with a hard-edged
    square from another real scene pasted at another place, ``copy_paste_generated``: from a generator sample)."""
    from ganpaint_core.imaging import to_uint8
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    size = generator.resolution
    start = HELDOUT_SEED_START + REALISM_SEED_OFFSET + 1_000_000 + seed * 2 * n
    real = np.stack([render(sample_scene(start + i), size)[0] for i in range(n)])
    donor = np.stack([render(sample_scene(start + n + i), size)[0] for i in range(n)])
    with torch.inference_mode():
        generated = to_uint8(generator(torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))))
    rng = np.random.default_rng(seed)
    pasted, pasted_gen = real.copy(), real.copy()
    for i in range(n):
        side = int(rng.integers(size // 4, size * 7 // 16))
        y, x, y2, x2 = rng.integers(0, size - side, 4)
        pasted[i, y:y + side, x:x + side] = donor[i, y2:y2 + side, x2:x2 + side]
        pasted_gen[i, y:y + side, x:x + side] = generated[(i + 1) % n, y2:y2 + side, x2:x2 + side]
    return {"real": real, "generated": generated, "copy_paste": pasted, "copy_paste_generated": pasted_gen}


PHOTO = "photo"   # the unedited photos, a reference row of the KID table


def measure_run(out, edits, order: list[str], model: RealismModel) -> tuple:
    """Realism of a run's saved pictures (``pairs/images/<task>/<method>.png``): (per picture: task_id, method,
    realism; per method and for the unedited photos: n, kid, kid_std), as DataFrames.  KID uses the tasks every
    method rendered, in task order, so all methods are compared on the same subsets."""
    import pandas as pd
    from PIL import Image
    from tqdm import tqdm

    images = out / "pairs" / "images"
    tasks = sorted(t for t, g in edits.groupby("task_id") if set(order) <= set(g["method"])
                   and all((images / str(t) / f"{m}.png").is_file() for m in (*order, "original")))
    rows, kids = [], []
    for name in tqdm([*order, PHOTO], desc="realism", unit="method"):
        file = "original" if name == PHOTO else name
        pictures = np.stack([np.asarray(Image.open(images / str(t) / f"{file}.png").convert("RGB")) for t in tasks]) \
            if tasks else np.zeros((0, 1, 1, 3), np.uint8)
        if len(tasks):
            rows += [{"task_id": t, "method": name, "realism": s} for t, s in zip(tasks, model.score(pictures),
                                                                                  strict=True)]
        mean, std = model.kid(pictures) if len(tasks) >= 2 else (float("nan"), float("nan"))
        kids.append({"method": name, "n": len(tasks), "kid": mean, "kid_std": std})
    return pd.DataFrame(rows, columns=["task_id", "method", "realism"]), pd.DataFrame(kids)
