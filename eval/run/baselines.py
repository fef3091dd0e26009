"""Compositing baselines: put a source picture's masked region into a photo.

Each function takes ``(photo, source, mask)`` — two uint8 HxWx3 pictures of the
same size and a bool HxW mask of the region to take from ``source`` — and
returns a uint8 HxWx3 picture.  In the evaluation the source is the unadapted
generator's render of the edit (``session.render(adapted=False)``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.ndimage import gaussian_filter
from scipy.sparse.linalg import splu

from ganpaint_core.editing import masks
from ganpaint_core.editing.compose import multiband_blend


def _check(photo: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if photo.shape != source.shape or photo.ndim != 3:
        raise ValueError(f"photo {photo.shape} and source {source.shape} must be HxWx3 of the same size")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != photo.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not fit pictures of size {photo.shape[:2]}")
    return mask


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def alpha_blend(photo: np.ndarray, source: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * source + (1 - alpha) * photo`` with a float HxW alpha in [0, 1]."""
    a = np.clip(alpha, 0.0, 1.0)[..., None]
    return _to_uint8(a * source.astype(np.float64) + (1 - a) * photo.astype(np.float64))


def copy_paste(photo: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The source's pixels inside the mask, the photo's elsewhere."""
    mask = _check(photo, source, mask)
    out = photo.copy()
    out[mask] = source[mask]
    return out


def feather_alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """An alpha that is 1 on the mask and falls off smoothly over about ``2 * sigma`` pixels outside it."""
    mask = np.asarray(mask, dtype=bool)
    if sigma <= 0 or not mask.any():
        return mask.astype(np.float64)
    return masks.feather(mask, max(1, round(sigma)), sigma).astype(np.float64)


def feather(photo: np.ndarray, source: np.ndarray, mask: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Alpha compositing with a feathered (blurred) mask."""
    mask = _check(photo, source, mask)
    return alpha_blend(photo, source, feather_alpha(mask, sigma))


_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def poisson(photo: np.ndarray, source: np.ndarray, mask: np.ndarray, mixed: bool = False) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003) with a sparse direct solver.

    Inside the mask, solve for pixels whose 4-neighbour differences match the
    guidance field — the source's gradients, or with ``mixed`` whichever of the
    source's and the photo's is stronger — with the photo's values on the mask's
    outer boundary (Dirichlet).  Neighbours beyond the picture's edge are left
    out of the equations (a natural boundary).  A mask with no boundary at all
    (the whole picture) keeps the source's mean.
    """
    mask = _check(photo, source, mask)
    if not mask.any():
        return photo.copy()
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    n = len(ys)
    index = -np.ones((h, w), dtype=np.int64)
    index[ys, xs] = np.arange(n)
    f_star = photo.astype(np.float64)
    g = source.astype(np.float64)

    rows, cols, vals = [np.arange(n)], [np.arange(n)], []
    diag = np.zeros(n)
    rhs = np.zeros((n, 3))
    for dy, dx in _NEIGHBOURS:
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        p = np.nonzero(inside)[0]
        qy, qx = qy[inside], qx[inside]
        diag[p] += 1
        guide = g[ys[p], xs[p]] - g[qy, qx]
        if mixed:
            target_grad = f_star[ys[p], xs[p]] - f_star[qy, qx]
            guide = np.where(np.abs(target_grad) > np.abs(guide), target_grad, guide)
        rhs[p] += guide
        q_index = index[qy, qx]
        unknown = q_index >= 0
        rows.append(p[unknown])
        cols.append(q_index[unknown])
        vals.append(-np.ones(int(unknown.sum())))
        known = ~unknown
        rhs[p[known]] += f_star[qy[known], qx[known]]
    has_boundary = n < h * w
    if not has_boundary:
        # Pure Neumann problem: pin the solution's mean with a tiny pull towards the source.
        diag += 1e-6
        rhs += 1e-6 * g[ys, xs]
    vals.insert(0, diag)
    matrix = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    solution = splu(matrix).solve(rhs)
    out = photo.astype(np.float64)
    out[ys, xs] = solution
    return _to_uint8(out)


def poisson_mixed(photo: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson editing with mixed gradients (keeps the photo's stronger edges)."""
    return poisson(photo, source, mask, mixed=True)


def laplacian_pyramid(photo: np.ndarray, source: np.ndarray, mask: np.ndarray, levels: int | None = None,
                      mask_sigma: float = 1.0) -> np.ndarray:
    """Multi-band blending (Burt & Adelson 1983): blend Laplacian bands with a Gaussian pyramid of the mask
    (``compose.multiband_blend``, the editor's own paste-back, with the mask blurred by ``mask_sigma``)."""
    mask = _check(photo, source, mask)
    alpha = gaussian_filter(mask.astype(np.float64), mask_sigma) if mask_sigma > 0 else mask.astype(np.float64)
    return multiband_blend(photo, source, alpha, levels)


BASELINES = {
    "copy_paste": copy_paste,
    "feather": feather,
    "poisson": poisson,
    "poisson_mixed": poisson_mixed,
    "pyramid": laplacian_pyramid,
}
