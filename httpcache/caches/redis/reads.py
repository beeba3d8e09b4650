"""Reading entries from Redis.

A lookup is one pipeline in the usual case: the variant set and the head of the
variant whose key is the primary key, with its inline body. Serving the hit that
follows needs no round trip: head and body came from the same hash, read at once,
and the head is remembered (``HeadMemo``) for ``open_entry``. A lookup that finds a
head unusable logs one warning and removes the entry, only if its head is still the
one read (the ``delete`` script compares it).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import redis

from ...errors import ChecksumMismatchError, StorageError
from ...models import Entry
from .._checksum import verified
from .bodies import BodyStream
from .counters import Counters
from .heads import (
    HEAD_AND_BODY,
    HEAD_FIELDS,
    Damaged,
    Head,
    HeadMemo,
    parse_head,
    warn_damaged,
    wrong_type,
)
from .index import Index
from .keyspace import Keyspace, text
from .scripts import Batch, Client, run_script, send_all, storage_errors
from .writes import REPLACED_BODY_GRACE

logger = logging.getLogger("httpcache")


class Reads:
    """The read path of one cache, handed the parts it works with."""

    def __init__(
        self,
        client: Client,
        keys: Keyspace,
        index: Index,
        memo: HeadMemo,
        counters: Counters,
        owner: object,
        max_size: Callable[[], int | None],
    ) -> None:
        self.client = client
        self.keys = keys
        self.index = index
        self.memo = memo
        self.counters = counters
        self.owner = owner
        self._max_size = max_size

    def find(self, primary_key: str) -> list[Entry]:
        usual_head, variants, _ = self.keys.entry(primary_key, primary_key)
        with storage_errors(self.owner, "look up"):
            # One round trip in the usual case: the only variant's key is the primary key
            # (its head comes with its inline body, for the hit that follows).
            found_members, usual = self._lookup(primary_key, variants, usual_head)
            if isinstance(found_members, Exception):
                if not wrong_type(found_members):
                    raise found_members
                warn_damaged(self.owner, variants, found_members)
                return []
            if not found_members:
                self.memo.forget(primary_key)  # gone: forget what this thread last read
                return []
            members = sorted(text(m) for m in found_members)
            others = [(primary_key, key) for key in members if key != primary_key]
            read = iter(self.read_heads(others, body=True, touch=True) if others else [])
            heads = [
                self._parse(primary_key, key, usual) if key == primary_key else next(read)
                for key in members
            ]
            absent = [key for key, head in zip(members, heads, strict=True) if head is None]
            if absent:  # their entries expired: tidy the set (only if still absent)
                head_keys = [self.keys.head(primary_key, key) for key in absent]
                run_script(self.client, "drop_absent", [variants, *head_keys], absent)
        damaged = [
            (key, head.raw)
            for key, head in zip(members, heads, strict=True)
            if isinstance(head, Damaged)
        ]
        if damaged:  # a miss, warned about once: the entry goes
            self._remove_damaged(primary_key, damaged)
        found = [head for head in heads if isinstance(head, Head)]
        for head in found:
            self.memo.remember(head)
        return [head.entry for head in found]

    def _lookup(self, primary_key: str, variants: str, usual_head: str) -> tuple[Any, Any]:
        """The variant set's members and the usual head's fields (each may be an
        error), in one round trip that records the use and carries the counts."""
        used = self._max_size() is not None
        if self.index.cluster:  # a pipeline sends each slot's commands to its node
            pipe = self.client.pipeline(transaction=False)
            pipe.smembers(variants)
            pipe.hmget(usual_head, HEAD_AND_BODY)
            if used:
                pipe.zadd(self.keys.lru, {primary_key: time.time()}, xx=True)
            self.counters.send(pipe)
            members, usual = pipe.execute(raise_on_error=False)[:2]
            return members, usual
        commands: list[tuple[Any, ...]] = [
            ("SMEMBERS", variants),
            ("HMGET", usual_head, *HEAD_AND_BODY),
        ]
        if used:
            commands.append(("ZADD", self.keys.lru, "XX", repr(time.time()), primary_key))
        hits, misses = self.counters.take()
        if hits:
            commands.append(("HINCRBY", self.keys.stats, "hits", hits))
        if misses:
            commands.append(("HINCRBY", self.keys.stats, "misses", misses))
        members, usual = send_all(self.client, commands)[:2]
        return members, usual

    def _remove_damaged(self, primary_key: str, damaged: list[tuple[str, bytes]]) -> None:
        """Delete entries whose heads were found unusable, each only if its head is
        still the one read, and their index rows."""
        grace = int(REPLACED_BODY_GRACE * 1000)
        try:
            with storage_errors(self.owner, "remove a damaged entry"):
                batch = Batch(self.client)
                for key, raw in damaged:
                    head_key, variants, body_prefix = self.keys.entry(primary_key, key)
                    batch.eval("delete", [head_key, variants, body_prefix], [key, grace, raw])
                done = [
                    (key, r)
                    for (key, _), r in zip(damaged, batch.execute(), strict=True)
                    if isinstance(r, list) and r[0] == 1
                ]
                if done:
                    self.index.remove([(key, b"") for key, _ in done])
                    self.index.count_retired(r[1:] for _, r in done)
        except StorageError as exc:  # it stays a miss
            logger.debug("%s", exc)

    def _parse(self, primary_key: str, key: str, result: Any) -> Head | Damaged | None:
        return parse_head(self.owner, self.keys.head(primary_key, key), primary_key, key, result)

    def read_heads(
        self, wanted: list[tuple[str, str]], body: bool = False, touch: bool = False
    ) -> list[Head | Damaged | None]:
        """Heads of (primary key, key) pairs: a ``Head``, ``None`` (absent) or
        ``Damaged`` (unreadable, logged). One round trip. ``body``: with inline bodies;
        ``touch``: record the use for ``max_size``."""
        pipe = self.client.pipeline(transaction=False)
        fields = HEAD_AND_BODY if body else HEAD_FIELDS
        for primary_key, key in wanted:
            pipe.hmget(self.keys.head(primary_key, key), fields)
        if touch and self._max_size() is not None and wanted:
            now = time.time()
            pipe.zadd(self.keys.lru, {key: now for _, key in wanted}, xx=True)
        results = pipe.execute(raise_on_error=False)
        return [
            self._parse(pk, key, result) for (pk, key), result in zip(wanted, results, strict=False)
        ]

    def locate(self, key: str) -> Head | None:
        """The head stored under ``key`` (with its inline body), found through its index
        row. The usual case, an entry without Vary (key == primary key), is read in the
        same round trip; it is also where an entry whose row is missing is looked for.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self.keys.meta, key)
        pipe.hmget(self.keys.head(key, key), HEAD_AND_BODY)
        self.counters.send(pipe)
        raw, usual = pipe.execute(raise_on_error=False)[:2]
        if isinstance(raw, Exception):
            raise raw
        row = self.index.row(key, raw) if raw is not None else None
        if row is None or row.primary_key == key:
            head = self._parse(key, key, usual)
        else:
            [head] = self.read_heads([(row.primary_key, key)], body=True)
        return head if isinstance(head, Head) else None

    def body_of(self, head: Head) -> BinaryIO | None:
        """A stream of the body of ``head``: its inline body, else its generation's list
        (``None`` if that is gone); a body read whole is checked against its CRC-32."""
        if head.chunks == 0:
            if head.body is None:  # not read with the head: read it, if still that one
                head_key = self.keys.head(head.primary_key, head.entry.key)
                gen, inline = cast("list[bytes | None]", self.client.hmget(head_key, ["g", "b"]))
                if gen is None or text(gen) != head.gen or inline is None:
                    return None
                if len(inline) != head.size:
                    raise ChecksumMismatchError(head_key, f"{len(inline)} bytes, not {head.size}")
                return cast(BinaryIO, io.BytesIO(verified(inline, head.crc, head_key)))
            return cast(BinaryIO, io.BytesIO(head.body))
        body_key = self.keys.entry(head.primary_key, head.entry.key)[2] + head.gen
        try:
            first = cast("bytes | None", self.client.lindex(body_key, 0))
        except redis.ResponseError as exc:
            if not wrong_type(exc):
                raise
            warn_damaged(self.owner, body_key, exc)
            return None
        if first is None:  # deleted since, or replaced long ago
            return None
        if head.chunks == 1:
            if len(first) != head.size:
                raise ChecksumMismatchError(body_key, f"{len(first)} bytes, not {head.size}")
            return cast(BinaryIO, io.BytesIO(verified(first, head.crc, body_key)))
        return cast(BinaryIO, BodyStream(self.client, body_key, head, first))
