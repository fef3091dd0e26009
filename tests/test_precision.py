"""Precision modes: bf16 autocast only when asked or native."""

import pytest
import torch

from ganpaint_core.precision import autocast, native_bf16, use_bf16


def test_modes_resolve():
    assert use_bf16("bf16") is True
    assert use_bf16("fp32") is False
    assert use_bf16("auto") is native_bf16()
    with pytest.raises(ValueError, match="precision"):
        use_bf16("fp16")


def test_autocast_changes_matmul_dtype_only_when_enabled():
    a = torch.randn(4, 4)
    with autocast(True):
        assert (a @ a).dtype == torch.bfloat16
    with autocast(False):
        assert (a @ a).dtype == torch.float32
