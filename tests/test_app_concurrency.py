"""Two users of one served demo at once, through gradio_client: each gets exactly what it gets alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import make_photo
from PIL import Image

from ganpaint_core.editing.strokes import EDIT_COLOR

STROKES = [(EDIT_COLOR, (12, 12, 20)), (EDIT_COLOR, (36, 30, 18))]     # (colour, (top, left, side)) per edit
EDITS = [("tree", "add"), ("door", "remove")]


@pytest.fixture(scope="module")
def server(served_tiny_demo):
    """The session's served demo on a tiny model (conftest.py): two fits allowed at once and a one-photo cache, so
    every round fits anew."""
    return served_tiny_demo[0]


class User:
    """One browser session (one gradio_client Client) working on one photo: fit, two edits, undo."""

    def __init__(self, url: str, folder, seed: int):
        from gradio_client import Client, handle_file

        self.client = Client(url, verbose=False)
        photo = make_photo(72, 88, seed=seed)
        Image.fromarray(photo).save(folder / f"photo{seed}.png")
        self.values = []
        for k in range(len(STROKES)):
            layer = np.zeros((72, 88, 4), np.uint8)
            color, (top, left, side) = STROKES[k]
            layer[top:top + side, left:left + side] = (*color, 255)
            Image.fromarray(layer).save(folder / f"strokes{seed}-{k}.png")
            self.values.append({"background": handle_file(str(folder / f"photo{seed}.png")),
                                "layers": [handle_file(str(folder / f"strokes{seed}-{k}.png"))], "composite": None})
        self.outputs: dict[str, np.ndarray] = {}
        self.times: dict[str, float] = {}

    def _call(self, name: str, *args, api: str) -> None:
        result = self.client.predict(*args, api_name=api)
        self.outputs[name] = np.asarray(Image.open(result[0]).convert("RGB"))
        self.times[name] = time.perf_counter()

    def fit(self) -> None:
        self._call("fit", self.values[0], api="/fit")

    def edit(self) -> None:
        for k, (concept, action) in enumerate(EDITS):
            self._call(f"edit{k}", self.values[k], concept, action, 0.9, api="/edit")
        self._call("undo", self.values[0], api="/undo")


def _together(*jobs) -> None:
    errors = []

    def run(job):
        try:
            job()
        except Exception as err:   # reported below, with the others
            errors.append(err)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


def test_two_users_at_once_get_what_each_gets_alone(server, tmp_path):
    rounds = []
    for r in range(2):      # one round of each kind (a second round of "both at once" was a third of the time)
        a, b = User(server, tmp_path, 10 * r + 1), User(server, tmp_path, 10 * r + 2)
        if r == 0:          # A edits while B fits
            a.fit()
            _together(a.edit, b.fit)
            # A's first edit starts with B's fit; queued behind it, it would end after it (measured 0.46 s vs 1.4 s)
            assert a.times["edit0"] < b.times["fit"], "an edit must not wait behind another user's fit"
            b.edit()
        else:               # both fit and edit at once
            _together(lambda u=a: (u.fit(), u.edit()), lambda u=b: (u.fit(), u.edit()))
        rounds += [a, b]
    for concurrent in rounds:                       # the same work, one user at a time (each photo fits anew)
        alone = User(server, tmp_path, int(concurrent.values[0]["background"]["path"].split("photo")[-1][:-4]))
        alone.fit()
        alone.edit()
        assert concurrent.outputs.keys() == alone.outputs.keys()
        for name, picture in alone.outputs.items():
            np.testing.assert_array_equal(concurrent.outputs[name], picture, err_msg=name)
        assert not np.array_equal(alone.outputs["edit1"], alone.outputs["fit"])
