"""``--fit NAME=VALUE,…``: the one way every command overrides the editor's fit options (``FitOptions`` fields,
e.g. ``--fit z_steps=10,r_steps=10,adapt_steps=30``)."""

from __future__ import annotations

FIT_HELP = ("editor fit options as NAME=VALUE pairs, e.g. 'z_steps=10,r_steps=10,adapt_steps=30' "
            "(ganpaint_core.editing.editor.FitOptions fields; default: the editor's)")


def add_fit_argument(p, help: str = FIT_HELP, **kwargs) -> None:
    p.add_argument("--fit", default="", help=help, **kwargs)


def parse_fit_options(text: str) -> dict:
    """``'a=1,b=0.5,c=true'`` -> {'a': 1, 'b': 0.5, 'c': True}; a ValueError naming the fields for an unknown one."""
    from dataclasses import fields

    from ganpaint_core.editing.editor import FitOptions

    known = {f.name for f in fields(FitOptions)}
    options = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ValueError(f"--fit: {item!r} is not NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        options[key] = _value(value.strip())
    return options


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
