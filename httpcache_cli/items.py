"""Request items as httpie writes them, after the URL.

``Header:value``, ``Header:`` (drop a default header), ``Header;`` (send it empty),
``name==value`` (query), ``name=value`` (a data field), ``name:=JSON`` (a raw JSON
field), ``name=@FILE`` and ``name:=@FILE`` (a field read from a file), ``name@FILE``
(a file upload, multipart), ``@FILE`` (the whole body from a file). A backslash
escapes a separator (``a\\=b=c`` is the field ``a=b``).
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path

from .errors import usage

#: Longest first at the same position: ':=@' before ':=' before ':'.
SEPARATORS = (":=@", "=@", "==", ":=", "=", "@", ":", ";")
HINT = "items look like Name:value, name==value, name=value, name:=json, name@file"


@dataclass
class Items:
    header_lines: list[str] = field(default_factory=list)
    empty_headers: list[tuple[str, str]] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    fields: list[tuple[str, object]] = field(default_factory=list)
    files: list[tuple[str, tuple[str, bytes, str | None]]] = field(default_factory=list)
    body_file: bytes | None = None


def split_item(item: str) -> tuple[str, str, str] | None:
    """(name, separator, value) at the first unescaped separator, or None."""
    name: list[str] = []
    i = 0
    while i < len(item):
        char = item[i]
        if char == "\\" and i + 1 < len(item):
            name.append(item[i + 1])
            i += 2
            continue
        for sep in SEPARATORS:
            if item.startswith(sep, i):
                return "".join(name), sep, item[i + len(sep) :]
        name.append(char)
        i += 1
    return None


def parse_items(items: list[str]) -> Items:
    parsed = Items()
    for item in items:
        split = split_item(item)
        if split is None:
            raise usage(f"bad request item {item!r}", HINT)
        name, sep, value = split
        if not name and sep != "@":
            raise usage(f"bad request item {item!r}: no name before {sep!r}", HINT)
        match sep:
            case ":":
                if value.strip():
                    parsed.header_lines.append(f"{name}:{value}")
                else:
                    parsed.header_lines.append(f"{name}:")  # removes a default header
            case ";":
                if value:
                    raise usage(f"bad request item {item!r}", "Name; sends the header empty")
                parsed.empty_headers.append((name, ""))
            case "==":
                parsed.params.append((name, value))
            case "=":
                parsed.fields.append((name, value))
            case "=@":
                parsed.fields.append((name, _read(value, item).decode("utf-8", "replace")))
            case ":=":
                parsed.fields.append((name, _json(value, item)))
            case ":=@":
                parsed.fields.append((name, _json(_read(value, item).decode("utf-8"), item)))
            case "@" if not name:
                if parsed.body_file is not None:
                    raise usage(f"two @FILE items ({item!r})", "the body comes from one file")
                parsed.body_file = _read(value, item)
            case "@":
                path, _, kind = value.partition(";type=")
                content_type = kind or mimetypes.guess_type(path)[0]
                parsed.files.append((name, (Path(path).name, _read(path, item), content_type)))
    return parsed


def _read(path: str, item: str) -> bytes:
    target = Path(path).expanduser()
    try:
        return target.read_bytes()
    except OSError as exc:
        raise usage(
            f"{item!r}: cannot read {target}: {exc.strerror}", "check the file name"
        ) from exc


def _json(text: str, item: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise usage(f"{item!r}: not valid JSON: {exc}", "quote it: 'name:=[1, 2]'") from exc
