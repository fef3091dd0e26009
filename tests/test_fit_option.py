"""``--fit NAME=VALUE,…``: the one spelling of fit overrides, in every command that fits."""

from __future__ import annotations

import pytest

from ganpaint_core.commands.fit_option import parse_fit_options


def test_values_take_their_types_and_unknown_names_are_refused():
    assert parse_fit_options("z_steps=3, adapt_lr=0.5,bf16=true,perceptual=none") == {
        "z_steps": 3, "adapt_lr": 0.5, "bf16": True, "perceptual": "none"}
    assert parse_fit_options("") == {}
    with pytest.raises(ValueError, match="z_steps"):
        parse_fit_options("zsteps=3")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_fit_options("z_steps")


def test_speed_settings_are_fit_specs_of_step_counts():
    from eval.studies.speed import DEFAULT_STEPS, parse_settings
    from ganpaint_core.editing.editor import FitOptions

    assert parse_settings(["z_steps=5,r_steps=6,adapt_steps=7", "adapt_steps=9"]) == ([
        (5, 6, 7), (FitOptions.z_steps, FitOptions.r_steps, 9)], {})
    assert [",".join(map(str, s)) for s in parse_settings(None)[0]] == DEFAULT_STEPS.split(";")
    with pytest.raises(ValueError, match="step counts"):
        parse_settings(["adapt_lr=0.2"])
    assert parse_settings(["z_steps=5,solve_last=false", "z_steps=6,solve_last=false"])[1] == {"solve_last": False}
    with pytest.raises(ValueError, match="same in every setting"):
        parse_settings(["z_steps=5,solve_last=false", "z_steps=6"])


@pytest.mark.parametrize("command", [["edit", "--image", "x.png", "--mask", "m.png", "--out", "o.png"]])
def test_the_old_step_spellings_are_gone(command, capsys):
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    with pytest.raises(SystemExit):
        main("python -m ganpaint_core", "", COMMANDS, [*command, "--z-steps", "2"])
    assert "unrecognized arguments: --z-steps" in capsys.readouterr().err
