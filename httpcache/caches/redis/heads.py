"""Heads in Redis: one string per stored variant, and the heads a thread last read.

A head is one string value, read and written whole (``GET``, ``SET ... PX``): a line
of fields, then the entry (``dumps_entry`` output, which ends with its own CRC-32),
then the body itself when it fits in one chunk::

    <format> <gen> <chunks> <size> <created_at> <crc> <entry length>\\n<entry><inline body>

``gen`` is the generation (one per commit; a body of several chunks is the list
named after it), ``chunks`` the chunks in that list (0: the body is inline),
``size`` and ``crc`` the body's size and CRC-32, ``created_at`` what tells a
freshened head from another response. Scripts read only the line (``GETRANGE``, at
most ``LINE_MAX`` bytes). An inline body read with its head is checked against its
CRC-32 then; a head that is damaged, foreign or of an older format (format 3 was a
hash) is a miss, logged as a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis

from ...errors import ChecksumMismatchError, DeserializationError
from ...models import Entry
from ...serialize import loads_entry
from .._checksum import verified
from .._files.frames import HeadMemo as Decoded

logger = logging.getLogger("httpcache")

#: Version of the head's layout; another one is a miss. Formats 1 to 3 were hashes.
HEAD_FORMAT = 4
#: The first field of a head's line in this format.
FORMAT_BYTES = str(HEAD_FORMAT).encode()
#: The field line is at most this long (a generation of 32 hex digits, numbers).
LINE_MAX = 160
#: A head read without its body (listing) reads this much first, the rest if needed.
HEAD_READ = 8192
#: Heads (with inline bodies) a thread keeps from its last lookups, and their bytes.
MEMO_ENTRIES = 256
MEMO_BYTES = 8 * 1024 * 1024


class HeadValue(NamedTuple):
    """A head value taken apart (``body``: what follows the entry, possibly cut)."""

    version: bytes
    gen: str
    chunks: int
    size: int
    created_at: str
    crc: int
    entry: bytes
    body: bytes
    complete: bool  # the whole entry was in the value read


def pack_head(
    entry: bytes, gen: str, chunks: int, size: int, created_at: float, crc: int, body: bytes = b""
) -> bytes:
    """A head's value (``body``: the inline body, only when ``chunks`` is 0)."""
    line = f"{HEAD_FORMAT} {gen} {chunks} {size} {created_at!r} {crc} {len(entry)}\n"
    return b"".join((line.encode("ascii"), entry, body))


def unpack_head(value: bytes) -> HeadValue:
    """The parts of a head's value (or of its first bytes); raises
    ``DeserializationError`` for one of another shape."""
    end = value.find(b"\n", 0, LINE_MAX)
    fields = value[:end].split(b" ") if end > 0 else []
    if len(fields) != 7:
        raise DeserializationError("not a head: no field line")
    version, gen, chunks, size, created_at, crc, length = fields
    try:
        start = end + 1
        stop = start + int(length)
        return HeadValue(
            version,
            gen.decode("ascii"),
            int(chunks),
            int(size),
            created_at.decode("ascii"),
            int(crc),
            value[start:stop],
            value[stop:],
            len(value) >= stop,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeserializationError(f"not a head: {exc}") from exc


def with_parts(value: bytes, entry: bytes | None = None, body: bytes | None = None) -> bytes:
    """A head's value with its entry or its inline body replaced, the rest as it was
    (the tests' way of planting damage)."""
    old = unpack_head(value)
    line = value[: value.index(b"\n")].split(b" ")
    new_entry = old.entry if entry is None else entry
    line[6] = str(len(new_entry)).encode()
    return b" ".join(line) + b"\n" + new_entry + (old.body if body is None else body)


@dataclass(frozen=True, slots=True)
class Head:
    """A stored head with what is needed to read its body (``body``: the inline body,
    when it was read with the head)."""

    entry: Entry
    primary_key: str
    gen: str
    chunks: int
    size: int
    crc: int
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Damaged:
    """A head that could not be used (logged): damaged, foreign or of an older format.
    ``raw`` is its value as read (``b""``: none, or not a string)."""

    raw: bytes


def wrong_type(exc: BaseException) -> bool:
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def warn_damaged(owner: object, where: str, problem: object) -> None:
    logger.warning("%r: unreadable value at %s (%s); treated as a miss", owner, where, problem)


def parse_head(
    owner: object,
    where: str,
    primary_key: str,
    key: str,
    result: Any,
    whole: bool = True,
    decoded: Decoded | None = None,
) -> Head | Damaged | None:
    """The head in ``result`` (its value, or with ``whole`` False its first bytes, as
    read at ``where``): a ``Head``, ``None`` if absent, ``Damaged`` (logged) if
    unusable. Raises ``IncompleteHead`` if the first bytes did not hold the entry.
    ``decoded``: entries decoded lately, by their bytes (a hit on an unchanged head
    is not decoded again)."""
    if isinstance(result, Exception):
        if not wrong_type(result):
            raise result
        warn_damaged(owner, where, "a value of another type: a head of an older httpcache?")
        return Damaged(b"")
    if result is None or result == b"":
        return None
    try:
        value = unpack_head(result)
        if value.version != FORMAT_BYTES:
            raise DeserializationError(f"head format {value.version!r}, expected {HEAD_FORMAT}")
        if not value.complete:
            if whole:
                raise DeserializationError("head cut short")
            raise IncompleteHead
        entry = decoded.get(len(value.entry), value.entry) if decoded is not None else None
        if entry is None:
            entry = loads_entry(value.entry)
            if decoded is not None:
                decoded.put(len(value.entry), value.entry, entry)
        if entry.key != key or entry.primary_key != primary_key:
            raise DeserializationError(f"head of {entry.key!r} stored under {key!r}")
        inline = None
        if value.chunks == 0 and whole:
            inline = value.body
            if len(inline) != value.size:
                raise DeserializationError(f"inline body of {value.size} bytes is not")
            verified(inline, value.crc, "inline body")
        return Head(entry, primary_key, value.gen, value.chunks, value.size, value.crc, inline)
    except (DeserializationError, ChecksumMismatchError) as exc:
        warn_damaged(owner, where, exc)
        return Damaged(result if isinstance(result, bytes) else b"")


class IncompleteHead(Exception):
    """The first bytes of a head did not hold its whole entry: read it all."""


class HeadMemo:
    """The heads (with inline bodies) each thread last read, by key: the driver serves
    the body of the very head it decided on, without another round trip."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _memo(self) -> OrderedDict[str, Head]:
        memo = getattr(self._local, "heads", None)
        if memo is None:
            memo = self._local.heads = OrderedDict()
            self._local.memo_bytes = 0
        return memo

    def remember(self, head: Head) -> None:
        memo = self._memo()
        key = head.entry.key
        old = memo.pop(key, None)
        used = self._local.memo_bytes - (len(old.body) if old and old.body else 0)
        memo[key] = head
        used += len(head.body) if head.body else 0
        while len(memo) > MEMO_ENTRIES or (used > MEMO_BYTES and len(memo) > 1):
            _, dropped = memo.popitem(last=False)
            used -= len(dropped.body) if dropped.body else 0
        self._local.memo_bytes = used

    def recall(self, key: str) -> Head | None:
        """The head this thread last read for ``key`` (forgotten now), or None."""
        head = self._memo().pop(key, None)
        if head is not None and head.body:
            self._local.memo_bytes -= len(head.body)
        return head

    def forget(self, key: str) -> None:
        self.recall(key)

    def clear(self) -> None:
        self._memo().clear()
        self._local.memo_bytes = 0
