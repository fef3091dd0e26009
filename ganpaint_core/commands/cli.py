"""A small argparse front end shared by the three command-line programs.

A command table maps names to ``(module, help)`` pairs, or to nested tables for
two-word commands such as ``train generator``.  Each command module defines
``add_arguments(parser)`` and ``run(args)``.  Only the module of the command
being run is imported, so ``--help`` stays instant and light.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HELP_KEY = "__help__"


def _leaf_path(table: dict, argv: list[str]) -> list[str]:
    """The command words at the start of ``argv`` that name a leaf command."""
    path: list[str] = []
    node = table
    for word in argv:
        if not isinstance(node, dict) or word not in node or word == HELP_KEY:
            break
        path.append(word)
        node = node[word]
    return path if isinstance(node, tuple) else []


def _add_commands(parser, table: dict, chosen: list[str], depth: int = 0) -> None:
    sub = parser.add_subparsers(dest=f"_cmd{depth}", metavar="COMMAND", required=True)
    for name, spec in table.items():
        if name == HELP_KEY:
            continue
        if isinstance(spec, dict):
            text = spec.get(HELP_KEY, "")
            child = sub.add_parser(name, help=text, description=text)
            rest = chosen[1:] if chosen[:1] == [name] else []
            _add_commands(child, spec, rest, depth + 1)
            continue
        module_name, text = spec
        child = sub.add_parser(name, help=text, description=text)
        child.set_defaults(_module=module_name)
        if chosen == [name]:
            importlib.import_module(module_name).add_arguments(child)


def build_parser(prog: str, description: str, table: dict, argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    _add_commands(parser, table, _leaf_path(table, argv))
    return parser


def main(prog: str, description: str, table: dict, argv: list[str] | None = None) -> int:
    """Parse ``argv`` against ``table`` and run the chosen command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog, description, table, argv)
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        result = module.run(args)
    except (ValueError, FileNotFoundError, PermissionError) as err:
        # Expected user errors: one clear line, no traceback.
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


def check_out_dir(out: str | Path) -> Path:
    """Create the output folder ``out`` or fail with one clear line if it cannot be written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"cannot write to output folder {str(out)!r}: {err.strerror or err}") from err
    return out
