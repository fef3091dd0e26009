"""The model loader: GAN-dissection checkpoints, safetensors, model folders, URLs and clear errors."""

from __future__ import annotations

import functools
import http.server
import json
import threading

import pytest
import torch

from ganpaint_core import models
from ganpaint_core.models import ModelBundle, load_model, save_model
from ganpaint_core.networks.encoder import Encoder
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.networks.segmenter import Segmenter

GAN_DISSECTION_256 = [512, 512, 512, 512, 256, 128, 64, 32]  # z_dim, then the width at 4, 8, …, 256 px


def gan_dissection_state_dict(sizes: list[int], old_format: bool = False) -> dict[str, torch.Tensor]:
    """Random weights under the exact names and shapes of a public GAN-dissection Progressive-GAN checkpoint."""
    g = torch.Generator().manual_seed(0)
    shapes = [(sizes[1], sizes[0], 4, 4), (sizes[1], sizes[1], 3, 3)]
    for c_in, c_out in zip(sizes[1:-1], sizes[2:], strict=False):
        shapes += [(c_out, c_in, 3, 3), (c_out, c_out, 3, 3)]
    res = 4 * 2 ** (len(sizes) - 2)
    state = {}
    for i, shape in enumerate(shapes):
        prefix = f"features.{i}" if old_format else f"layer{i + 1}"
        state[f"{prefix}.conv.weight"] = torch.randn(shape, generator=g)
        state[f"{prefix}.wscale.b"] = torch.randn(shape[0], generator=g) * 0.1
    out = "output" if old_format else f"output_{res}x{res}"
    state[f"{out}.conv.weight"] = torch.randn(3, sizes[-1], 1, 1, generator=g)
    state[f"{out}.wscale.b"] = torch.zeros(3)
    return state


TINY = [16, 16, 16, 8]  # a 16 px generator: layer1..layer6 + output_16x16


@pytest.fixture
def tiny_generator():
    torch.manual_seed(0)
    return ProgressiveGenerator(TINY).eval().requires_grad_(False)


def test_gan_dissection_256px_checkpoint_loads(tmp_path):
    path = tmp_path / "proggan_churchoutdoor.pth"
    state = gan_dissection_state_dict(GAN_DISSECTION_256)
    assert len(state) == 30 and "layer14.conv.weight" in state and "output_256x256.wscale.b" in state
    torch.save(state, path)
    bundle = load_model(path)
    g = bundle.generator
    assert (g.resolution, g.z_dim, g.sizes) == (256, 512, GAN_DISSECTION_256)
    assert bundle.name == "proggan_churchoutdoor" and bundle.segmenter is None and bundle.folder is None
    assert torch.equal(g.state_dict()["layer7.conv.weight"], state["layer7.conv.weight"])
    with torch.no_grad():
        z = torch.randn(1, 512)
        assert g.features(z, "layer4").shape == (1, 512, 8, 8)
        assert g(z).shape == (1, 3, 256, 256)


def test_old_feature_key_format_loads_to_the_same_generator(tmp_path):
    new = gan_dissection_state_dict(TINY)
    old = gan_dissection_state_dict(TINY, old_format=True)
    assert any(k.startswith("features.") for k in old) and "output.conv.weight" in old
    torch.save(old, tmp_path / "old.pth")
    g = load_model(tmp_path / "old.pth").generator
    z = torch.randn(2, TINY[0])
    with torch.no_grad():
        reference = models.generator_from_state_dict(new)(z)
        assert torch.allclose(g(z), reference, atol=1e-5)


def test_training_checkpoint_gives_the_ema_generator(tmp_path, tiny_generator):
    ema = {f"g.{k}": v for k, v in tiny_generator.state_dict().items()}
    ema["to_rgb.4.conv.weight"] = torch.zeros(3, 16, 1, 1)
    torch.save({"g": {}, "g_ema": ema, "state": {"kimg": 1.0}}, tmp_path / "ckpt.pt")
    g = models.load_generator(tmp_path / "ckpt.pt")
    z = torch.randn(2, TINY[0])
    with torch.no_grad():
        assert torch.allclose(g(z), tiny_generator(z))


def test_single_safetensors_generator_round_trip_in_fp16(tmp_path, tiny_generator):
    path = tmp_path / "g.safetensors"
    models.save_part(tiny_generator, path, half=True)
    g = load_model(str(path)).generator
    z = torch.randn(3, TINY[0])
    with torch.no_grad():
        assert (g(z) - tiny_generator(z)).abs().max() < 0.02


def test_model_folder_round_trip_with_all_parts_and_card(tmp_path, tiny_generator):
    from ganpaint_core.dissection.dissect import dissect
    from ganpaint_core.networks.discriminator import Discriminator

    seg = Segmenter([8, 8, 8]).eval()
    bundle = ModelBundle(name="tiny", generator=tiny_generator, segmenter=seg, encoder=Encoder(16, TINY[0]),
                         discriminator=Discriminator([8, 8, 16], 16), config={"note": "test"})
    bundle.dissection = dissect(tiny_generator, seg, samples=4, batch=4, progress=False)
    folder = save_model(tmp_path / "zoo" / "tiny", bundle, half=False)
    (tmp_path / "zoo" / "README.md").write_text("# Models\n\n## tiny\nA test card.\n\n## other\nNot this one.\n")
    loaded = load_model(folder)
    assert loaded.name == "tiny" and loaded.folder == folder and loaded.layer == "layer4"
    assert loaded.card.startswith("## tiny") and "A test card." in loaded.card and "other" not in loaded.card
    config = json.loads((folder / "config.json").read_text())
    assert config["sizes"] == TINY and config["segmenter_widths"] == [8, 8, 8] and config["note"] == "test"
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        for part in ("segmenter", "encoder", "discriminator"):
            before, after = getattr(bundle, part).eval(), getattr(loaded, part)
            assert type(after) is type(before)
            out_a, out_b = before(x), after(x)
            out_a, out_b = (out_a[-1], out_b[-1]) if isinstance(out_a, (list, tuple)) else (out_a, out_b)
            assert torch.allclose(out_a, out_b, atol=1e-5), part
    assert loaded.dissection == json.loads(json.dumps(bundle.dissection))


