"""The editor: fit a photo once (inversion + adaptation), then paint semantic edits.

``Editor`` holds one model (G, encoder, segmenter, discriminator, dissection),
loaded once and never changed afterwards; ``Editor.fit(photo)`` returns a
``Session`` for that photo.  A session owns everything that is its own: the
inverted features r, its adapted generator G' (per-session factors handed to
G's forward per call, nothing left on the shared G) and its edit history.
``edit`` and ``copy_appearance`` append an operation on r and render with one
forward pass of G'; each returns a ``Result``.  Operations compose, ``undo``
drops the last one (or the last ``refine``), ``reset`` drops all.  ``fork``
gives a session with the same fit and a history of its own, ``readapt`` one
with the same inversion and another adaptation.  See docs/editor.md.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ganpaint_core.concepts import NAMES
from ganpaint_core.editing import perceptual
from ganpaint_core.editing.adaptation import KINDS, PlainGenerator, fit_adaptation, new_adaptation, solve_last_layer
from ganpaint_core.editing.compose import paste_into_photo
from ganpaint_core.editing.edits import (
    ACTIONS,
    ADD_MODE,
    ADD_MODES,
    Operation,
    appearance_operation,
    apply_all,
    concept_name,
    concept_operation,
    fine_edits,
    paintable,
    units_for,
)
from ganpaint_core.editing.fitting import Progress, ReconstructionLoss
from ganpaint_core.editing.harmonic_fill import one_blas_thread
from ganpaint_core.editing.inversion import initial_z, optimise_features, optimise_z
from ganpaint_core.editing.masks import dilate, feather, to_model_mask
from ganpaint_core.editing.placement import prepare as prepare_templates
from ganpaint_core.editing.removal import (
    Removal,
    generator_trust,
    photo_fill,
    removal_operation,
    render_removed,
)
from ganpaint_core.imaging import to_tensor, to_uint8
from ganpaint_core.metrics import psnr, ssim
from ganpaint_core.photo import Crop, load_photo, square_crop
from ganpaint_core.precision import resolve_device, use_bf16

BF16_MIN_SIZE = 256     # bf16 autocast measured 0.5x per fit step at 256 px, but slower at 128 px (docs/speed.md)
WINDOW_MIN_SIZE = 256   # the windowed re-render of an edit measured 0.67x at 256 px, 1.2x at 128 px (docs/speed.md)


@dataclass(frozen=True)
class FitOptions:
    """Every knob of fitting and rendering; the defaults are the measured choices (docs/editor_study/study.md,
    docs/speed.md)."""

    z_steps: int = 15               # Adam steps on z through the whole generator
    z_lr: float = 0.05
    r_steps: int = 30               # Adam steps on the layer features r
    r_lr: float = 0.05
    r_anchor: float = 0.01          # pull of r towards G's own features (mean squared relative change)
    candidates: int = 16            # random z tried when the model has no encoder
    adapt_steps: int = 10           # Adam steps on the adaptation (then the closed-form last layer: solve_last)
    adapt_lr: float = 0.1           # activations (the research code's 0.1)
    solve_last: bool = True         # then solve the last adapted layer's delta in closed form (docs/speed.md)
    weights_lr: float = 0.01        # the weight-adaptation ablation
    lam: float = 0.1                # regulariser weight (0 when fit(regularize=False))
    plateau_patience: int = 0       # >0: a stage stops after this many steps without a plateau_gain improvement
    plateau_gain: float = 1e-3      # relative improvement of the stage's loss that counts (docs/speed.md)
    perceptual: str = "auto"        # backend of the perceptual term, see ganpaint_core.editing.perceptual
    perceptual_weight: float = 0.1  # weight of the perceptual term (chosen by measurement: docs/editor.md)
    bf16: bool | str = "auto"       # bf16 autocast in the optimisation steps: auto = where the device computes
                                    # bf16 natively and the model is >= 256 px (measured faster there only:
                                    # docs/speed.md); the closed-form solve and every render stay fp32
    paste_back: bool = True         # edits: paste the photo back beyond the feathered, dilated edit mask
    paste_radius: int = 2           # pixels the edit mask grows before feathering
    paste_sigma: float = 1.0
    paste_blend: str = "multiband"  # multiband (Laplacian pyramid) or alpha: docs/eval/summary.md measures both
    window_render: bool | str = "auto"  # an edit re-renders only the part of G''s output it changes (to float
                                    # rounding the full render: networks/window_render.py); auto: on models of
                                    # >= 256 px (0.67x a render there, slower at 128 px: docs/speed.md)
    clear_perturbations: bool = True    # zero the adaptation inside the dilated edit mask at edit time
    clear_radius: int = 4
    refine_steps: int = 30          # Session.refine's default warm-started re-fit length
    refine_radius: int = 8          # the keep-mask of refine: the edit mask grown and blurred
    refine_sigma: float = 4.0
    remove: str = "fill"            # remove: fill (continue the surroundings, ganpaint_core.editing.removal) or units
    add_mode: str = ADD_MODE        # exemplar | levels | units: how add sets the features (edits.ADD_MODES)
    fine_edit: bool = True          # exemplar adds also set the concept's levels at the dissection's finer layer
    seed: int = 0

    def __post_init__(self):
        if self.add_mode not in ADD_MODES:
            raise ValueError(f"unknown add mode {self.add_mode!r}; choose from {', '.join(ADD_MODES)}")


@dataclass(frozen=True)
class Result:
    """One rendered state of a session."""

    image: np.ndarray       # uint8 SxSx3 at the model's size (paste-back as the session's options say)
    region: np.ndarray      # bool SxS: the union of the painted masks of the edits shown
    edits: int              # how many edits are applied


@dataclass
class _State:
    operations: tuple[Operation, ...]
    adapted: PlainGenerator
    cleared: int = 0                # operations[:cleared] are already handled by a refined adaptation
    images: dict = field(default_factory=dict)      # this state's renders, by render settings (undo is free)


class Session:
    """One fitted photo: its features r, G and G', and a stack of edit states."""

    clock = staticmethod(time.perf_counter)     # what ``stage_seconds`` reads (a bench may read CPU time)

    def __init__(self, editor: Editor, photo: np.ndarray, crop: Crop, original: np.ndarray, z: torch.Tensor,
                 r: torch.Tensor, adapted: PlainGenerator, options: FitOptions, loss: ReconstructionLoss,
                 fit_seconds: float, timings: dict):
        self.editor, self.photo, self.crop, self.original = editor, photo, crop, original
        self.z, self.r, self.options, self.loss = z, r, options, loss
        self.fit_seconds, self.timings = fit_seconds, timings
        self.adapt = adapted.kind
        self._plain = PlainGenerator(editor.generator, editor.layer)
        self._states = [_State((), adapted)]
        self._bases: dict = {}          # id(generator) -> (generator, its recorded render of r: window_render)
        self.stage_seconds: dict = {}   # the last edit's (or render's) time per stage: operation, render, fill, paste
        self._cache_labels: dict = {}

    # ---- state -------------------------------------------------------------------------------------------
    @property
    def operations(self) -> tuple[Operation, ...]:
        return self._states[-1].operations

    @property
    def adapted(self) -> PlainGenerator:
        return self._states[-1].adapted

    def _push(self, state: _State) -> None:
        self._states.append(state)

    def undo(self) -> Result:
        """Drop the last edit (or refine); with nothing to undo, nothing changes.  The current state."""
        if len(self._states) > 1:
            self._states.pop()
        return self.result()

    def reset(self) -> Result:
        """Drop every edit; the reconstruction."""
        del self._states[1:]
        return self.result()

    def fork(self, **options) -> Session:
        """A session sharing this one's fit (read-only) with an edit history of its own, starting unedited.

        ``options`` replace render/edit options of the fork only (e.g. ``clear_perturbations=False``).
        """
        twin = copy.copy(self)
        twin.options = replace(self.options, **options)
        twin._states = list(self._states[:1])
        twin._bases = dict(self._bases)
        twin.stage_seconds = {}
        twin._cache_labels = dict(self._cache_labels)
        return twin

    def readapt(self, adapt: str = "activations", regularize: bool = True) -> Session:
        """A session on the same photo and inverted features with its own adaptation fitted (for ablations).

        ``fit_seconds`` counts the shared inversion too, so it reads as the cost of a whole fit.
        """
        o = self.options if regularize else replace(self.options, lam=0.0)
        start = time.perf_counter()
        adapted = new_adaptation(adapt, self.editor.generator, self.editor.layer, self.r)
        lr = o.weights_lr if adapt == "weights" else o.adapt_lr
        fit_adaptation(adapted, self.r, self.loss, o.adapt_steps, lr, o.lam, None, self.editor.bf16(o))
        _solve(adapted, self.r, self.loss.x, o)
        timings = {**self.timings, "adapt_seconds": time.perf_counter() - start}
        seconds = timings.get("z_seconds", 0.0) + timings.get("r_seconds", 0.0) + timings["adapt_seconds"]
        return Session(self.editor, self.photo, self.crop, self.original, self.z, self.r, adapted, o, self.loss,
                       seconds, timings)

    # ---- masks ---------------------------------------------------------------------------------------------
    def mask(self, mask) -> np.ndarray:
        """A mask at the model's size (from the model's or the original photo's size); ValueError if unusable."""
        return to_model_mask(mask, self.editor.size, self.crop)

    def edited_region(self, since: int = 0) -> np.ndarray:
        """The union of the painted masks of the operations from ``since`` on (bool SxS)."""
        region = np.zeros((self.editor.size,) * 2, dtype=bool)
        for op in self.operations[since:]:
            region |= op.mask
        return region

    # ---- rendering ---------------------------------------------------------------------------------------
    def features(self) -> torch.Tensor:
        """The edited layer features r' (all operations applied)."""
        return apply_all(self.r, list(self.operations))

    def _base(self, generator: PlainGenerator):
        """``generator``'s recorded render of the unedited r (``window_render.Activations``; None where it
        renders in full), made once per generator: an edit then re-renders only the part it changes."""
        entry = self._bases.get(id(generator))
        if entry is None or entry[0] is not generator:
            with torch.inference_mode():
                entry = (generator, generator.record(self.r))
            keep = {id(self._states[0].adapted), id(self._states[-1].adapted), id(self._plain)}
            self._bases = {k: v for k, v in self._bases.items() if k in keep}     # a refined G' replaces the last
            self._bases[id(generator)] = entry
        return entry[1]

    def windowed(self) -> bool:
        """Whether edits re-render only what they change (``FitOptions.window_render``)."""
        flag = self.options.window_render
        if flag not in (True, False, "auto", "true", "false"):
            raise ValueError(f"window_render is auto, true or false, not {flag!r}")
        return self.editor.size >= WINDOW_MIN_SIZE if flag == "auto" else flag in (True, "true")

    def _render_tensor(self, adapted: bool, clear: bool) -> torch.Tensor:
        state = self._states[-1]
        generator = state.adapted if adapted else self._plain
        ops = state.operations
        removals = [(op, self._hole(i)) for i, op in enumerate(ops) if isinstance(op, Removal)]
        region = None
        if adapted and clear and len(ops) > state.cleared:
            region = np.zeros((self.editor.size,) * 2, dtype=bool)
            for op in ops[state.cleared:]:
                if not isinstance(op, Removal):
                    region |= op.mask
            region = dilate(region, self.options.clear_radius) if region.any() else None
        with torch.inference_mode():
            fine, features = fine_edits(ops), self.features()
            base = self._base(generator)

            windowed = base is not None and self.windowed()
            changed = np.zeros((self.editor.size,) * 2, dtype=bool)
            for op in ops:
                if op.fine is not None:
                    changed |= op.fine.mask

            def edited():       # only the part that the edits change is re-rendered (window_render)
                if not windowed:
                    return generator.render(features, region, fine)
                return generator.render(features, region, fine, base=base, changed=changed)

            if not removals:
                return edited()
            filled = render_removed(generator, features, self.editor.layer, removals, region,
                                    fill_deltas=adapted and clear, edit=fine, base=base if windowed else None,
                                    changed=changed, recorded=base)
            keep = np.zeros((self.editor.size,) * 2, dtype=bool)
            for op, _ in removals:
                keep |= op.keep if op.keep is not None else False
            if not keep.any():
                return filled
            # what stands in front of a removed object stays: the render without the fill, re-rendered only
            # where the other edits change it (window_render, to float rounding; none for removals alone)
            out = edited() if base is None else generator.render(features, region, fine, base=base, changed=changed)
            return torch.where(torch.from_numpy(keep).to(out.device), out, filled)

    def _hole(self, index: int, region: np.ndarray | None = None) -> np.ndarray:
        """The hole of the removal at ``index`` (or its ``region``), less what later edits painted (they draw
        there)."""
        hole = (self.operations[index].hole if region is None else region).copy()
        for op in self.operations[index + 1:]:
            if not isinstance(op, Removal):
                hole &= ~op.mask
        return hole

    def photo_labels(self) -> np.ndarray | None:
        """The segmenter's labels of the photo (cached); None without a segmenter, or on a photo the generator
        does not draw in full (``generator_trust`` below 1: outside the model's world, where they mean little)."""
        if "labels" not in self._cache_labels:
            seg = self.editor.segmenter
            ok = seg is not None and self.generator_trust() >= 1.0
            self._cache_labels["labels"] = self.editor.segment(self.photo) if ok else None
        return self._cache_labels["labels"]

    def generator_trust(self) -> float:
        """How far a removal trusts the generator's render here, from plain G's inversion PSNR (cached)."""
        if "trust" not in self._cache_labels:
            self._cache_labels["trust"] = generator_trust(psnr(self.inversion(), self.photo))
        return self._cache_labels["trust"]

    def render(self, adapted: bool = True, paste_back: bool = False, clear: bool | None = None) -> np.ndarray:
        """uint8 SxSx3: the edited features rendered by G' (or by G).

        ``paste_back`` keeps the photo beyond the feathered, dilated edit region (``paste_into_photo``);
        ``clear`` zeroes G''s perturbations inside the edit for this call (None: the session's option).
        """
        clear = self.options.clear_perturbations if clear is None else clear
        state, key = self._states[-1], (adapted, paste_back, clear, self.options)
        if key in state.images:
            return state.images[key].copy()
        t = self.clock()
        img = to_uint8(self._render_tensor(adapted, clear))[0]
        times = {"render": self.clock() - t}
        removals = [(op, self._hole(i)) for i, op in enumerate(self.operations) if isinstance(op, Removal)]
        if adapted and removals:     # where the generator cannot draw the photo, its surroundings fill the hole
            t = self.clock()
            hole = np.any([h for _, h in removals], axis=0)
            keep = np.any([op.keep if op.keep is not None else np.zeros_like(h) for op, h in removals], axis=0)
            img = photo_fill(self.photo, img, hole, self.generator_trust(), keep=keep)
            for i, op in enumerate(self.operations):      # the removals' own pixel passes (``Removal.finish``)
                if isinstance(op, Removal):
                    img = op.finish(img, self.photo, lambda region=None, i=i: self._hole(i, region), list(NAMES))
            times["fill"] = self.clock() - t
        if paste_back and self.operations:
            state.images[(adapted, False, clear, self.options)] = img     # to_photo pastes this one (the demo)
            t = self.clock()
            img = self._paste(self.photo, Crop.centred(self.editor.size, self.editor.size, self.editor.size), img)
            times["paste"] = self.clock() - t
        self.stage_seconds.update(times)
        state.images[key] = img
        return img.copy()

    def _paste(self, photo: np.ndarray, crop: Crop, image: np.ndarray) -> np.ndarray:
        """The render pasted into ``photo`` over the edited region; an object that asks for its own multiband
        levels (``Operation.paste_levels``: an added tree) is pasted again over its own region with them."""
        o = self.options
        own: dict[int | None, np.ndarray] = {}
        for op in self.operations:
            levels = getattr(op, "paste_levels", None)
            own[levels] = own.get(levels, False) | op.mask
        if len(own) == 1:                      # one kind of paste for every edit (the usual case): one pass
            return paste_into_photo(photo, crop, image, self.edited_region(), o.paste_radius, o.paste_sigma,
                                    o.paste_blend, next(iter(own)))
        out = paste_into_photo(photo, crop, image, self.edited_region(), o.paste_radius, o.paste_sigma, o.paste_blend)
        for levels, region in own.items():
            if levels is not None:
                out = paste_into_photo(out, crop, image, region, o.paste_radius, o.paste_sigma, o.paste_blend, levels)
        return out

    def result(self) -> Result:
        """The current state: the render as the session's options say, the edited region, the edit count."""
        return Result(self.render(paste_back=self.options.paste_back), self.edited_region(), len(self.operations))

    def to_photo(self) -> np.ndarray:
        """The current state at the original photo's own size: only the feathered, dilated edit region changes."""
        if not self.operations:
            return self.original.copy()
        return self._paste(self.original, self.crop, self.render(paste_back=False))

    def inversion(self) -> np.ndarray:
        """uint8 SxSx3: plain G(r), no adaptation, no edits."""
        with torch.inference_mode():
            return to_uint8(self._plain.render(self.r))[0]

    def reconstruction(self) -> np.ndarray:
        """uint8 SxSx3: G'(r), the adapted reconstruction, no edits."""
        base = self._base(self._states[0].adapted)
        if base is not None:
            return to_uint8(base.image)[0]
        with torch.inference_mode():
            return to_uint8(self._states[0].adapted.render(self.r))[0]

    def quality(self) -> dict:
        """PSNR/SSIM of the inversion G(r) and of the reconstruction G'(r) against the photo."""
        inv, rec = self.inversion(), self.reconstruction()
        return {"inversion_psnr": psnr(inv, self.photo), "inversion_ssim": ssim(inv, self.photo),
                "reconstruction_psnr": psnr(rec, self.photo), "reconstruction_ssim": ssim(rec, self.photo)}

    # ---- edits ---------------------------------------------------------------------------------------------
    def edit(self, mask, concept: str, action: str, strength: str | float = "medium") -> Result:
        """Add or remove ``concept`` inside ``mask`` (model- or photo-sized); the edited state.

        An add places the object in the mask (``FitOptions.add_mode``, see ``edits.concept_operation``); the
        edited region is then the object's, inside the painted mask.  A remove continues the surroundings into
        the object's place (``FitOptions.remove``, see ``removal``).  ``stage_seconds`` then holds its
        time per stage: labels (the segmenter's labels of the photo, on a session's first edit that needs them),
        operation (the placement or the removal's hole), render, fill, paste."""
        with one_blas_thread():     # the fills' small solves, entered once per edit (docs/speed.md)
            start, painted = self.clock(), self.mask(mask)
            fill = action == "remove" and self.options.remove == "fill"
            labels = self.photo_labels() if fill or self._places(action) else None
            labelled = self.clock()
            if fill:
                op = removal_operation(painted, concept, strength, labels, list(NAMES), self.editor.dissection,
                                       lambda m, c: self._concept_op(m, c, "add", strength))
            else:
                op = self._concept_op(painted, concept, action, strength)
            return self._apply(op, self.clock() - labelled, labelled - start)

    def _places(self, action: str) -> bool:
        """Whether this action places one of the generator's own instances (it then reads the photo's labels)."""
        return action == "add" and self.options.add_mode == "exemplar" and bool(self.editor.exemplars)

    def _concept_op(self, mask: np.ndarray, concept: str, action: str, strength) -> Operation:
        labels = self.photo_labels() if self._places(action) else None
        return concept_operation(self.features(), self.editor.dissection, mask, concept, action, strength,
                                 add_mode=self.options.add_mode, exemplars=self.editor.exemplars,
                                 photo_labels=labels, names=NAMES, fine=self.options.fine_edit)

    def copy_appearance(self, target_mask, reference_mask) -> Result:
        """The target region takes the feature means of the reference region; the edited state."""
        target = self.mask(target_mask)
        try:
            reference = self.mask(reference_mask)
        except ValueError as err:
            raise ValueError(f"reference mask: {err}") from err
        start = self.clock()
        return self._apply(appearance_operation(self.features(), target, reference), self.clock() - start)

    def _apply(self, op: Operation, operation_seconds: float = 0.0, labels_seconds: float = 0.0) -> Result:
        state = self._states[-1]
        self._push(_State((*state.operations, op), state.adapted, state.cleared))
        self.stage_seconds = {"labels": labels_seconds, "operation": operation_seconds}
        return self.result()

    def refine(self, steps: int | None = None, progress: Progress = None) -> Result:
        """Re-fit G' for a few warm-started steps on the photo outside the edited region; the edited picture.

        Costs ``steps`` adaptation steps; undo drops it like an edit.  Without edits, or for the
        unadapted ablation, nothing changes.
        """
        state, o = self._states[-1], self.options
        if not state.operations or state.adapted.kind == "none":
            return self.result()
        adapted = state.adapted.clone()
        region = self.edited_region()
        if getattr(adapted, "deltas", None) is not None and o.clear_perturbations:
            factors = adapted.factors(dilate(region, o.clear_radius))
            adapted.deltas = {k: (f - 1).detach() for k, f in factors.items()}
        keep = torch.from_numpy(1 - feather(region, o.refine_radius, o.refine_sigma))[None, None]
        keep = keep.to(self.editor.device)
        lr = o.weights_lr if adapted.kind == "weights" else o.adapt_lr
        with torch.no_grad():
            r = self.features()
        fit_adaptation(adapted, r, self.loss, o.refine_steps if steps is None else steps, lr * 0.5,
                       o.lam if self.options.lam else 0.0, keep, self.editor.bf16(o), progress, label="refining G'")
        self._push(_State(state.operations, adapted, len(state.operations)))
        return self.result()


