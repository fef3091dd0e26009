"""The three command-line programs list their subcommands and reject bad ones."""

import subprocess
import sys

import pytest

PROGRAMS = {
    "ganpaint_core": ["scenes", "train", "dissect", "edit"],
    "eval": ["run", "bench"],
    "human_study": ["build", "serve", "simulate", "analyze"],
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_help_lists_subcommands(program):
    out = subprocess.run([sys.executable, "-m", program, "--help"], capture_output=True, text=True, check=True)
    for command in PROGRAMS[program]:
        assert command in out.stdout


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_unknown_subcommand_is_a_clear_error(program):
    out = subprocess.run([sys.executable, "-m", program, "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_nested_help_does_not_import_the_command():
    code = ("import sys; from ganpaint_core.__main__ import COMMANDS; "
            "from ganpaint_core.commands.cli import build_parser; "
            "build_parser('p', '', COMMANDS, ['train']); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
