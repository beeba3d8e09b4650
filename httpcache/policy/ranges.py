"""Byte ranges served from a stored complete response (RFC 9110 §14, RFC 9111 §3.4).

A request for one range of bytes (``Range: bytes=0-99``, ``bytes=100-``, ``bytes=-50``)
is answered from a fresh stored 200 with a 206 and its ``Content-Range``, or a 416
when the range starts past the end. Several ranges, other units and malformed values
are not understood here: such a request goes to the origin as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..models import Entry, Headers, Response
from .directives import parse_etag, parse_http_date

_BYTE_RANGE = re.compile(r"bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*", re.IGNORECASE)
#: Positions beyond this many digits are past any stored body.
_MAX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One byte-range-spec (``first``-``last``, ``last`` absent: to the end) or a
    suffix-range-spec (``first`` absent: the last ``last`` bytes), RFC 9110 §14.1.2."""

    first: int | None
    last: int | None

    def within(self, length: int) -> tuple[int, int] | None:
        """The inclusive positions it selects in ``length`` bytes, or None when it
        selects none (unsatisfiable, §14.1.1)."""
        if self.first is None:
            if not self.last or length == 0:
                return None
            return max(0, length - self.last), length - 1
        if self.first >= length:
            return None
        last = length - 1 if self.last is None else min(self.last, length - 1)
        return self.first, last


def parse_range(value: str) -> ByteRange | None:
    """A single bytes range from a Range field value, or None if it is anything else
    (several ranges, another unit, a malformed or backwards one)."""
    match = _BYTE_RANGE.fullmatch(value.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if len(first_text) > _MAX_DIGITS or len(last_text) > _MAX_DIGITS:
        return None
    first = int(first_text) if first_text else None
    last = int(last_text) if last_text else None
    if first is None and last is None:
        return None
    if first is not None and last is not None and last < first:
        return None  # invalid: the field is ignored (§14.1.1); the origin decides
    return ByteRange(first, last)


def if_range_holds(value: str, entry: Entry) -> bool:
    """RFC 9110 §13.1.5: If-Range names the stored response by a strong ETag, or by
    its Last-Modified date given exactly; otherwise the whole response is sent."""
    value = value.strip()
    stored = entry.response.headers
    if value.startswith('"') or value.startswith("W/"):
        etag = parse_etag(stored)
        return etag is not None and not etag.startswith("W/") and etag == value
    date = parse_http_date(value)
    last_modified = stored.get("last-modified")
    return date is not None and last_modified is not None and last_modified.strip() == value


def partial_head(head: Response, first: int, last: int, length: int) -> Response:
    """The 206 head for bytes ``first``-``last`` of a ``length``-byte representation."""
    headers = head.headers.updated(
        [
            ("Content-Range", f"bytes {first}-{last}/{length}"),
            ("Content-Length", str(last - first + 1)),
        ]
    )
    return replace(head, status=206, reason="Partial Content", headers=headers)


def unsatisfiable_head(head: Response, length: int) -> Response:
    """The 416 for a range that starts past the end of ``length`` bytes (§15.5.17)."""
    keep = [(name, value) for name, value in head.headers.fields() if name.lower() in _KEPT_IN_416]
    headers = Headers([*keep, ("Content-Range", f"bytes */{length}"), ("Content-Length", "0")])
    return replace(head, status=416, reason="Range Not Satisfiable", headers=headers)


def byte_range_of(head: Response, body: bytes, wanted: ByteRange) -> tuple[Response, bytes]:
    """The 206 and its bytes for ``wanted`` of a stored complete ``body``, or the 416
    when it starts past the end."""
    span = wanted.within(len(body))
    if span is None:
        return unsatisfiable_head(head, len(body)), b""
    first, last = span
    return partial_head(head, first, last, len(body)), body[first : last + 1]


_KEPT_IN_416 = frozenset({"date", "age", "cache-control", "etag", "last-modified", "vary"})
