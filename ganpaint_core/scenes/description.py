"""Scene descriptions: a small dataclass tree sampled deterministically from a seed.

All geometry is in normalised image coordinates (x to the right, y down, both
in [0, 1]) so one description renders at any size.  Every object carries its
own ``seed`` for textures and leaves, so removing one object leaves every other
pixel of the render unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RGB = tuple[float, float, float]


@dataclass
class Light:
    azimuth: float          # -1 (from the left) … 1 (from the right)
    warmth: float           # colour temperature shift, -1 (cool) … 1 (warm)
    strength: float         # shadow/shading contrast, 0..1


@dataclass
class Sky:
    zenith: RGB
    horizon: RGB
    haze: float             # 0..1


@dataclass
class Cloud:
    x: float
    y: float
    width: float
    height: float
    puffs: int
    brightness: float
    seed: int


@dataclass
class Path:
    """A dirt/road/paving area on the ground (label ``ground``)."""
    kind: str               # "road" (a path to the door), "plaza" (a band before the building) or "field"
    x: float
    width_near: float
    width_far: float
    y_far: float
    color: RGB
    seed: int


@dataclass
class Door:
    x: float                # centre
    width: float
    height: float
    arched: bool
    color: RGB


@dataclass
class Windows:
    rows: int
    cols: int
    width: float
    height: float
    arched: bool
    color: RGB
    frame: RGB


@dataclass
class Tower:
    x: float                # centre
    width: float
    top: float              # y of the tower's wall top
    cap: str                # "spire" (pointed roof) or "dome"


@dataclass
class Building:
    x: float                # centre
    width: float
    base: float             # y of the ground line
    top: float              # y of the wall top (eaves)
    wall: str               # "brick", "stone" or "plaster"
    wall_color: RGB
    roof: str               # "pitched" or "dome"
    roof_height: float
    roof_color: RGB
    dome_color: RGB
    door: Door | None
    windows: Windows | None
    tower: Tower | None
    seed: int


@dataclass
class Tree:
    x: float                # trunk centre
    base: float             # y where the trunk meets the ground
    height: float           # total height
    width: float            # crown width
    color: RGB
    seed: int


@dataclass
class Scene:
    seed: int
    horizon: float
    light: Light
    sky: Sky
    grass_color: RGB
    clouds: list[Cloud] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    building: Building | None = None
    trees: list[Tree] = field(default_factory=list)


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _jitter(rng, color, amount=0.08) -> RGB:
    c = np.clip(np.array(color) * (1 + rng.uniform(-amount, amount, 3)), 0, 1)
    return tuple(float(v) for v in c)


WALL_COLORS = {
    "brick": [(0.62, 0.32, 0.24), (0.70, 0.45, 0.30), (0.78, 0.62, 0.42), (0.55, 0.30, 0.25)],
    "stone": [(0.62, 0.60, 0.56), (0.72, 0.68, 0.60), (0.55, 0.55, 0.55), (0.76, 0.70, 0.55)],
    "plaster": [(0.90, 0.86, 0.78), (0.93, 0.90, 0.84), (0.88, 0.78, 0.58), (0.80, 0.82, 0.84), (0.90, 0.75, 0.70)],
}
ROOF_COLORS = [(0.55, 0.20, 0.15), (0.35, 0.33, 0.35), (0.45, 0.27, 0.18), (0.25, 0.27, 0.32), (0.62, 0.30, 0.18)]
DOME_COLORS = [(0.35, 0.55, 0.50), (0.30, 0.38, 0.58), (0.78, 0.62, 0.30), (0.30, 0.30, 0.35), (0.55, 0.58, 0.62)]
DOOR_COLORS = [(0.32, 0.18, 0.10), (0.22, 0.14, 0.10), (0.40, 0.12, 0.10), (0.18, 0.22, 0.28)]
GROUND_COLORS = {"road": [(0.45, 0.43, 0.40), (0.55, 0.50, 0.44)],
                 "plaza": [(0.62, 0.58, 0.52), (0.55, 0.52, 0.50)],
                 "field": [(0.50, 0.38, 0.26), (0.58, 0.46, 0.32)]}


def sample_building(rng, horizon: float) -> Building:
    x = rng.uniform(0.35, 0.65)
    width = rng.uniform(0.36, 0.58)
    base = horizon + rng.uniform(0.04, 0.10)
    top = base - rng.uniform(0.22, 0.34)
    wall = _pick(rng, ["brick", "stone", "plaster"])
    roof = "dome" if rng.random() < 0.4 else "pitched"
    roof_height = rng.uniform(0.10, 0.18) if roof == "pitched" else rng.uniform(0.12, 0.2)
    door_h = rng.uniform(0.12, 0.17)
    door = Door(x=x + rng.uniform(-0.08, 0.08) * width, width=min(rng.uniform(0.08, 0.11), 0.4 * width),
                height=min(door_h, 0.6 * (base - top)), arched=bool(rng.random() < 0.6),
                color=_jitter(rng, _pick(rng, DOOR_COLORS)))
    windows = None
    if rng.random() < 0.9:
        glass = _pick(rng, [(0.12, 0.15, 0.22), (0.18, 0.22, 0.30), (0.10, 0.10, 0.12)])
        windows = Windows(rows=int(rng.integers(1, 3)), cols=int(rng.integers(2, 5)),
                          width=rng.uniform(0.04, 0.06), height=rng.uniform(0.06, 0.09),
                          arched=bool(rng.random() < 0.5), color=glass,
                          frame=_jitter(rng, (0.85, 0.82, 0.76)))
    tower = None
    if rng.random() < 0.45:
        side = _pick(rng, [-1, 1])
        t_w = rng.uniform(0.08, 0.13)
        tower = Tower(x=x + side * (width / 2 - t_w / 2 + rng.uniform(0.0, 0.04)), width=t_w,
                      top=top - rng.uniform(0.10, 0.22), cap=_pick(rng, ["spire", "spire", "dome"]))
    return Building(x=x, width=width, base=base, top=top, wall=wall,
                    wall_color=_jitter(rng, _pick(rng, WALL_COLORS[wall])), roof=roof, roof_height=roof_height,
                    roof_color=_jitter(rng, _pick(rng, ROOF_COLORS)), dome_color=_jitter(rng, _pick(rng, DOME_COLORS)),
                    door=door, windows=windows, tower=tower, seed=int(rng.integers(2**31)))


def sample_tree(rng, horizon: float, building: Building | None, front: bool = False) -> Tree:
    if front or building is None:
        x = rng.uniform(0.02, 0.98)
    else:  # beside the building, mostly
        left, right = building.x - building.width / 2, building.x + building.width / 2
        x = _pick(rng, [rng.uniform(0.0, max(0.02, left)), rng.uniform(min(0.98, right), 1.0)])
    base = horizon + rng.uniform(0.06, 0.16) if not front else rng.uniform(horizon + 0.18, 0.98)
    scale = 0.6 + 1.2 * (base - horizon)
    height = rng.uniform(0.28, 0.45) * scale
    green = _pick(rng, [(0.20, 0.38, 0.14), (0.28, 0.45, 0.18), (0.16, 0.30, 0.12), (0.34, 0.46, 0.20)])
    return Tree(x=x, base=base, height=height, width=height * rng.uniform(0.55, 0.85),
                color=_jitter(rng, green, 0.12), seed=int(rng.integers(2**31)))


def sample_cloud(rng, horizon: float) -> Cloud:
    return Cloud(x=rng.uniform(-0.05, 1.05), y=rng.uniform(0.05, horizon * 0.55), width=rng.uniform(0.18, 0.38),
                 height=rng.uniform(0.07, 0.12), puffs=int(rng.integers(5, 10)), brightness=rng.uniform(0.85, 1.0),
                 seed=int(rng.integers(2**31)))


def sample_scene(seed: int) -> Scene:
    """A random scene; the same seed always gives the same scene."""
    rng = np.random.default_rng([int(seed), 7])
    horizon = rng.uniform(0.55, 0.68)
    light = Light(azimuth=rng.uniform(-1, 1), warmth=rng.uniform(-0.6, 0.8), strength=rng.uniform(0.4, 1.0))
    zenith = _jitter(rng, _pick(rng, [(0.30, 0.52, 0.85), (0.40, 0.60, 0.88), (0.25, 0.45, 0.78)]), 0.1)
    horizon_c = _jitter(rng, _pick(rng, [(0.75, 0.85, 0.95), (0.85, 0.88, 0.90), (0.92, 0.85, 0.75)]), 0.05)
    sky = Sky(zenith=zenith, horizon=horizon_c, haze=rng.uniform(0.1, 0.5))
    grass = _jitter(rng, _pick(rng, [(0.33, 0.50, 0.20), (0.40, 0.55, 0.22), (0.45, 0.52, 0.25)]), 0.1)
    scene = Scene(seed=int(seed), horizon=horizon, light=light, sky=sky, grass_color=grass)
    n_clouds = int(rng.choice([0, 1, 2, 3, 4], p=[.35, .2, .2, .15, .1]))
    scene.clouds = [sample_cloud(rng, horizon) for _ in range(n_clouds)]
    scene.building = sample_building(rng, horizon) if rng.random() < 0.95 else None
    if rng.random() < 0.65:
        kind = _pick(rng, ["road", "plaza", "field"])
        bx = scene.building.x if scene.building else rng.uniform(0.3, 0.7)
        door_x = scene.building.door.x if scene.building and scene.building.door else bx
        scene.paths.append(Path(kind=kind, x=door_x if kind == "road" else bx, width_near=rng.uniform(0.2, 0.5),
                                width_far=rng.uniform(0.06, 0.12) if kind == "road" else rng.uniform(0.4, 0.8),
                                y_far=(scene.building.base if scene.building else horizon) - 0.005,
                                color=_jitter(rng, _pick(rng, GROUND_COLORS[kind])), seed=int(rng.integers(2**31))))
    n_back = int(rng.choice([0, 1, 2, 3, 4, 5], p=[.08, .17, .25, .25, .15, .1]))
    n_front = int(rng.choice([0, 1, 2], p=[.55, .3, .15]))
    trees = [sample_tree(rng, horizon, scene.building) for _ in range(n_back)]
    trees += [sample_tree(rng, horizon, scene.building, front=True) for _ in range(n_front)]
    scene.trees = sorted(trees, key=lambda t: t.base)
    return scene