class Editor:
    """One model, loaded once: G, encoder, segmenter, discriminator and the dissection of ``layer``.

    ``device``: auto (cuda where available) | cpu | cuda[:N]; the networks move there once, here.
    ``channels_last`` (None: on a CPU) stores them in channels-last memory format, which oneDNN's CPU
    convolutions run faster in (docs/speed.md).
    """

    def __init__(self, generator, segmenter=None, encoder=None, discriminator=None, dissection: dict | None = None,
                 layer: str = "layer4", name: str = "custom", options: FitOptions | None = None,
                 device: str | torch.device = "cpu", channels_last: bool | None = None,
                 exemplars: dict | None = None):
        self.device = resolve_device(str(device))
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format

        def place(net):
            return net.to(self.device, memory_format=self.memory_format).eval().requires_grad_(False) \
                if net is not None else None

        self.generator = place(generator)
        if hasattr(self.generator, "fold_scales"):
            self.generator.fold_scales()        # one conv-with-bias per block: same outputs, faster (docs/speed.md)
        self.segmenter, self.encoder, self.discriminator = place(segmenter), place(encoder), place(discriminator)
        self.dissection = dissection
        self.exemplars = exemplars      # the generator's instance shapes per concept (dissection.exemplars)
        prepare_templates(exemplars, self.size)     # the placement's coarse kernels, made once here (docs/speed.md)
        self.layer = dissection.get("layer", layer) if dissection else layer
        if self.layer not in generator.layer_names:
            raise ValueError(f"edit layer {self.layer!r} is not a layer of the generator")
        self.name = name
        self.options = options or FitOptions()

    @classmethod
    def from_bundle(cls, bundle, options: FitOptions | None = None, device: str | torch.device = "cpu",
                    channels_last: bool | None = None) -> Editor:
        return cls(bundle.generator, bundle.segmenter, bundle.encoder, bundle.discriminator, bundle.dissection,
                   bundle.layer, bundle.name, options, device, channels_last, bundle.exemplars)

    @classmethod
    def from_pretrained(cls, name_or_path="default", options: FitOptions | None = None,
                        device: str | torch.device = "cpu", channels_last: bool | None = None) -> Editor:
        """``default`` (the shipped model), a registered name, a model folder, a checkpoint file or a URL."""
        from ganpaint_core.models import load_model

        resolve_device(str(device))     # a device that is not there fails before anything loads
        return cls.from_bundle(load_model(name_or_path), options, device, channels_last)

    @property
    def size(self) -> int:
        return self.generator.resolution

    @property
    def concepts(self) -> list[str]:
        return paintable(self.dissection)

    def check_request(self, concept: str, action: str, strength: str | float = "medium") -> str:
        """The model's name for ``concept``; ValueError for an edit it cannot do, before any fit is spent on it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
        units_for(strength, self.dissection)
        return concept_name(self.dissection, concept)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Concept labels (uint8 SxS) of a uint8 SxSx3 picture."""
        if self.segmenter is None:
            raise ValueError("this model has no segmenter")
        return self.segmenter.predict(np.asarray(image, dtype=np.uint8))

    def bf16(self, options: FitOptions | None = None) -> bool:
        """Whether the fit's optimisation steps run under bf16 autocast (``FitOptions.bf16``: auto/true/false)."""
        flag = (options or self.options).bf16
        if isinstance(flag, str) and flag not in ("auto", "true", "false"):
            raise ValueError(f"bf16 is auto, true or false, not {flag!r}")
        if flag == "auto":
            return use_bf16("auto", self.device) and (self.device.type == "cuda" or self.size >= BF16_MIN_SIZE)
        return flag in (True, "true")

    def fit(self, photo, adapt: str = "activations", regularize: bool = True, progress: Progress = None,
            **overrides) -> Session:
        """Invert and adapt to ``photo`` (path, bytes, PIL image or uint8 array); a ``Session``.

        ``adapt``: activations (the paper) | weights (ablation) | none (plain G).  ``regularize=False``
        drops the regulariser.  ``overrides`` replace ``FitOptions`` fields for this fit (e.g. steps).
        """
        if adapt not in KINDS:
            raise ValueError(f"unknown adaptation {adapt!r}; choose from {', '.join(KINDS)}")
        o = replace(self.options, **overrides)
        if not regularize:
            o = replace(o, lam=0.0)
        start = time.perf_counter()
        original = load_photo(photo)
        image, crop = square_crop(original, self.size)
        x = to_tensor(image).to(self.device).contiguous(memory_format=self.memory_format)
        report = progress or (lambda f, m: None)
        timings: dict = {}
        steps = {"z": o.z_steps, "r": o.r_steps,
                 "adapt": o.adapt_steps if adapt != "none" else 0}
        total = max(1, sum(steps.values()))
        spans, at = {}, 0.0
        for key, n in steps.items():
            spans[key] = (at, at + n / total)
            at += n / total
        loss = ReconstructionLoss(x, perceptual.build(o.perceptual, x, self.segmenter, self.discriminator),
                                  o.perceptual_weight)
        g, layer = self.generator, self.layer
        t = time.perf_counter()
        z0 = initial_z(g, x, self.encoder, o.candidates, o.seed)
        bf16 = self.bf16(o)
        taken: list[int] = []
        stop = {"patience": o.plateau_patience, "min_gain": o.plateau_gain, "taken": taken}
        z = optimise_z(g, z0, loss, o.z_steps, o.z_lr, bf16, report, spans["z"], **stop)
        timings["z_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            r0 = g.features(z, layer)
        r = optimise_features(g, layer, r0, loss, o.r_steps, o.r_lr, o.r_anchor, bf16, report, spans["r"],
                              **stop)
        timings["r_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        adapted = new_adaptation(adapt, g, layer, r)
        lr = o.weights_lr if adapt == "weights" else o.adapt_lr
        fit_adaptation(adapted, r, loss, steps["adapt"], lr, o.lam, None, bf16, report, spans["adapt"], **stop)
        _solve(adapted, r, x, o)
        timings["adapt_seconds"] = time.perf_counter() - t
        timings["perceptual"] = loss.perceptual.kind
        timings["steps_taken"] = taken      # per stage that ran (fewer than asked where a plateau stopped it)
        t = time.perf_counter()
        session = Session(self, image, crop, original, z, r, adapted, o, loss, 0.0, timings)
        session._base(adapted)          # G'(r) with every block's output kept: edits re-render only what they change
        timings["record_seconds"] = time.perf_counter() - t
        session.fit_seconds = time.perf_counter() - start
        report(1.0, "fitted")
        return session


def _solve(adapted: PlainGenerator, r: torch.Tensor, x: torch.Tensor, o: FitOptions) -> None:
    """The closed-form last-layer delta of the activation adaptation, where the options ask for it."""
    if o.solve_last and adapted.kind == "activations":
        solve_last_layer(adapted, r, x)


__all__ = ["Editor", "FitOptions", "Result", "Session"]
