"""Model cards: the markdown that says what a model is, where it came from and how well it does."""

from __future__ import annotations

from pathlib import Path


def model_card(folder: Path) -> str:
    """A folder's card: its own ``README.md``, else the ``## <folder name>`` section of the parent's README."""
    if (folder / "README.md").is_file():
        return (folder / "README.md").read_text()
    index = folder.parent / "README.md"
    if not index.is_file():
        return ""
    text, heading = index.read_text(), f"## {folder.name}"
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    if not starts:
        return ""
    ends = [i for i, line in enumerate(lines) if line.startswith("## ") and i > starts[0]]
    return "\n".join(lines[starts[0] : ends[0] if ends else len(lines)]).strip() + "\n"
