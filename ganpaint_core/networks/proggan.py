"""The Progressive-GAN generator in the GAN-dissection layout.

``ProgressiveGenerator`` is an ``nn.Sequential`` of blocks ``layer1 … layerN``
and ``output_RxR``; its ``state_dict`` keys and shapes are those of the public
GAN-dissection checkpoints (``layerN.conv.weight``, ``layerN.wscale.b``), so a
256 px LSUN checkpoint loads into it unchanged.  ``sizes`` lists the widths:
``[z_dim, width at 4x4, width at 8x8, …]``; the output is ``4 * 2**(len(sizes)-2)``
pixels square.  Each block: pixel-norm -> (nearest x2 upsample) -> conv ->
``x * scale + b`` (equalised learning rate) -> LeakyReLU(0.2).

``fold_scales()`` (the editor calls it once, at load) folds each block's scale and bias into
its convolution: one conv-with-bias instead of conv, multiply and add, the same outputs to float
rounding (tests/test_fit_speed.py), about a fifth less time per fit step (docs/speed.md); an
upsampling block's nearest upsample and 3x3 conv then run as four 2x2 convs on the unsampled input
(``GenBlock.upconvolve``: 4/9 of the multiplications, tests/test_window_render.py).  The
folded copies are non-persistent buffers, so ``state_dict`` keeps the checkpoint layout, and a
block whose weights require grad (training, the weight-adaptation ablation) runs unfolded.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit root-mean-square."""

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class WScale(nn.Module):
    """Equalised learning rate: scale a bias-free conv's output, then add a bias."""

    def __init__(self, channels: int, fan_in: int, gain: float):
        super().__init__()
        self.scale = gain / math.sqrt(fan_in)
        self.b = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return x * self.scale + self.b.view(1, -1, 1, 1).to(x.dtype)


