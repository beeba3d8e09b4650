"""What the user typed -> what requests takes: URL, headers, query, body.

Every check here happens before the cache or the network is touched, so a typo is
a usage error (exit 64) with a hint, never a half-done request.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .errors import usage

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass
class RequestInput:
    """A request as requests' ``Session.request`` takes it."""

    method: str
    url: str
    headers: dict[str, str | None] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    #: multipart/form-data: the text fields and the files (name, (filename, bytes, type)).
    form_fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, tuple[str, bytes, str | None]]] = field(default_factory=list)

    @property
    def has_body(self) -> bool:
        return self.body is not None or bool(self.files) or bool(self.form_fields)


def build(
    method: str,
    url: str,
    headers: list[str] | None = None,
    params: list[str] | None = None,
    raw: str | None = None,
    items: list[str] | None = None,
    mode: str = "",
) -> RequestInput:
    """The request from the options and the request items (``items.parse_items``).

    ``mode`` says how data items are sent: ``""`` or ``json`` (a JSON object, the
    default; ``json`` also when there is none, and a raw body is then JSON),
    ``form`` (urlencoded; multipart when a file is uploaded) or ``multipart``.
    """
    from .items import Items, parse_items

    parsed = parse_items(items) if items else Items()
    request = RequestInput(
        method=parse_method(method),
        url=parse_url(url),
        headers=parse_headers([*(headers or []), *parsed.header_lines]),
        params=[*parse_params(params or []), *parsed.params],
    )
    for name, value in parsed.empty_headers:
        _set_header(request.headers, name, value)
    body = None if raw is None else read_value(raw, "--raw")
    if parsed.body_file is not None:
        if body is not None:
            raise usage("--raw and an @FILE item both give the body", "use one of them")
        body = parsed.body_file
    if body is not None:
        if parsed.fields or parsed.files:
            raise usage(
                "a raw body (--raw or @FILE) and data items both give the body",
                "send either data items (name=value) or the raw body",
            )
        request.body = body
        if mode == "json":
            _check_json(body)
            _json_headers(request.headers)
        else:
            _default_header(request.headers, "Content-Type", FORM)
        return request
    if parsed.files or mode == "multipart":
        if not (parsed.fields or parsed.files):
            raise usage("--multipart and no data items", "add items such as name=value or f@FILE")
        request.form_fields = [(n, _form_text(v, n)) for n, v in parsed.fields]
        request.files = parsed.files
    elif mode == "form":
        if parsed.fields:
            pairs = [(n, _form_text(v, n)) for n, v in parsed.fields]
            request.body = urlencode(pairs).encode("utf-8")
            _default_header(request.headers, "Content-Type", f"{FORM}; charset=utf-8")
    elif parsed.fields:
        import json

        request.body = json.dumps(_json_object(parsed.fields), ensure_ascii=False).encode("utf-8")
        _json_headers(request.headers)
    elif mode == "json":
        _default_header(request.headers, "Accept", f"{JSON}, */*;q=0.5")
    return request


def body_mode(json_flag: bool, form: bool, multipart: bool) -> str:
    """The ``mode`` of ``build`` from --json, --form and --multipart."""
    if json_flag and (form or multipart):
        other = "--form" if form else "--multipart"
        raise usage(f"--json and {other} contradict each other", "choose one")
    if multipart:
        return "multipart"
    return "form" if form else "json" if json_flag else ""


def _check_json(body: bytes) -> None:
    import json

    try:
        json.loads(body)
    except ValueError as exc:
        raise usage(
            f"the body is not valid JSON: {exc}", "drop --json, or send JSON such as '{\"a\": 1}'"
        ) from exc


def _json_headers(headers: dict[str, str | None]) -> None:
    _default_header(headers, "Content-Type", JSON)
    _default_header(headers, "Accept", f"{JSON}, */*;q=0.5")


def _json_object(fields: list[tuple[str, object]]) -> dict[str, object]:
    """Fields in order; a name given more than once has the list of its values."""
    data: dict[str, object] = {}
    repeated: dict[str, list[object]] = {}
    for name, value in fields:
        if name in repeated:
            repeated[name].append(value)
        elif name in data:
            repeated[name] = [data[name], value]
            data[name] = repeated[name]
        else:
            data[name] = value
    return data


def _form_text(value: object, name: str) -> str:
    if isinstance(value, str):
        return value
    raise usage(f"{name}:= gives JSON, which a form cannot carry", f"send {name}=VALUE")


def _set_header(headers: dict[str, str | None], name: str, value: str) -> None:
    existing = next((k for k in headers if k.lower() == name.lower()), name)
    headers[existing] = value


def parse_method(method: str) -> str:
    if not _TOKEN.match(method):
        raise usage(f"bad method {method!r}", "a method is a word such as GET, POST or PURGE")
    return method.upper()


def parse_url(url: str) -> str:
    """The URL with ``http://`` added when it has no scheme (as httpie does), checked."""
    text = url.strip()
    if not text:
        raise usage("empty URL", "give a URL such as http://example.org/")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise usage(f"bad URL {url!r}: {exc}", "a URL looks like http://host:8000/path") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise usage(
            f"unsupported URL scheme {parts.scheme!r} in {url!r}", "hc speaks http and https"
        )
    if not parts.hostname or any(c.isspace() for c in parts.netloc):
        raise usage(f"bad URL {url!r}: no host", "a URL looks like http://host:8000/path")
    if port == 0:
        raise usage(f"bad URL {url!r}: port 0", "a URL looks like http://host:8000/path")
    return text


def parse_headers(lines: list[str]) -> dict[str, str | None]:
    """``Name: value`` lines; ``Name:`` with nothing after removes a default header."""
    headers: dict[str, str | None] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not _TOKEN.match(name):
            raise usage(f"bad header {line!r}", "write headers as -H 'Name: value'")
        value = value.strip()
        if "\n" in value or "\r" in value:
            raise usage(f"bad header {line!r}: a line break in its value", "one header per -H")
        existing = next((k for k in headers if k.lower() == name.lower()), None)
        if existing is not None and value and headers[existing]:
            headers[existing] = f"{headers[existing]}, {value}"  # RFC 9110 §5.3
        else:
            headers[existing or name] = value or None
    return headers


def parse_params(pairs: list[str]) -> list[tuple[str, str]]:
    params = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise usage(f"bad query parameter {pair!r}", "write them as -p name=value")
        params.append((name, value))
    return params


def read_value(text: str, option: str) -> bytes:
    """The text itself, ``@FILE``'s bytes, or stdin's with ``@-`` (as curl reads -d)."""
    if not text.startswith("@"):
        return text.encode("utf-8")
    if text == "@-":
        return sys.stdin.buffer.read()
    path = Path(text[1:]).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise usage(f"{option}: cannot read {path}: {exc.strerror}", "check the file name") from exc


def _default_header(headers: dict[str, str | None], name: str, value: str) -> None:
    if not any(k.lower() == name.lower() for k in headers):
        headers[name] = value
