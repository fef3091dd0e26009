"""Edit a network's layer outputs through forward hooks, without rewriting its forward.

``NetHook(model)`` keeps at most one hook per named layer.  A layer's rule is
a function ``output -> new output``; helpers set the common ones:

- ``replace(layer, value)``: the layer outputs ``value`` instead (broadcast to the batch);
- ``multiply(layer, factor)``: the output becomes ``output * factor`` (the adaptation
  ``x * (1 + delta)`` passes ``factor = 1 + delta``);
- ``retain(layer)``: remember the output in ``retained[layer]``.

Rules are looked up at call time, so changing a tensor held by a rule needs no
new hook.  ``clear(layer)`` drops one rule, ``close()`` removes every hook; the
object is also a context manager.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class NetHook:
    def __init__(self, model: nn.Module):
        self.model = model
        self.modules = dict(model.named_modules())
        self.rules: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
        self.retained: dict[str, torch.Tensor] = {}
        self._handles: dict[str, torch.utils.hooks.RemovableHandle] = {}

    def _module(self, layer: str) -> nn.Module:
        if layer not in self.modules:
            raise KeyError(f"no layer {layer!r} in the network; layers: {', '.join(n for n in self.modules if n)}")
        return self.modules[layer]

    def set_rule(self, layer: str, rule: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Route ``layer``'s output through ``rule`` on every forward pass."""
        module = self._module(layer)
        self.rules[layer] = rule
        if layer not in self._handles:
            self._handles[layer] = module.register_forward_hook(self._hook_for(layer))

    def _hook_for(self, layer: str):
        def hook(_module, _inputs, output):
            rule = self.rules.get(layer)
            return None if rule is None else rule(output)
        return hook

    def replace(self, layer: str, value: torch.Tensor) -> None:
        self.set_rule(layer, lambda out: value.to(out.dtype).expand_as(out))

    def multiply(self, layer: str, factor: torch.Tensor) -> None:
        self.set_rule(layer, lambda out: out * factor.to(out.dtype))

    def retain(self, layer: str) -> None:
        def keep(out):
            self.retained[layer] = out
            return out
        self.set_rule(layer, keep)

    def clear(self, layer: str | None = None) -> None:
        """Drop the rule of ``layer`` (every rule when None); the hooks stay, doing nothing."""
        if layer is None:
            self.rules.clear()
        else:
            self.rules.pop(layer, None)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.remove()
        self._handles.clear()
        self.rules.clear()
        self.retained.clear()

    def __enter__(self) -> NetHook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