class GenBlock(nn.Module):
    """pixel-norm -> optional x2 upsample -> conv -> wscale -> LeakyReLU (or none, for the output block)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, padding: int, upsample=False, output=False):
        super().__init__()
        self.upsample = upsample
        self.output = output
        self.norm = PixelNorm()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, 1, padding, bias=False)
        nn.init.normal_(self.conv.weight)
        gain = 1.0 if output else math.sqrt(2) / kernel_size
        self.wscale = WScale(c_out, c_in, gain)
        self.register_buffer("folded_weight", None, persistent=False)
        self.register_buffer("folded_bias", None, persistent=False)
        self.register_buffer("phase_weight", None, persistent=False)
        self.register_buffer("phase_bias", None, persistent=False)
        self.register_load_state_dict_post_hook(_refold)

    @torch.no_grad()
    def fold(self, phases: bool = True) -> None:
        """Cache ``conv.weight * scale`` and ``b`` as one conv's weight and bias (redone on every call), and with
        ``phases``, for an upsampling 3x3 block, the same conv as four 2x2 ones on the unsampled input
        (``upconvolve``)."""
        self.folded_weight = (self.conv.weight * self.wscale.scale).detach().clone()
        self.folded_bias = self.wscale.b.detach().clone()
        self.phase_weight = self.phase_bias = None
        if phases and self.upsample and self.conv.kernel_size == (3, 3) and self.conv.padding == (1, 1):
            w = self.folded_weight
            pairs = ((w[:, :, :, 0], w[:, :, :, 1] + w[:, :, :, 2]), (w[:, :, :, 0] + w[:, :, :, 1], w[:, :, :, 2]))
            cols = [torch.stack(pair, -1) for pair in pairs]                  # (C, C', 3, 2) for dx = 0, 1
            phases = [torch.stack((c[:, :, 0], c[:, :, 1] + c[:, :, 2]) if dy == 0 else
                                  (c[:, :, 0] + c[:, :, 1], c[:, :, 2]), 2) for dy in (0, 1) for c in cols]
            fmt = torch.channels_last if w.is_contiguous(memory_format=torch.channels_last) and not \
                w.is_contiguous() else torch.contiguous_format
            self.phase_weight = torch.cat(phases).contiguous(memory_format=fmt)     # (4C, C', 2, 2), 2 dy + dx
            self.phase_bias = self.folded_bias.repeat(4)

    def unfold(self) -> None:
        self.folded_weight = self.folded_bias = self.phase_weight = self.phase_bias = None

    @property
    def folded(self) -> bool:
        return self.folded_weight is not None


    def convolve(self, x, padding=None):
        """The conv with its scale and bias (folded where it can be); ``padding`` replaces the conv's own."""
        padding = self.conv.padding if padding is None else padding
        if self.folded and not (self.conv.weight.requires_grad or self.wscale.b.requires_grad):
            return F.conv2d(x, self.folded_weight, self.folded_bias, padding=padding)
        if padding == self.conv.padding:
            return self.wscale(self.conv(x))
        return self.wscale(F.conv2d(x, self.conv.weight, None, padding=padding))

    def upconvolve(self, x, trim: int = 0):
        """The x2 nearest upsample and the conv of an upsampling block, without padding ('valid'), computed from
        the unsampled ``x`` (N, C', h, w): output rows and columns 1 + ``trim`` … 2h-2-``trim`` of the upsampled
        grid, in one compact tensor.

        Each output pixel of a 3x3 conv on a nearest-upsampled picture reads a 2x2 patch of ``x``, with the
        kernel's rows and columns summed in pairs by the pixel's parity: four 2x2 convs (``fold``), 4/9 of the
        multiplications.  For renders (``fast_upsample``); to float rounding the same."""
        n, _, h, w = x.shape
        y = F.conv2d(x, self.phase_weight, self.phase_bias)                  # (N, 4C, h-1, w-1)
        c = y.shape[1] // 4
        fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous() \
            else torch.contiguous_format
        size = (2 * h - 2 - 2 * trim, 2 * w - 2 - 2 * trim)
        out = torch.empty((n, c, *size), dtype=y.dtype, device=y.device, memory_format=fmt)
        starts = {}
        for d in (0, 1):            # phase d holds the valid rows 2k + 1 - d (k: its row of y)
            k0 = max(0, -(-(trim - (1 - d)) // 2))
            starts[d] = (k0, 2 * k0 + 1 - d - trim)
        for dy in (0, 1):
            (k0, u0), rows = starts[dy], len(range(starts[dy][1], size[0], 2))
            for dx in (0, 1):
                (l0, v0), cols = starts[dx], len(range(starts[dx][1], size[1], 2))
                phase = 2 * dy + dx
                out[:, :, u0::2, v0::2] = y[:, phase * c:(phase + 1) * c, k0:k0 + rows, l0:l0 + cols]
        return out

    def fast_upsample(self, x: torch.Tensor) -> bool:
        """Whether ``forward`` upsamples and convolves ``x`` with ``upconvolve``: where it uses the folded weights
        and no gradient flows back through ``x`` (renders, not the fit's steps: measured no faster there)."""
        return self.phase_weight is not None and not (self.conv.weight.requires_grad or self.wscale.b.requires_grad) \
            and not (x.requires_grad and torch.is_grad_enabled())

    def forward(self, x):
        x = self.norm(x)
        if self.upsample and self.fast_upsample(x):
            x = self.upconvolve(F.pad(x, (1, 1, 1, 1)), trim=1)
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.convolve(x)
        return x if self.output else F.leaky_relu(x, 0.2, inplace=True)


def _refold(block: GenBlock, incompatible) -> None:
    """After a folded block loads new weights (its children included), its folded copies follow them."""
    if block.folded:
        block.fold(phases=block.phase_weight is not None)


class ProgressiveGenerator(nn.Sequential):
    """G = output ∘ layerN ∘ … ∘ layer1, fed with z of shape (B, z_dim)."""

    def __init__(self, sizes: list[int]):
        if len(sizes) < 3:
            raise ValueError(f"sizes needs at least [z_dim, width4, width8], got {sizes}")
        blocks = [
            GenBlock(sizes[0], sizes[1], 4, 3),
            GenBlock(sizes[1], sizes[1], 3, 1),
        ]
        for c_in, c_out in zip(sizes[1:-1], sizes[2:], strict=False):
            blocks.append(GenBlock(c_in, c_out, 3, 1, upsample=True))
            blocks.append(GenBlock(c_out, c_out, 3, 1))
        named = [(f"layer{i + 1}", b) for i, b in enumerate(blocks)]
        res = 4 * 2 ** (len(sizes) - 2)
        named.append((f"output_{res}x{res}", GenBlock(sizes[-1], 3, 1, 0, output=True)))
        super().__init__(OrderedDict(named))
        self.sizes = list(sizes)
        self.resolution = res
        self.z_dim = sizes[0]

    def forward(self, z):
        return super().forward(z.reshape(z.shape[0], -1, 1, 1))

    def fold_scales(self, phases: bool = True) -> ProgressiveGenerator:
        """Fold every block's equalised-learning-rate scale and bias into its conv (see the module doc); with
        ``phases`` the upsampling blocks also run as four 2x2 convs (``GenBlock.upconvolve``)."""
        for block in self.children():
            block.fold(phases)
        return self

    def unfold_scales(self) -> ProgressiveGenerator:
        for block in self.children():
            block.unfold()
        return self

    @property
    def device(self) -> torch.device:
        return self.layer1.conv.weight.device

    @property
    def layer_names(self) -> list[str]:
        """The blocks' names in order: ``named_children``'s, read from the module table without its generator and
        memo (an edit asks ~10 times, docs/speed.md)."""
        return [name for name, block in self._modules.items() if block is not None]

    def resolution_of(self, layer: str) -> int:
        """Spatial size of a layer's output (``layer4`` -> 8)."""
        index = self.layer_names.index(layer)
        return min(4 * 2 ** (index // 2), self.resolution)

    def features(self, z, layer: str):
        """Run from z up to and including ``layer``."""
        x = z.reshape(z.shape[0], -1, 1, 1)
        for name, block in self.named_children():
            x = block(x)
            if name == layer:
                return x
        raise KeyError(layer)

    def render_from(self, x, layer: str, scale: dict | None = None, until: str | None = None,
                    edit: dict | None = None, record: dict | None = None, raw: dict | None = None):
        """Run the blocks after ``layer`` on its features ``x`` (G_f of the paper), up to ``until`` if given.

        ``scale`` maps layer names to factors that multiply those layers' outputs in this call only
        (the adaptation's ``1 + delta``): nothing is stored on the module, so concurrent calls with
        different factors never see each other's.  ``edit`` maps layer names to functions applied to
        those layers' outputs after the factors (an edit at a finer layer), likewise for this call only.
        ``record`` (a dict) receives every block's output, after its factors and edit
        (``window_render.record``); ``raw`` (a dict) the first scaled block's output before its factors.
        """
        names = self.layer_names
        end = names.index(until) + 1 if until is not None else len(names)
        for name in names[names.index(layer) + 1 : end]:
            x = self._modules[name](x)
            if scale is not None and name in scale:
                if raw is not None and not raw:
                    raw[name] = x
                x = x * scale[name].to(x.dtype)
            if edit is not None and name in edit:
                x = edit[name](x)
            if record is not None:
                record[name] = x
        return x

    def output_shape(self, layer: str) -> tuple[int, int, int]:
        """(channels, height, width) of ``layer``'s output."""
        res = self.resolution_of(layer)
        return self._modules[layer].conv.out_channels, res, res


_OLD_KEY = re.compile(r"^features\.(\d+)\.(.*)$")


def convert_old_keys(state_dict: dict) -> dict:
    """Translate the older ``features.N.*`` / ``output.*`` key format to ``layerN`` / ``output_RxR``."""
    if not any(k.startswith("features.") for k in state_dict):
        return dict(state_dict)
    out = {}
    n_layers = 0
    for key, value in state_dict.items():
        m = _OLD_KEY.match(key)
        if m:
            n_layers = max(n_layers, int(m.group(1)) + 1)
            out[f"layer{int(m.group(1)) + 1}.{m.group(2)}"] = value
    res = 4 * 2 ** ((n_layers - 2) // 2)
    for key, value in state_dict.items():
        if key.startswith("output."):
            out[f"output_{res}x{res}." + key[len("output.") :]] = value
    return out


def sizes_from_state_dict(state_dict: dict) -> list[int]:
    """Recover ``sizes`` from conv weight shapes: z_dim, then one width per resolution."""
    sizes = []
    i = 1
    while f"layer{i}.conv.weight" in state_dict:
        w = state_dict[f"layer{i}.conv.weight"]
        if i == 1:
            sizes.append(int(w.shape[1]))
        if i % 2 == 1:
            sizes.append(int(w.shape[0]))
        i += 1
    if len(sizes) < 3:
        raise ValueError("not a Progressive-GAN generator state dict: no layer1..layerN conv weights found")
    return sizes


def generator_from_state_dict(state_dict: dict) -> ProgressiveGenerator:
    """Build a generator of the right sizes and load ``state_dict`` into it (strict)."""
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    state_dict = convert_old_keys(state_dict)
    g = ProgressiveGenerator(sizes_from_state_dict(state_dict))
    missing, unexpected = g.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match the Progressive-GAN layout: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return g
