"""What the user typed -> what requests takes: URL, headers, query, body.

Every check here happens before the cache or the network is touched, so a typo is
a usage error (exit 64) with a hint, never a half-done request.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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


def build(
    method: str,
    url: str,
    headers: list[str] | None = None,
    params: list[str] | None = None,
    data: str | None = None,
    json_text: str | None = None,
) -> RequestInput:
    if data is not None and json_text is not None:
        raise usage("-d/--data and --json both give a body", "use one of them")
    request = RequestInput(
        method=parse_method(method),
        url=parse_url(url),
        headers=parse_headers(headers or []),
        params=parse_params(params or []),
    )
    if data is not None:
        request.body = read_value(data, "-d/--data")
        _default_header(request.headers, "Content-Type", FORM)
    elif json_text is not None:
        body = read_value(json_text, "--json")
        try:
            json.loads(body)
        except ValueError as exc:
            raise usage(
                f"--json is not valid JSON: {exc}", "quote it: --json '{\"a\": 1}'"
            ) from exc
        request.body = body
        _default_header(request.headers, "Content-Type", JSON)
        _default_header(request.headers, "Accept", f"{JSON}, */*;q=0.5")
    return request


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
