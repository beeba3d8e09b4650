"""Reading entries from Redis.

A lookup is one pipeline in the usual case: the set of Vary variants and the head
stored under the primary key (an entry without Vary), with its inline body. Serving
the hit that follows needs no round trip: head and body came in the same value, and
the head is remembered (``HeadMemo``) for ``open_entry``. A lookup that finds a
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

from ...errors import ChecksumMismatchError, DeserializationError, StorageError
from ...models import Entry
from .._checksum import verified
from .._files.frames import HeadMemo as Decoded
from .bodies import BodyStream
from .counters import Counters
from .heads import (
    HEAD_READ,
    Damaged,
    Head,
    HeadMemo,
    IncompleteHead,
    parse_head,
    unpack_head,
    warn_damaged,
    wrong_type,
)
from .index import Index
from .keyspace import Keyspace, text
from .scripts import Batch, Client, run_script, send_all, storage_errors
from .unread import Unread
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
        #: The write path's stores sent without waiting (set once both paths exist).
        self.unread: Unread | None = None
        #: Entries decoded lately, by the bytes they were decoded from.
        self.decoded = Decoded()

    def find(self, primary_key: str) -> list[Entry]:
        usual_key, variants, _ = self.keys.entry(primary_key, primary_key)
        with storage_errors(self.owner, "look up"):
            # One round trip in the usual case, an entry without Vary: its head (with
            # its inline body, for the hit that follows) is under the primary key.
            found_members, usual = self._lookup(primary_key, variants, usual_key)
            if isinstance(found_members, Exception):
                if not wrong_type(found_members):
                    raise found_members
                # Not a set: the Vary variants are lost (each is stored again in a set
                # when next fetched); the entry without Vary is still found.
                warn_damaged(self.owner, variants, found_members)
                run_script(self.client, "sane_set", [variants], [])
                found_members = []
            members = {text(m) for m in found_members}
            usual_head = self._parse(primary_key, primary_key, usual)
            if usual_head is None and not members:
                self.memo.forget(primary_key)  # gone: forget what this thread last read
                return []
            others = sorted(members - {primary_key})
            wanted = [(primary_key, key) for key in others]
            read = self.read_heads(wanted, body=True, touch=True) if wanted else []
            heads = dict(zip(others, read, strict=True))
            heads[primary_key] = usual_head
            # Members of the set whose entries expired: tidy it (only if still absent).
            absent = sorted(key for key in members if heads[key] is None)
            if absent:
                head_keys = [self.keys.head(primary_key, key) for key in absent]
                run_script(self.client, "drop_absent", [variants, *head_keys], absent)
        damaged = [(key, head.raw) for key, head in heads.items() if isinstance(head, Damaged)]
        if damaged:  # a miss, warned about once: the entry goes
            self._remove_damaged(primary_key, damaged)
        found = [heads[key] for key in sorted(heads)]
        usable = [head for head in found if isinstance(head, Head)]
        for head in usable:
            self.memo.remember(head)
        return [head.entry for head in usable]

    def _lookup(self, primary_key: str, variants: str, usual_head: str) -> tuple[Any, Any]:
        """The variant set's members and the usual head's value (each may be an
        error), in one round trip that records the use and carries the counts."""
        used = self._max_size() is not None
        if self.index.cluster:  # a pipeline sends each slot's commands to its node
            pipe = self.client.pipeline(transaction=False)
            pipe.smembers(variants)
            pipe.get(usual_head)
            if used:
                pipe.zadd(self.keys.lru, {primary_key: time.time()}, xx=True)
            self.counters.send(pipe)
            members, usual = pipe.execute(raise_on_error=False)[:2]
            return members, usual
        commands: list[tuple[Any, ...]] = [
            ("SMEMBERS", variants),
            ("GET", usual_head),
        ]
        if used:
            commands.append(("ZADD", self.keys.lru, "XX", repr(time.time()), primary_key))
        # Behind this thread's store, if one is unread: its reply comes in the same trip.
        # Such a lookup may be sent twice (see ``send_behind``), so the counts wait for
        # a call sent once (the next store carries them, or the next lookup).
        unread = self.unread
        pending = unread.claim() if unread is not None else None
        if unread is not None and pending is not None:
            replies = unread.send_behind(pending, commands)
            if replies is None:
                replies = send_all(self.client, commands)
        else:
            hits, misses = self.counters.take()
            if hits:
                commands.append(("HINCRBY", self.keys.stats, "hits", hits))
            if misses:
                commands.append(("HINCRBY", self.keys.stats, "misses", misses))
            replies = send_all(self.client, commands)
        members, usual = replies[:2]
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

    def _parse(
        self, primary_key: str, key: str, result: Any, whole: bool = True
    ) -> Head | Damaged | None:
        where = self.keys.head(primary_key, key)
        return parse_head(self.owner, where, primary_key, key, result, whole, self.decoded)

    def read_heads(
        self, wanted: list[tuple[str, str]], body: bool = False, touch: bool = False
    ) -> list[Head | Damaged | None]:
        """Heads of (primary key, key) pairs: a ``Head``, ``None`` (absent) or
        ``Damaged`` (unreadable, logged). One round trip, two for an entry larger
        than ``HEAD_READ`` read without its body. ``body``: with inline bodies;
        ``touch``: record the use for ``max_size``."""
        pipe = self.client.pipeline(transaction=False)
        for primary_key, key in wanted:
            if body:
                pipe.get(self.keys.head(primary_key, key))
            else:
                pipe.getrange(self.keys.head(primary_key, key), 0, HEAD_READ - 1)
        if touch and self._max_size() is not None and wanted:
            now = time.time()
            pipe.zadd(self.keys.lru, {key: now for _, key in wanted}, xx=True)
        results = pipe.execute(raise_on_error=False)
        heads: list[Head | Damaged | None] = []
        longer: list[int] = []
        for (primary_key, key), result in zip(wanted, results, strict=False):
            try:
                heads.append(self._parse(primary_key, key, result, whole=body))
            except IncompleteHead:
                longer.append(len(heads))
                heads.append(None)
        if longer:  # their entries did not fit in HEAD_READ bytes: read them whole
            again = self.read_heads([wanted[n] for n in longer], body=True)
            for n, head in zip(longer, again, strict=True):
                heads[n] = head
        return heads

    def locate(self, key: str) -> Head | None:
        """The head stored under ``key`` (with its inline body), found through its index
        row. The usual case, an entry without Vary (key == primary key), is read in the
        same round trip; it is also where an entry whose row is missing is looked for.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self.keys.meta, key)
        pipe.get(self.keys.head(key, key))
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
                value = cast("bytes | None", self.client.get(head_key))
                try:
                    stored = unpack_head(value) if value else None
                except DeserializationError:
                    stored = None
                if stored is None or stored.gen != head.gen or stored.chunks != 0:
                    return None
                inline = stored.body
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