def test_figures_in_part_metadata_survive_a_reship(tmp_path, tiny_generator):
    from ganpaint_core.models import load_part, save_part

    save_part(Segmenter([8, 8, 8]), tmp_path / "seg.safetensors", meta={"miou": "0.97"})
    seg = load_part(tmp_path / "seg.safetensors", "segmenter")
    save_model(tmp_path / "m", ModelBundle(name="m", generator=tiny_generator, segmenter=seg))
    again = load_part(tmp_path / "m" / "segmenter.safetensors", "segmenter")
    assert again.metadata["miou"] == "0.97" and json.loads(again.metadata["widths"]) == [8, 8, 8]


def test_unknown_name_is_a_clear_file_not_found():
    with pytest.raises(FileNotFoundError, match="no model 'no-such-model'"):
        load_model("no-such-model")


@pytest.mark.parametrize("name, payload", [
    ("truncated.pth", "truncate"),
    ("garbage.pth", b"this is not a zip file at all"),
    ("garbage.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}"),
    ("empty.safetensors", b""),
])
def test_corrupt_checkpoint_files_raise_value_error(tmp_path, tiny_generator, name, payload):
    path = tmp_path / name
    if payload == "truncate":
        torch.save(tiny_generator.state_dict(), path)
        path.write_bytes(path.read_bytes()[:500])
    else:
        path.write_bytes(payload)
    with pytest.raises(ValueError, match=name):
        load_model(path)


class NotWeights:
    """A pickled object with code behind it: weights-only loading must refuse it."""


def test_pickled_objects_are_refused_not_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"layer1.conv.weight": NotWeights()}, path)
    with pytest.raises(ValueError, match="weights-only"):
        load_model(path)


def test_wrong_shapes_and_foreign_state_dicts_raise_value_error(tmp_path):
    state = gan_dissection_state_dict(TINY)
    state["layer3.wscale.b"] = torch.zeros(5)
    torch.save(state, tmp_path / "shapes.pth")
    with pytest.raises(ValueError, match="shapes.pth"):
        load_model(tmp_path / "shapes.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="not a Progressive-GAN"):
        load_model(tmp_path / "foreign.pth")


def test_broken_parts_of_a_folder_raise_value_error(tmp_path, tiny_generator):
    folder = save_model(tmp_path / "m", ModelBundle(name="m", generator=tiny_generator))
    assert load_model(folder).segmenter is None
    models.save_part(Segmenter([8, 8, 8]), folder / "segmenter.safetensors", meta={"widths": "[8, 16, 32]"})
    with pytest.raises(ValueError, match="segmenter.safetensors"):
        load_model(folder)
    (folder / "segmenter.safetensors").unlink()
    (folder / "dissection.json").write_text('{"layer": "layer4", "units": [], "concepts": {}}')
    with pytest.raises(ValueError, match="lists 0 units; layer layer4 has 16"):
        load_model(folder)
    (folder / "dissection.json").write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(folder)


def test_unreachable_url_gives_a_clear_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"could not download http://127\.0\.0\.1:9/x\.pth.*offline"):
        load_model("http://127.0.0.1:9/x.pth")
    assert not list((tmp_path / "cache").glob("*"))  # no half-written file is left behind


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_url_download_is_cached(tmp_path, monkeypatch, tiny_generator):
    served = tmp_path / "www"
    served.mkdir()
    torch.save(tiny_generator.state_dict(), served / "tiny.pth")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    monkeypatch.setenv("GANPAINT_CACHE", str(tmp_path / "cache"))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tiny.pth"
        g = load_model(url).generator
        (served / "tiny.pth").unlink()  # the second load must come from the cache
        assert load_model(url).generator.sizes == g.sizes == TINY
    finally:
        server.shutdown()
    [cached] = (tmp_path / "cache").glob("*tiny.pth")
    assert cached.stat().st_size > 0


def test_ship_assembles_a_folder_from_a_training_checkpoint(tmp_path, tiny_generator, capsys):
    import subprocess
    import sys

    from ganpaint_core.networks.discriminator import Discriminator
    from ganpaint_core.training.growing import GrowingDiscriminator, GrowingGenerator

    d = Discriminator([8, 16, 16], 16)
    torch.save({"g_ema": GrowingGenerator(tiny_generator).state_dict(), "d": GrowingDiscriminator(d).state_dict()},
               tmp_path / "ckpt.pt")
    seg = tmp_path / "seg.safetensors"
    models.save_part(Segmenter([8, 8]), seg)
    out = tmp_path / "shipped"
    done = subprocess.run([sys.executable, "-m", "ganpaint_core", "ship", "--generator", str(tmp_path / "ckpt.pt"),
                           "--segmenter", str(seg), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "generator, segmenter, discriminator" in done.stdout
    bundle = load_model(out)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert (bundle.discriminator(x) - d(x)).abs().max() < 0.05  # fp16 storage
    assert json.loads((out / "config.json").read_text())["discriminator_widths"] == [8, 16, 16]
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    # the error through the command's entry point in this process (the real process ran above)
    assert main("python -m ganpaint_core", "", COMMANDS, ["ship", "--generator", str(seg), "--out", str(out)]) == 2
    assert "not a Progressive-GAN" in capsys.readouterr().err
