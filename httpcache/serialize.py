"""Entries to bytes and back: msgpack in a versioned envelope, never pickle.

The stored head is ``packb([MAGIC, FORMAT_VERSION, fields])`` followed by the CRC-32
of those bytes (4 bytes, big-endian). Loading checks the CRC first, so a flipped bit
or bytes replaced by others of the same length are found before anything is decoded,
then validates every field's type: bytes that are damaged, foreign (a pickle, JSON,
another version) or of the wrong shape raise ``DeserializationError``, which every
backend treats as a miss. Loading never runs code: msgpack only builds lists, maps,
strings and numbers.

``Set-Cookie`` and ``Set-Cookie2`` are never part of a stored head: ``dumps_entry``
leaves them out and ``loads_entry`` drops them from heads written before that, so a
hit never sets a cookie again (a cached response is shared; its cookies were for the
one that fetched it).
"""

from __future__ import annotations

import zlib
from typing import Any, cast

import msgpack

from .errors import DeserializationError
from .models import Entry, Headers, Request, Response

MAGIC = "httpcache"
#: 2 added the CRC-32 after the envelope; a head of format 1 is a miss.
FORMAT_VERSION = 2
CHECKSUM_BYTES = 4
#: Response header fields never stored (nor replayed from heads stored before).
NEVER_STORED = ("set-cookie", "set-cookie2")
#: Refuse to unpack heads larger than this: a head claiming gigabytes is damage.
MAX_HEAD_BYTES = 16 * 1024 * 1024


def _headers_out(headers: Headers) -> list[list[str]]:
    return [[name, value] for name, value in headers.fields()]


def without_cookies(headers: Headers) -> Headers:
    """``headers`` without the fields that set cookies (the same object if none)."""
    if "set-cookie" in headers or "set-cookie2" in headers:
        return headers.without(*NEVER_STORED)
    return headers


def dumps_entry(entry: Entry) -> bytes:
    """Serialize an entry's head (not its body), its checksum after it."""
    req, resp = entry.request, entry.response
    fields = [
        entry.key,
        entry.primary_key,
        [req.method, req.url, _headers_out(req.headers), req.body],
        [
            resp.status,
            resp.reason,
            resp.url,
            resp.version,
            _headers_out(without_cookies(resp.headers)),
        ],
        entry.request_time,
        entry.response_time,
        entry.created_at,
        entry.expires,
        entry.size,
        entry.stale_until,
        [[name, value] for name, value in entry.vary],
        entry.expiry_from_caller,
    ]
    packed = cast(bytes, msgpack.packb([MAGIC, FORMAT_VERSION, fields], use_bin_type=True))
    return packed + zlib.crc32(packed).to_bytes(CHECKSUM_BYTES, "big")


def loads_entry(data: bytes) -> Entry:
    """Rebuild an entry from ``dumps_entry`` output, or raise ``DeserializationError``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DeserializationError(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_HEAD_BYTES:
        raise DeserializationError(f"entry head of {len(data)} bytes is larger than allowed")
    view = memoryview(data)
    packed = view[:-CHECKSUM_BYTES]
    if len(view) <= CHECKSUM_BYTES or zlib.crc32(packed) != int.from_bytes(
        view[-CHECKSUM_BYTES:], "big"
    ):
        raise DeserializationError(_why_unverified(data))
    try:
        envelope = msgpack.unpackb(packed, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # damaged input raises several types, RecursionError included
        raise DeserializationError(f"not a msgpack entry: {exc!r}") from None
    try:
        return _entry_from_fields(envelope)
    except DeserializationError:
        raise
    except (TypeError, ValueError, IndexError) as exc:
        raise DeserializationError(f"entry of the wrong shape: {exc}") from None


def _why_unverified(data: bytes | bytearray | memoryview) -> str:
    """Why a head failed its checksum: an older format (written without one), or damage."""
    try:
        envelope = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception:  # not one whole msgpack value: damaged, or not ours at all
        return "checksum mismatch: the head is damaged"
    if isinstance(envelope, list) and len(envelope) == 3 and envelope[0] == MAGIC:
        return f"entry format {envelope[1]!r} (an older httpcache), expected {FORMAT_VERSION}"
    return "checksum mismatch: not a httpcache head, or a damaged one"


def _entry_from_fields(envelope: Any) -> Entry:
    if not (isinstance(envelope, list) and len(envelope) == 3 and envelope[0] == MAGIC):
        raise DeserializationError("not a httpcache entry")
    if type(envelope[1]) is not int or envelope[1] != FORMAT_VERSION:  # not True, not 1.0
        raise DeserializationError(f"entry format {envelope[1]!r}, expected {FORMAT_VERSION}")
    fields = _list(envelope[2])
    if len(fields) not in (11, 12):  # the 12th, expiry_from_caller, came later
        raise DeserializationError(f"expected 11 or 12 entry fields, got {len(fields)}")
    req = _list(fields[2], 4)
    resp = _list(fields[3], 5)
    request = Request(
        method=_str(req[0]),
        url=_str(req[1]),
        headers=_headers_in(req[2]),
        body=_optional(req[3], bytes),
    )
    response = Response(
        status=_int(resp[0]),
        reason=_str(resp[1]),
        url=_str(resp[2]),
        version=_int(resp[3]),
        headers=without_cookies(_headers_in(resp[4])),
    )
    vary = tuple(_pair(item) for item in _list(fields[10]))
    return Entry(
        key=_str(fields[0]),
        primary_key=_str(fields[1]),
        request=request,
        response=response,
        request_time=_number(fields[4]),
        response_time=_number(fields[5]),
        created_at=_number(fields[6]),
        expires=_optional_number(fields[7]),
        size=_int(fields[8]),
        stale_until=_optional_number(fields[9]),
        vary=vary,
        expiry_from_caller=_bool(fields[11]) if len(fields) == 12 else False,
    )


def _list(value: Any, length: int | None = None) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise DeserializationError(f"expected a list of {length}, got {type(value).__name__}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise DeserializationError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DeserializationError(f"expected an integer, got {type(value).__name__}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise DeserializationError(f"expected a boolean, got {type(value).__name__}")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DeserializationError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _optional_number(value: Any) -> float | None:
    return None if value is None else _number(value)


def _optional(value: Any, kind: type) -> Any:
    if value is not None and not isinstance(value, kind):
        raise DeserializationError(f"expected {kind.__name__} or nil")
    return value


def _pair(value: Any) -> tuple[str, str]:
    item = _list(value, 2)
    return _str(item[0]), _str(item[1])


def _headers_in(value: Any) -> Headers:
    return Headers(_pair(item) for item in _list(value))
