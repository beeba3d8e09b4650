"""rich drawing, imported only when something is drawn on a terminal.

rich honours ``NO_COLOR`` by itself; a console here is only ever made for a stream
that is a terminal, so nothing in a pipe or a file gets escape codes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from .views import Section, Table

ROW_STYLES = {"fresh": "green", "expired": "yellow", "stale": "yellow", "error": "red"}
SECTION_STYLES = {"good": "bold green", "bad": "bold red", "warn": "bold yellow", "": "bold"}


def console(stream: IO[str] | None = None, force: bool = False, soft_wrap: bool = False) -> Console:
    """A console on ``stream``; ``force`` draws colours even in a pipe (--pretty);
    ``soft_wrap`` leaves long lines whole (the terminal wraps them, a copy keeps them)."""
    return Console(
        file=stream or sys.stdout,
        highlight=False,
        soft_wrap=soft_wrap or force,
        force_terminal=True if force else None,
    )


def show(view: Table | list[Section], stream: IO[str] | None = None) -> None:
    out = console(stream)
    if isinstance(view, Table) and view.plain_lines:
        _lines(out, view)
        return
    if isinstance(view, Table):
        out.print(_table(view))
        return
    for index, section in enumerate(view):
        if index:
            out.print()
        _section(out, section)


def _lines(out: Console, view: Table) -> None:
    """The plain table's lines, the header bold and each row in its state's colour."""
    header, *rows = view.plain().splitlines()
    out.print(Text(header, style="bold"), overflow="ignore", crop=False)
    for index, line in enumerate(rows):
        style = view.row_styles[index] if index < len(view.row_styles) else ""
        out.print(Text(line, style=ROW_STYLES.get(style, "")), overflow="ignore", crop=False)
    if view.caption:
        out.print(Text(view.caption, style="dim"))


def _table(view: Table) -> RichTable:
    table = RichTable(title=view.title or None, caption=view.caption or None, header_style="bold")
    for name in view.columns:
        overflow = "fold" if name in ("URL", "KEY") else "ellipsis"
        justify = "right" if name in view.right else "left"
        table.add_column(name, justify=justify, overflow=overflow, no_wrap=name != "URL")
    for index, row in enumerate(view.rows):
        style = view.row_styles[index] if index < len(view.row_styles) else ""
        table.add_row(*row, style=ROW_STYLES.get(style))
    return table


def _section(out: Console, section: Section) -> None:
    if section.title:
        out.print(Text(section.title, style=SECTION_STYLES.get(section.style, "bold")))
    width = max((len(label) for label, _ in section.items if label), default=0)
    for label, value in section.items:
        line = Text("  ")
        if label:
            line.append((label + ":").ljust(width + 1), style="cyan")
            line.append(" ")
        line.append(value)
        out.print(line)


def print_head(
    lines: list[str], stream: IO[str], response: bool = True, force: bool = False
) -> None:
    """A message head, coloured as httpie does: status by class, names in cyan."""
    out = console(stream, force, soft_wrap=True)
    for index, line in enumerate(lines):
        if index == 0:
            out.print(Text(line, style=_first_line_style(line, response)))
            continue
        name, _, value = line.partition(":")
        text = Text(name, style="cyan")
        text.append(":" + value)
        if name.lower() == "cache-status":
            text.stylize("bold magenta", 0, len(name))
        out.print(text)


def print_status_lines(lines: list[str], stream: IO[str]) -> None:
    """Status lines (redirects followed, an error status), coloured by class."""
    out = console(stream, soft_wrap=True)
    for line in lines:
        out.print(Text(line, style=_first_line_style(line, True)))


def print_json(text: str, stream: IO[str], style: str) -> None:
    """Formatted JSON, coloured with a Pygments style (an unknown one: the default)."""
    from pygments.util import ClassNotFound
    from rich.syntax import Syntax

    try:
        syntax = Syntax(text.rstrip("\n"), "json", theme=style, background_color="default")
    except ClassNotFound:
        syntax = Syntax(text.rstrip("\n"), "json", background_color="default")
    console(stream, force=True).print(syntax)


def _first_line_style(line: str, response: bool) -> str:
    if not response:
        return "bold"
    parts = line.split()
    code = parts[1] if len(parts) > 1 else ""
    return {"2": "bold green", "3": "bold yellow", "4": "bold red", "5": "bold red"}.get(
        code[:1], "bold"
    )


@contextmanager
def progress(total: int | None, label: str, start: int = 0) -> Iterator[Any]:
    """A download bar on stderr; yields ``advance(nbytes)``."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=total, completed=start)

        def advance(size: int) -> None:
            bar.update(task, advance=size)

        yield advance
