"""Rendering a scene description to a photo-like RGB image and its exact label map.

Shapes are drawn back to front with anti-aliased edges from signed distances;
each layer writes its concept id where it covers more than half a pixel.
Surfaces take their detail from real photo textures and fractal noise; the
scene's light sets shading, shadows and colour temperature; haze, a slight
blur, sensor noise and JPEG compression finish the photographic look.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ganpaint_core.concepts import BY_NAME
from ganpaint_core.scenes.description import Building, Cloud, Path, Scene, Tree, sample_scene
from ganpaint_core.scenes.textures import fractal_noise, photo_texture, sample

MIN_SIZE = 32
SKY, CLOUD, TREE, GRASS, GROUND, BUILDING, ROOF, DOME, DOOR, WINDOW = (
    BY_NAME[n].id for n in ("sky", "cloud", "tree", "grass", "ground", "building", "roof", "dome", "door", "window"))


class Canvas:
    """An RGB float image and a label map, painted layer by layer."""

    def __init__(self, size: int):
        self.size = size
        self.rgb = np.zeros((size, size, 3), np.float32)
        self.labels = np.zeros((size, size), np.uint8)
        c = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.v, self.u = np.meshgrid(c, c, indexing="ij")   # y, x in [0, 1]

    def box(self, x0, x1, y0, y1):
        """Pixel slices covering the normalised box (clipped)."""
        s = self.size
        ys = slice(max(0, int(np.floor(y0 * s)) - 1), min(s, int(np.ceil(y1 * s)) + 1))
        xs = slice(max(0, int(np.floor(x0 * s)) - 1), min(s, int(np.ceil(x1 * s)) + 1))
        return ys, xs

    def paint(self, box, alpha, color, label=None):
        """Blend ``color`` with coverage ``alpha`` inside ``box``; label where alpha > 0.5."""
        ys, xs = box
        if alpha.size == 0:
            return
        a = alpha[..., None]
        self.rgb[ys, xs] = self.rgb[ys, xs] * (1 - a) + np.asarray(color, np.float32) * a
        if label is not None:
            self.labels[ys, xs][alpha > 0.5] = label

    def shade(self, box, factor):
        """Multiply the colours inside ``box`` (shadows, lighting); labels stay."""
        ys, xs = box
        self.rgb[ys, xs] *= factor[..., None]


def coverage(sdf_px):
    """Anti-aliased coverage from a signed distance in pixels (negative inside)."""
    return np.clip(0.5 - sdf_px, 0.0, 1.0).astype(np.float32)


def _rect(u, v, cx, cy, hw, hh):
    return np.maximum(np.abs(u - cx) - hw, np.abs(v - cy) - hh)


def _ellipse(u, v, cx, cy, rx, ry):
    return (np.sqrt(((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2) - 1) * min(rx, ry)


def _arch(u, v, cx, bottom, hw, height, arched):
    """A door or window: a rectangle, optionally with a round top (signed distance, normalised units)."""
    if not arched:
        return _rect(u, v, cx, bottom - height / 2, hw, height / 2)
    body_h = height - hw
    d_rect = _rect(u, v, cx, bottom - body_h / 2, hw, body_h / 2)
    d_circ = np.sqrt((u - cx) ** 2 + (v - (bottom - body_h)) ** 2) - hw
    return np.minimum(d_rect, d_circ)


def _textured(base, tex, amount, noise=None, noise_amount=0.0):
    shade = 1 + amount * tex
    if noise is not None:
        shade = shade + noise_amount * noise
    return np.clip(np.asarray(base, np.float32) * shade[..., None], 0, 1.2)


def _draw_sky(c: Canvas, scene: Scene, rng):
    t = np.clip(c.v / max(scene.horizon, 1e-3), 0, 1) ** 1.5
    top, hor = np.array(scene.sky.zenith, np.float32), np.array(scene.sky.horizon, np.float32)
    c.rgb[:] = top * (1 - t[..., None]) + hor * t[..., None]
    c.rgb *= (1 + 0.03 * fractal_noise(rng, c.size, c.size, base=2, octaves=3))[..., None]
    c.labels[:] = SKY


def _draw_cloud(c: Canvas, cloud: Cloud, light):
    rng = np.random.default_rng(cloud.seed)
    box = c.box(cloud.x - cloud.width, cloud.x + cloud.width, cloud.y - cloud.height * 1.6, cloud.y + cloud.height)
    u, v = c.u[box], c.v[box]
    if u.size == 0:
        return
    field = np.zeros(u.shape, np.float32)
    for _ in range(cloud.puffs):
        px = cloud.x + rng.uniform(-0.5, 0.5) * cloud.width
        py = cloud.y - rng.uniform(0, 0.6) * cloud.height
        r = rng.uniform(0.5, 0.8) * cloud.height * (1.5 - abs(px - cloud.x) / cloud.width)
        field = np.maximum(field, 1 - ((u - px) ** 2 + (v - py) ** 2) / r**2)
    flat_bottom = np.clip((cloud.y + 0.2 * cloud.height - v) * c.size / 2, 0, 1)
    noise = fractal_noise(rng, *u.shape, base=2, octaves=3)
    density = np.clip((field + 0.12 * noise) * 2.5, 0, 1) * flat_bottom
    shade = 0.78 + 0.22 * np.clip((cloud.y - v) / cloud.height + 0.3, 0, 1)
    color = np.array([cloud.brightness] * 3, np.float32) * shade[..., None]
    color = color * np.array([1.0, 1.0, 1.02 - 0.04 * light.warmth], np.float32)
    c.paint(box, density, color, CLOUD)


def _draw_ground(c: Canvas, scene: Scene, rng):
    box = c.box(0, 1, scene.horizon, 1)
    u, v = c.u[box], c.v[box]
    ys, xs = box
    py, px = np.mgrid[ys, xs]
    depth = np.clip((v - scene.horizon) / (1 - scene.horizon), 0, 1)
    tex = sample(photo_texture("grass"), py, px, 1.2 + 2.5 * (1 - depth), (rng.uniform(0, 512), rng.uniform(0, 512)))
    noise = fractal_noise(rng, *u.shape, base=3, octaves=4)
    color = _textured(scene.grass_color, tex, 0.10 + 0.12 * depth, noise, 0.12)
    color *= (0.85 + 0.2 * depth)[..., None]
    alpha = coverage((scene.horizon - v) * c.size)
    c.paint(box, alpha, color, GRASS)


def _path_sdf(c, path: Path, u, v):
    t = np.clip((v - path.y_far) / max(1e-3, 1.0 - path.y_far), 0, 1)
    if path.kind == "road":
        half = (path.width_far + (path.width_near - path.width_far) * t) / 2
        return np.maximum(np.abs(u - path.x) - half, path.y_far - v)
    if path.kind == "plaza":
        return np.maximum(np.abs(u - path.x) - path.width_far / 2, np.maximum(path.y_far - v, v - path.y_far - 0.08))
    return np.maximum(np.abs(u - path.x) - path.width_far / 2, np.maximum(path.y_far + 0.1 - v, v - path.y_far - 0.2))


def _draw_path(c: Canvas, path: Path):
    rng = np.random.default_rng(path.seed)
    box = c.box(0, 1, path.y_far, 1)
    u, v = c.u[box], c.v[box]
    ys, xs = box
    py, px = np.mgrid[ys, xs]
    tex_name = "brick" if path.kind == "plaza" else "gravel"
    tex = sample(photo_texture(tex_name), py, px, 1.5 if path.kind == "plaza" else 1.0,
                 (rng.uniform(0, 512), rng.uniform(0, 512)))
    noise = fractal_noise(rng, *u.shape, base=3, octaves=3)
    color = _textured(path.color, tex, 0.12, noise, 0.08)
    edge = 0.5 + 0.5 * np.clip(noise, -1, 1)
    alpha = coverage(_path_sdf(c, path, u, v) * c.size + 0.6 * edge)
    c.paint(box, alpha, color, GROUND)


def _shadow(c: Canvas, box, sdf, strength):
    factor = 1 - strength * np.clip(0.5 - sdf / 3.0, 0, 1)
    c.shade(box, factor.astype(np.float32))


def _draw_tree_shadow(c: Canvas, tree: Tree, light):
    cx = tree.x + light.azimuth * -0.5 * tree.width
    box = c.box(cx - tree.width, cx + tree.width, tree.base - 0.05, tree.base + 0.06)
    u, v = c.u[box], c.v[box]
    sdf = _ellipse(u, v, cx, tree.base + 0.005, tree.width * 0.55, tree.width * 0.10) * c.size
    _shadow(c, box, sdf, 0.35 * light.strength)


def _draw_tree(c: Canvas, tree: Tree, light):
    rng = np.random.default_rng(tree.seed)
    trunk_h = tree.height * 0.42
    trunk_w = tree.width * 0.09
    box = c.box(tree.x - trunk_w, tree.x + trunk_w, tree.base - trunk_h, tree.base)
    u, v = c.u[box], c.v[box]
    if u.size:
        bark = np.array([0.30, 0.22, 0.15], np.float32) * (0.8 + 0.4 * np.clip((u - tree.x) / trunk_w * light.azimuth
                                                                              * 0.5 + 0.5, 0, 1))[..., None]
        c.paint(box, coverage(_rect(u, v, tree.x, tree.base - trunk_h / 2, trunk_w / 2, trunk_h / 2) * c.size),
                bark, TREE)
    cy = tree.base - tree.height * 0.62
    rx, ry = tree.width / 2, tree.height * 0.38
    box = c.box(tree.x - rx * 1.2, tree.x + rx * 1.2, cy - ry * 1.2, cy + ry * 1.2)
    u, v = c.u[box], c.v[box]
    if u.size == 0:
        return
    n_leaves = 48
    ang = rng.uniform(0, 2 * np.pi, n_leaves)
    rad = np.sqrt(rng.uniform(0, 1, n_leaves))
    lx = tree.x + rx * 0.8 * rad * np.cos(ang)
    ly = cy + ry * 0.8 * rad * np.sin(ang)
    lr = rng.uniform(0.18, 0.32, n_leaves) * min(rx, ry)
    order = np.argsort(ly)            # lower leaves drawn last (nearer the viewer)
    lx, ly, lr = lx[order], ly[order], lr[order]
    d = np.sqrt((u[None] - lx[:, None, None]) ** 2 + (v[None] - ly[:, None, None]) ** 2) - lr[:, None, None]
    cover = coverage(d * c.size)                                    # (K, h, w)
    alpha = cover.max(axis=0)
    top = n_leaves - 1 - np.argmax(cover[::-1] > 0.5, axis=0)      # the nearest leaf over each pixel
    lit = np.clip(0.5 + 0.5 * light.azimuth * (lx - tree.x) / rx - 0.35 * (ly - cy) / ry, 0, 1)
    leaf_shade = (0.65 + 0.55 * lit * light.strength + rng.uniform(-0.08, 0.08, n_leaves)).astype(np.float32)
    inner = np.clip((v - ly[top]) / lr[top], -1, 1)                # darker at each leaf's lower edge
    shade = leaf_shade[top] * (1 - 0.18 * inner)
    noise = fractal_noise(rng, *u.shape, base=4, octaves=2)
    color = np.asarray(tree.color, np.float32) * (shade + 0.06 * noise)[..., None]
    c.paint(box, alpha, color, TREE)


def _wall_color(c: Canvas, b: Building, box, rng, u):
    ys, xs = box
    py, px = np.mgrid[ys, xs]
    scale = 512 / (c.size * 0.9)
    if b.wall == "brick":
        tex = sample(photo_texture("brick"), py, px, scale * 0.12, (rng.uniform(0, 512), rng.uniform(0, 512)))
        amount = 0.22
    elif b.wall == "stone":
        tex = sample(photo_texture("gravel"), py, px, scale * 0.08, (rng.uniform(0, 512), rng.uniform(0, 512)))
        amount = 0.18
    else:
        tex = fractal_noise(rng, *u.shape, base=6, octaves=3)
        amount = 0.05
    return _textured(b.wall_color, tex, amount)


def _draw_building(c: Canvas, b: Building, light):
    rng = np.random.default_rng(b.seed)
    hw = b.width / 2
    # Shadow on the ground beside the building, away from the light.
    side = -1 if light.azimuth > 0 else 1
    sx = b.x + side * hw
    sbox = c.box(sx - 0.2, sx + 0.2, b.base - 0.02, b.base + 0.06)
    su, sv = c.u[sbox], c.v[sbox]
    sh = np.maximum(_rect(su, sv, sx + side * 0.06 * abs(light.azimuth), b.base + 0.012,
                          0.06 * abs(light.azimuth) + 0.005, 0.015), -1) * c.size
    _shadow(c, sbox, sh, 0.3 * light.strength)
    # Roof or dome behind the wall top.
    if b.roof == "pitched":
        box = c.box(b.x - hw * 1.1, b.x + hw * 1.1, b.top - b.roof_height, b.top + 0.01)
        u, v = c.u[box], c.v[box]
        slope = b.roof_height / (hw * 1.06)
        sdf = np.maximum((b.top - b.roof_height + np.abs(u - b.x) * slope - v) / np.sqrt(1 + slope**2), v - b.top)
        ys, xs = box
        py, px = np.mgrid[ys, xs]
        tex = sample(photo_texture("brick"), py, px, 512 / c.size * 0.1, (rng.uniform(0, 512), rng.uniform(0, 512)))
        lit = np.where((u - b.x) * light.azimuth > 0, 1.0 + 0.12 * light.strength, 1.0 - 0.12 * light.strength)
        color = _textured(b.roof_color, tex, 0.15) * lit[..., None].astype(np.float32)
        c.paint(box, coverage(sdf * c.size), color, ROOF)
    else:
        _draw_dome(c, b.x, b.top, hw * 0.72, b.roof_height, b.dome_color, light)
    # Wall.
    box = c.box(b.x - hw, b.x + hw, b.top, b.base)
    u, v = c.u[box], c.v[box]
    wall = _wall_color(c, b, box, rng, u)
    wall *= (1 - 0.1 * np.clip((v - b.top) / (b.base - b.top), 0, 1))[..., None]   # darker near the ground
    c.paint(box, coverage(_rect(u, v, b.x, (b.top + b.base) / 2, hw, (b.base - b.top) / 2) * c.size), wall, BUILDING)
    # Eaves line under the roof.
    if b.roof == "pitched":
        ebox = c.box(b.x - hw * 1.08, b.x + hw * 1.08, b.top - 0.01, b.top + 0.01)
        eu, ev = c.u[ebox], c.v[ebox]
        c.paint(ebox, coverage(_rect(eu, ev, b.x, b.top, hw * 1.06, 0.005) * c.size),
                np.asarray(b.roof_color, np.float32) * 0.6, ROOF)
    if b.windows is not None:
        _draw_windows(c, b)
    if b.door is not None:
        _draw_door(c, b)
    if b.tower is not None:
        _draw_tower(c, b, rng, light)


def _draw_dome(c: Canvas, cx, base_y, rx, ry, color, light, label=DOME):
    box = c.box(cx - rx, cx + rx, base_y - ry * 1.35, base_y + 0.005)
    u, v = c.u[box], c.v[box]
    sdf = np.maximum(_ellipse(u, v, cx, base_y, rx, ry), v - base_y)
    lantern = _rect(u, v, cx, base_y - ry - 0.1 * ry, 0.12 * rx, 0.12 * ry)
    sdf = np.minimum(sdf, lantern)
    nx = np.clip((u - cx) / rx, -1, 1)
    ny = np.clip((base_y - v) / ry, 0, 1.3)
    shade = 0.72 + 0.3 * light.strength * nx * light.azimuth + 0.18 * ny
    ribs = 1 - 0.06 * (np.cos(nx * np.pi * 5) > 0.85)
    col = np.asarray(color, np.float32) * (shade * ribs)[..., None]
    c.paint(box, coverage(sdf * c.size), col, label)


def _draw_door(c: Canvas, b: Building):
    d = b.door
    box = c.box(d.x - d.width, d.x + d.width, b.base - d.height - 0.01, b.base)
    u, v = c.u[box], c.v[box]
    frame = _arch(u, v, d.x, b.base, d.width / 2 + 0.006, d.height + 0.006, d.arched)
    c.paint(box, coverage(frame * c.size), np.asarray(b.wall_color, np.float32) * 0.7, BUILDING)
    sdf = _arch(u, v, d.x, b.base, d.width / 2, d.height, d.arched)
    planks = 1 - 0.12 * (np.abs(((u - d.x) / d.width * 4) % 1 - 0.5) < 0.08)
    col = np.asarray(d.color, np.float32) * planks[..., None]
    c.paint(box, coverage(sdf * c.size), col, DOOR)


def window_centres(b: Building) -> list[tuple[float, float]]:
    """(x, bottom y) of each window, avoiding the door."""
    w = b.windows
    hw = b.width / 2
    xs = np.linspace(b.x - hw * 0.7, b.x + hw * 0.7, w.cols) if w.cols > 1 else np.array([b.x])
    door_top = b.base - (b.door.height if b.door else 0) - 0.02
    out = []
    for r in range(w.rows):
        bottom = b.top + 0.03 + w.height + r * (w.height + 0.04)
        if bottom > b.base - 0.03:
            continue
        for x in xs:
            if b.door and abs(x - b.door.x) < (b.door.width + w.width) / 2 + 0.01 and bottom > door_top:
                continue
            out.append((float(x), float(bottom)))
    return out


def _draw_windows(c: Canvas, b: Building):
    w = b.windows
    for x, bottom in window_centres(b):
        box = c.box(x - w.width, x + w.width, bottom - w.height - 0.01, bottom + 0.01)
        u, v = c.u[box], c.v[box]
        frame = _arch(u, v, x, bottom + 0.004, w.width / 2 + 0.004, w.height + 0.008, w.arched)
        c.paint(box, coverage(frame * c.size), w.frame, WINDOW)
        glass = _arch(u, v, x, bottom, w.width / 2, w.height, w.arched)
        reflect = 1 + 0.5 * np.clip(1 - (v - (bottom - w.height)) / w.height, 0, 1)
        c.paint(box, coverage(glass * c.size), np.asarray(w.color, np.float32) * reflect[..., None], WINDOW)


def _draw_tower(c: Canvas, b: Building, rng, light):
    t = b.tower
    hw = t.width / 2
    box = c.box(t.x - hw, t.x + hw, t.top, b.base)
    u, v = c.u[box], c.v[box]
    wall = _wall_color(c, b, box, rng, u) * 0.95
    c.paint(box, coverage(_rect(u, v, t.x, (t.top + b.base) / 2, hw, (b.base - t.top) / 2) * c.size), wall, BUILDING)
    # A belfry opening.
    ob = t.top + 0.07
    obox = c.box(t.x - hw, t.x + hw, t.top, ob + 0.01)
    ou, ov = c.u[obox], c.v[obox]
    c.paint(obox, coverage(_arch(ou, ov, t.x, ob, hw * 0.4, 0.05, True) * c.size), (0.08, 0.08, 0.1), WINDOW)
    if t.cap == "dome":
        _draw_dome(c, t.x, t.top, hw * 1.05, t.width * 0.8, b.dome_color, light)
    else:
        h = t.width * 2.2
        cbox = c.box(t.x - hw * 1.2, t.x + hw * 1.2, t.top - h, t.top + 0.005)
        u, v = c.u[cbox], c.v[cbox]
        slope = h / (hw * 1.15)
        sdf = np.maximum((t.top - h + np.abs(u - t.x) * slope - v) / np.sqrt(1 + slope**2), v - t.top)
        lit = np.where((u - t.x) * light.azimuth > 0, 1.1, 0.85).astype(np.float32)
        c.paint(cbox, coverage(sdf * c.size), np.asarray(b.roof_color, np.float32) * lit[..., None], ROOF)


def _finish(c: Canvas, scene: Scene, rng, blur: bool, noise: bool) -> np.ndarray:
    # Atmospheric haze: things near the horizon fade toward the horizon colour.
    haze = scene.sky.haze * 0.35 * np.exp(-np.abs(c.v - scene.horizon) * 12)
    c.rgb = c.rgb * (1 - haze[..., None]) + np.asarray(scene.sky.horizon, np.float32) * haze[..., None]
    # Colour temperature of the light.
    w = scene.light.warmth
    c.rgb *= np.array([1 + 0.07 * w, 1 + 0.01 * w, 1 - 0.08 * w], np.float32)
    img = c.rgb
    if blur:
        from scipy.ndimage import gaussian_filter

        img = gaussian_filter(img, sigma=(0.45 * c.size / 128, 0.45 * c.size / 128, 0), mode="nearest")
    if noise:
        img = img + rng.normal(0, 0.012, img.shape).astype(np.float32)
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG at ``quality`` (compression artefacts)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def render(scene: Scene, size: int = 128, *, blur: bool = True, noise: bool = True,
           jpeg_quality: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render ``scene`` at ``size`` pixels: (rgb uint8 HxWx3, labels uint8 HxW)."""
    if not isinstance(size, int | np.integer) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels, got {size!r}")
    size = int(size)
    c = Canvas(size)
    rng = np.random.default_rng([scene.seed, 11, size])
    _draw_sky(c, scene, rng)
    for cloud in scene.clouds:
        _draw_cloud(c, cloud, scene.light)
    _draw_ground(c, scene, rng)
    for path in scene.paths:
        _draw_path(c, path)
    for tree in scene.trees:
        _draw_tree_shadow(c, tree, scene.light)
    b = scene.building
    for tree in scene.trees:
        if b is not None and tree.base < b.base:
            _draw_tree(c, tree, scene.light)
    if b is not None:
        _draw_building(c, b, scene.light)
    for tree in scene.trees:
        if b is None or tree.base >= b.base:
            _draw_tree(c, tree, scene.light)
    noise_rng = np.random.default_rng([scene.seed, 13, size])
    rgb = _finish(c, scene, noise_rng, blur, noise)
    if jpeg_quality is not None:
        rgb = jpeg(rgb, jpeg_quality)
    return rgb, c.labels


def _render_seed(args):
    seed, size = args
    return render(sample_scene(seed), size)


def render_batch(seeds, size: int = 128, workers: int | None = None, progress: bool = True):
    """Render many seeds in a process pool: (uint8 N,S,S,3, uint8 N,S,S)."""
    from tqdm import tqdm

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("no seeds to render")
    images = np.empty((len(seeds), size, size, 3), np.uint8)
    labels = np.empty((len(seeds), size, size), np.uint8)
    workers = workers or os.cpu_count() or 1
    jobs = [(s, size) for s in seeds]
    bar = tqdm(total=len(seeds), desc=f"render {size}px", unit="scene", disable=not progress)
    if workers == 1:
        results = map(_render_seed, jobs)
    else:
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_render_seed, jobs, chunksize=32)
    for i, (rgb, lab) in enumerate(results):
        images[i], labels[i] = rgb, lab
        bar.update()
    bar.close()
    if workers != 1:
        pool.shutdown()
    return images, labels
