"""Heads in Redis: one hash per stored variant, and the heads a thread last read.

The hash's fields: ``v`` (its format), ``e`` (the entry, ``dumps_entry`` output,
which ends with its own CRC-32), ``g`` (generation: one per commit), ``n`` (chunks in
the body list; 0: the body is inline), ``s`` (body size), ``c`` (``created_at``, what
tells a freshened head from another response), ``k`` (the body's CRC-32) and ``b``
(the body itself when it fits in one chunk). An inline body read with its head is
checked against ``k`` then; a head that is damaged, foreign or of an older format is
a miss, logged as a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import redis

from ...errors import ChecksumMismatchError, DeserializationError
from ...models import Entry
from ...serialize import loads_entry
from .._checksum import verified
from .keyspace import text

logger = logging.getLogger("httpcache")

#: Version of the head hash; another one is a miss. Format 1 kept every body in a
#: list; format 3 added ``k``, the body's CRC-32 (and the head's at the end of ``e``).
HEAD_FORMAT = 3
HEAD_FIELDS = ("v", "e", "g", "n", "s", "c", "k")
HEAD_AND_BODY = (*HEAD_FIELDS, "b")
OLDER_FORMATS = frozenset({b"1", b"2"})
_FORMAT_BYTES = str(HEAD_FORMAT).encode()
#: Heads (with inline bodies) a thread keeps from its last lookups, and their bytes.
MEMO_ENTRIES = 256
MEMO_BYTES = 8 * 1024 * 1024


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
    raw: bytes = b""  # the ``e`` field it was read from


@dataclass(frozen=True, slots=True)
class Damaged:
    """A head that could not be used (logged): damaged, foreign or of an older format.
    ``raw`` is its ``e`` field as read (``b""``: none, or not a hash)."""

    raw: bytes


def wrong_type(exc: BaseException) -> bool:
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def warn_damaged(owner: object, where: str, problem: object) -> None:
    logger.warning("%r: unreadable value at %s (%s); treated as a miss", owner, where, problem)


def parse_head(
    owner: object, where: str, primary_key: str, key: str, result: Any
) -> Head | Damaged | None:
    """The head in ``result`` (an ``HMGET`` of ``HEAD_FIELDS``, with ``b`` or not) read
    at ``where``: a ``Head``, ``None`` if absent, ``Damaged`` (logged) if unusable."""
    if isinstance(result, Exception):
        if not wrong_type(result):
            raise result
        warn_damaged(owner, where, result)
        return Damaged(b"")
    version, raw, gen, chunks, size, _, crc = result[:7]
    if version is None and raw is None:
        return None
    try:
        if version != _FORMAT_BYTES:
            if version in OLDER_FORMATS:
                raise DeserializationError(
                    f"head format {text(version)} of an older httpcache, expected {HEAD_FORMAT}"
                )
            raise DeserializationError(f"head format {version!r}, expected {HEAD_FORMAT}")
        entry = loads_entry(raw)
        if entry.key != key or entry.primary_key != primary_key:
            raise DeserializationError(f"head of {entry.key!r} stored under {key!r}")
        inline = None
        chunks, size, crc = int(chunks), int(size), int(crc)
        if chunks == 0 and len(result) > 7:
            inline = result[7]
            if not isinstance(inline, bytes) or len(inline) != size:
                raise DeserializationError(f"inline body of {size} bytes is not")
            verified(inline, crc, "inline body")
        return Head(entry, primary_key, gen.decode("ascii"), chunks, size, crc, inline, raw)
    except (
        DeserializationError,
        ChecksumMismatchError,
        AttributeError,
        ValueError,
        TypeError,
    ) as exc:
        warn_damaged(owner, where, exc)
        return Damaged(raw if isinstance(raw, bytes) else b"")


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
