"""Partial content (RFC 9111 §3.3, §3.4; RFC 9110 §14, §15.3.7): stored 206 responses.

A 206 with one byte range is kept beside the complete response of the same request,
under a key of its own (``partial_key``): nothing that looks for the complete
response finds it, and a partial is only ever served as a 206 for a range that lies
wholly within it (§3.3). A plain GET that finds only a fresh stored part asks the
origin for the rest (``Range``, with ``If-Range`` when the part has a strong ETag);
the two are joined into the complete 200 only when they carry the same strong
validator and the same complete length (§3.4, RFC 9110 §15.3.7.3).

The complete length must be known (``bytes first-last/length``), the content must be
exactly the range (``Content-Length`` and the bytes read), and there must be no
content coding (a range counts the bytes of the coded form, the cache keeps bodies
decoded): anything else is not stored, and the origin answers such requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..keys import digest
from ..models import Entry, Headers, Response
from .directives import parse_etag
from .ranges import ByteRange, partial_head

PARTIAL = 206
_CONTENT_RANGE = re.compile(r"bytes (\d{1,18})-(\d{1,18})/(\d{1,18})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Span:
    """The bytes ``first``-``last`` (inclusive) of a ``length``-byte representation."""

    first: int
    last: int
    length: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def holds(self, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last


@dataclass(frozen=True, slots=True)
class Completion:
    """Join what the origin sends to the stored ``part`` (§3.4): with ``headers``, the
    rest of it asked for a plain GET (sent with the request), to make the complete
    response; without, the caller's own range, sent as it is."""

    part: Entry
    headers: tuple[tuple[str, str], ...]


def partial_key(key: str) -> str:
    """Where the part of the response stored under ``key`` is kept: never ``key``
    itself, so a part is never found, or served, as the complete response."""
    return digest(["206", key])


def content_range(headers: Headers) -> Span | None:
    """The one byte range a 206 carries (RFC 9110 §14.4), or None: several ranges
    (multipart/byteranges), an unknown complete length, a backwards or outside one."""
    values = headers.get_all("content-range")
    if len(values) != 1:
        return None
    match = _CONTENT_RANGE.fullmatch(values[0].strip())
    if match is None:
        return None
    first, last, length = (int(text) for text in match.groups())
    if last < first or last >= length:
        return None
    return Span(first, last, length)


def refusal(response: Response) -> str | None:
    """Why a 206 is not kept as a part, or None when it may be (§3.3)."""
    span = content_range(response.headers)
    if span is None:
        return "a 206 without one byte range of a known length (Content-Range) is not kept"
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        return "a 206 with a content coding is not kept (its range counts coded bytes)"
    length = response.headers.get("content-length")
    if length is not None and length.strip() != str(span.size):
        return "a 206 whose Content-Length is not the size of its Content-Range is not kept"
    return None


def whole_as_200(response: Response) -> Response:
    """A 206 that holds every byte is the complete response: kept as the 200 it is
    (§3.4, RFC 9110 §15.3.7.3); any other response as it is."""
    span = content_range(response.headers) if response.status == PARTIAL else None
    if span is None or span.first != 0 or span.last != span.length - 1:
        return response
    headers = response.headers.without("content-range").updated(
        [("Content-Length", str(span.length))]
    )
    return replace(response, status=200, reason="OK", headers=headers)


def holds(entry: Entry, wanted: ByteRange) -> bool:
    """Whether a stored part holds every byte ``wanted`` selects (§3.3: a part serves
    only a range wholly within it)."""
    span = content_range(entry.response.headers)
    if span is None:
        return False
    selected = wanted.within(span.length)
    return selected is not None and span.holds(*selected)


def served_part(head: Response, body: bytes, wanted: ByteRange) -> tuple[Response, bytes] | None:
    """The 206 and its bytes for ``wanted`` of a stored part (its head, its body), or
    None when the part does not hold them (or its body is not its span)."""
    span = content_range(head.headers)
    if span is None or span.size != len(body):
        return None
    selected = wanted.within(span.length)
    if selected is None or not span.holds(*selected):
        return None
    first, last = selected
    start = first - span.first
    return partial_head(head, first, last, span.length), body[start : last - span.first + 1]


def strong_etag(headers: Headers) -> str | None:
    etag = parse_etag(headers)
    return etag if etag is not None and not etag.startswith("W/") else None


def completion_of(part: Entry) -> Completion | None:
    """The request for the rest of ``part``: what follows a first part, or what comes
    before a last one (one range each). None for a part in the middle, or with a weak
    validator (a weak ETag can never join parts, RFC 9110 §15.3.7.3)."""
    span = content_range(part.response.headers)
    if span is None:
        return None
    if span.first == 0:
        rest = f"bytes={span.last + 1}-"
    elif span.last == span.length - 1:
        rest = f"bytes=0-{span.first - 1}"
    else:
        return None
    etag = parse_etag(part.response.headers)
    if etag is not None and etag.startswith("W/"):
        return None
    # If-Range: the origin sends the rest only for the same representation (§13.1.5).
    headers = [("Range", rest)] + ([("If-Range", etag)] if etag else [])
    return Completion(part, tuple(headers))


def joinable(stored: Response, new: Response) -> bool:
    """§3.4, RFC 9110 §15.3.7.3: parts join when they share the same strong validator
    (and, so, the same complete length)."""
    mine, theirs = strong_etag(stored.headers), strong_etag(new.headers)
    if mine is None or mine != theirs:
        return False
    a, b = content_range(stored.headers), content_range(new.headers)
    return a is not None and b is not None and a.length == b.length


def joined(
    stored: Response, stored_body: bytes, new: Response, new_body: bytes
) -> tuple[Response, bytes] | None:
    """Two joinable parts as one: the complete 200 when together they hold every byte,
    else a 206 of the one range they make; None when a gap parts them. The fields are
    the newer response's but Content-Range and Content-Length (RFC 9110 §15.3.7.3)."""
    a, b = content_range(stored.headers), content_range(new.headers)
    if a is None or b is None or a.size != len(stored_body) or b.size != len(new_body):
        return None
    if a.first > b.first:
        (a, stored_body), (b, new_body) = (b, new_body), (a, stored_body)
    if b.first > a.last + 1:
        return None
    body = stored_body + new_body[a.last + 1 - b.first :] if b.last > a.last else stored_body
    last = max(a.last, b.last)
    headers = new.headers.without("content-range").updated([("Content-Length", str(len(body)))])
    if a.first == 0 and last == a.length - 1:
        return replace(new, status=200, reason="OK", headers=headers), body
    headers = headers.updated([("Content-Range", f"bytes {a.first}-{last}/{a.length}")])
    return replace(new, status=PARTIAL, headers=headers), body
