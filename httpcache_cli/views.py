"""What commands show, as data: tables and sections, drawn plainly or by rich.

Commands build a ``Table`` or a list of ``Section`` and call ``show``: on a terminal
``render`` draws it with rich (imported only then); in a pipe it is plain, aligned,
untruncated text that grep and awk can read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .output import is_terminal, safe


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    #: Columns aligned right (numbers).
    right: frozenset[str] = frozenset()
    #: Per row, a style name for rich ("fresh", "expired", ...); ignored in plain text.
    row_styles: list[str] = field(default_factory=list)
    caption: str = ""
    #: On a terminal too: aligned lines without a frame (coloured per row), whose
    #: width the command chose (``hc cache ls`` fitting the terminal).
    plain_lines: bool = False

    def plain(self) -> str:
        cells = [self.columns, *self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = []
        for row in cells:
            parts = [
                cell.rjust(width) if name in self.right else cell.ljust(width)
                for cell, width, name in zip(row, widths, self.columns, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
        return "\n".join(lines)


@dataclass
class Section:
    """A titled block of ``label: value`` items, or of free lines (label empty)."""

    title: str
    items: list[tuple[str, str]] = field(default_factory=list)
    style: str = ""

    def plain(self) -> str:
        width = max((len(label) for label, _ in self.items if label), default=0)
        lines = [self.title] if self.title else []
        for label, value in self.items:
            if label:
                lines.append(f"  {(label + ':').ljust(width + 1)} {value}")
            else:
                lines.append(f"  {value}")
        return "\n".join(lines)


def show(view: Table | list[Section]) -> None:
    """Print a view on stdout: rich on a terminal, plain text otherwise. Every cell is
    escaped first (``output.safe``): URLs and headers come from servers."""
    view = _escaped(view)
    if is_terminal(sys.stdout):
        from . import render

        render.show(view)
        return
    if isinstance(view, Table):
        print(view.plain())
    else:
        print("\n\n".join(section.plain() for section in view))


def _escaped(view: Table | list[Section]) -> Table | list[Section]:
    if isinstance(view, Table):
        view.rows = [[safe(cell) for cell in row] for row in view.rows]
        view.title, view.caption = safe(view.title), safe(view.caption)
        return view
    for section in view:
        section.title = safe(section.title)
        section.items = [(safe(label), safe(value)) for label, value in section.items]
    return view
