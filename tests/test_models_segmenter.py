"""The segmenter: shapes, the IoU arithmetic, the augmentation, and the shipped model's held-out mIoU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.models import MODELS_DIR
from ganpaint_core.networks.segmenter import Segmenter, confusion, iou_per_class
from ganpaint_core.training.augment import degrade, gaussian_blur

SHIPPED = MODELS_DIR / "default" / "segmenter.safetensors"


@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_forward_gives_logits_per_concept_at_input_size(size):
    model = Segmenter([8, 8, 16, 16]).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size) * 2 - 1)
    assert out.shape == (2, NUM_CONCEPTS, *size)


def test_predict_takes_uint8_pictures_and_gives_labels(photo):
    model = Segmenter([8, 8, 16]).train()
    single = model.predict(photo)
    batch = model.predict(np.stack([photo, photo[::-1]]), batch=1)
    assert single.shape == photo.shape[:2] and single.dtype == np.uint8 and single.max() < NUM_CONCEPTS
    assert batch.shape == (2, *photo.shape[:2])
    np.testing.assert_array_equal(batch[0], single)
    assert model.training  # predict restores the mode it found


def test_confusion_and_iou_by_hand():
    truth = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1]])
    conf = confusion(pred, truth, num_classes=3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    iou = iou_per_class(conf)
    assert iou[0] == pytest.approx(0.5) and iou[1] == pytest.approx(2 / 3) and np.isnan(iou[2])


def test_augmentation_blurs_and_keeps_range():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, :, 8:] = 1
    blurred = gaussian_blur(x, torch.tensor([0.0, 1.0]))
    assert torch.allclose(blurred[0], x[0], atol=1e-4)          # sigma ~0 keeps the edge
    assert 0.1 < float(blurred[1, 0, 0, 8]) < 0.9                 # sigma 1 softens it
    y = degrade(x * 2 - 1, g)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1 and not torch.equal(y, x * 2 - 1)


@pytest.mark.skipif(not SHIPPED.exists(), reason="models/default/segmenter.safetensors is not shipped yet")
def test_shipped_segmenter_reaches_the_miou_target_on_held_out_scenes():
    from ganpaint_core.models import load_segmenter
    from ganpaint_core.scenes import HELDOUT_SEED_START, render_batch

    images, labels = render_batch(range(HELDOUT_SEED_START, HELDOUT_SEED_START + 100), 128, workers=2)
    model = load_segmenter(SHIPPED)
    conf = confusion(model.predict(images), labels)
    iou = iou_per_class(conf)
    assert np.nanmean(iou) >= 0.80, dict(zip(NAMES, np.round(iou, 3), strict=True))


def test_eval_only_cli_reports_per_concept_iou_and_draws(tmp_path):
    from ganpaint_core.models import save_part

    weights = tmp_path / "seg.safetensors"
    save_part(Segmenter([8, 8]), weights)
    env = {**os.environ, "GANPAINT_DATA": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "ganpaint_core", "train", "segmenter", "--eval-only", str(weights),
                           "--eval-scenes", "6", "--size", "64", "--out", str(tmp_path / "run"),
                           "--picture", str(tmp_path / "seg.png")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["iou"]) == set(NAMES) and metrics["scenes"] == 6 and 0 <= metrics["pixel_accuracy"] <= 1
    assert metrics["seeds"][0] >= 10_000_000 and (tmp_path / "seg.png").stat().st_size > 0
