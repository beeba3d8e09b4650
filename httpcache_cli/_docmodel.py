"""The app's command tree as plain data, for the man page and the completions."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


@dataclass
class Opt:
    names: list[str]
    help: str
    metavar: str | None  # None: a flag
    choices: list[str] = field(default_factory=list)
    kind: str = ""  # "file", "dir" or "" (free text)
    envvar: str | None = None
    default: str | None = None
    repeatable: bool = False

    @property
    def long(self) -> str:
        return next((n for n in self.names if n.startswith("--")), self.names[0])


@dataclass
class Arg:
    name: str
    metavar: str
    help: str
    required: bool
    repeatable: bool
    kind: str = ""


@dataclass
class Cmd:
    path: list[str]
    help: str
    options: list[Opt]
    arguments: list[Arg]
    commands: list[Cmd] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    callback: Any = None
    canonical: bool = True

    @property
    def name(self) -> str:
        return " ".join(self.path)


def model() -> Cmd:
    """The app's tree; alias commands (same function) folded into their canonical one."""
    from typer.main import get_command

    from .cli import app

    root = _cmd(get_command(app), ["hc"])
    _fold_aliases(root)
    return root


def _cmd(command: Any, path: list[str]) -> Cmd:
    options, arguments = [], []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if type(param).__name__.endswith("Argument"):
            arguments.append(_arg(param))
        else:
            options.append(_opt(param))
    options.append(Opt(["-h", "--help"], "Show the help and exit.", None))
    children = [_cmd(sub, [*path, name]) for name, sub in getattr(command, "commands", {}).items()]
    return Cmd(
        path,
        _clean(command.help or ""),
        options,
        arguments,
        children,
        callback=getattr(command, "callback", None),
    )


def _fold_aliases(root: Cmd) -> None:
    """A command sharing its function with another is listed as that one's alias;
    commands of a group (hc cache inspect) come first, as the canonical names."""
    grouped = [cmd for group in root.commands for cmd in group.commands]
    leaves = grouped + [cmd for cmd in root.commands if not cmd.commands]
    canonical: dict[Any, Cmd] = {}
    for cmd in leaves:
        function = getattr(cmd.callback, "__wrapped__", cmd.callback)
        first = canonical.setdefault(function, cmd)
        if first is not cmd:
            first.aliases.append(cmd.name)
            cmd.canonical = False


def _opt(param: Any) -> Opt:
    annotation, is_path = _annotation(param)
    choices = [str(m.value) for m in annotation] if _is_enum(annotation) else []
    flag = bool(getattr(param, "is_flag", False))
    metavar = None if flag else (param.metavar or _default_metavar(param, choices))
    default = param.default
    if isinstance(default, Enum):
        default = default.value
    shown = None
    if not flag and default not in (None, (), []) and param.show_default:
        shown = str(default)
    return Opt(
        names=[*param.opts, *param.secondary_opts],
        help=_clean(param.help or ""),
        metavar=metavar,
        choices=choices,
        kind=_kind(param, is_path),
        envvar=param.envvar if isinstance(param.envvar, str) else None,
        default=shown,
        repeatable=bool(param.multiple),
    )


def _arg(param: Any) -> Arg:
    _, is_path = _annotation(param)
    metavar = param.metavar or param.name.upper()
    return Arg(
        param.name,
        metavar,
        _clean(param.help or ""),
        bool(param.required),
        bool(param.multiple) or param.nargs == -1,
        "url" if param.name in ("url",) else ("file" if is_path else ""),
    )


def _annotation(param: Any) -> tuple[Any, bool]:
    """The parameter's type without Optional and list[], and whether it is a Path."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", str)
    for _ in range(3):
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elif origin in (list, tuple):
            annotation = typing.get_args(annotation)[0]
    is_path = isinstance(annotation, type) and issubclass(annotation, Path)
    return annotation, is_path


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def _kind(param: Any, is_path: bool) -> str:
    if param.name in ("cache_dir",):
        return "dir"
    return "file" if is_path else ""


def _default_metavar(param: Any, choices: list[str]) -> str:
    if choices:
        return param.name.upper()
    return param.name.upper().replace("_", "-")


def _clean(text: str) -> str:
    return " ".join(text.split())


def walk(cmd: Cmd) -> list[Cmd]:
    """Every command, groups before their children, in the app's order."""
    out = [cmd]
    for child in cmd.commands:
        out += walk(child)
    return out


def first_sentence(text: str) -> str:
    match = re.match(r"(.+?\.)(\s|$)", text)
    return (match.group(1) if match else text).rstrip(".;")
