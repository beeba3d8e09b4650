"""Storing entries in Redis: chunks of a body as they come, then one call that swaps
the head and writes the index row (one script on a server, its arguments in one
msgpack array; on a cluster the two slots' scripts go to their nodes in parallel),
then eviction past ``max_size`` and a little pruning of the index. Where nothing
needs its answer, the call is sent and its reply read later (see ``unread``).

TTLs: every key of an entry lives until its ``stale_until`` (at least ``min_ttl``
seconds, to allow for clocks of several machines); ``None`` means no TTL.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import msgpack

from ...errors import DeserializationError, StorageError
from ...models import Entry
from ...serialize import dumps_entry
from . import index as index_module
from .counters import Counters
from .heads import HEAD_FORMAT, HeadMemo, pack_head
from .index import Index
from .keyspace import Keyspace
from .rows import load_row
from .scripts import REDIS_ERRORS, Batch, Client, raise_errors, run_script, storage_errors
from .unread import Unread

logger = logging.getLogger("httpcache")

#: TTL of the chunks of a body being written, renewed with every chunk.
PENDING_TTL = 600.0
#: A replaced or deleted body stays readable this long, for readers in the middle of
#: it (another thread or process streaming a hit); then Redis drops it.
REPLACED_BODY_GRACE = 60.0
GRACE_MS = str(int(REPLACED_BODY_GRACE * 1000))
HEAD_FORMAT_TEXT = str(HEAD_FORMAT)


def _vary_flag(entry: Entry) -> str:
    """What the scripts take: "1" for a Vary variant, whose key joins its resource's
    variant set; "0" for an entry without Vary, found under its primary key."""
    return "1" if entry.key != entry.primary_key else "0"


def queue_delete(batch: Batch, keys: Keyspace, primary_key: str, key: str) -> None:
    head_key, variants, body_prefix = keys.entry(primary_key, key)
    args = [key, int(REPLACED_BODY_GRACE * 1000)]
    batch.eval("delete", [head_key, variants, body_prefix], args)


class Writes:
    """The write path of one cache, handed the parts it works with."""

    def __init__(
        self,
        client: Client,
        keys: Keyspace,
        index: Index,
        memo: HeadMemo,
        counters: Counters,
        owner: object,
        settings: Callable[[], tuple[int | None, float]],
        delete_keys: Callable[[Iterable[str]], int],
    ) -> None:
        """``settings()``: the cache's ``max_size`` and ``min_ttl`` now."""
        self.client = client
        self.keys = keys
        self.index = index
        self.memo = memo
        self.counters = counters
        self.owner = owner
        self._settings = settings
        self._delete_keys = delete_keys
        self._commits = 0
        #: Stores sent without waiting for their reply (see ``unread``).
        self.unread = Unread(client, owner)

    def ttl_ms(self, entry: Entry, now: float) -> int:
        """Milliseconds until Redis may drop the entry; 0 for never."""
        if entry.stale_until is None:
            return 0
        _, min_ttl = self._settings()
        return math.ceil(max(entry.stale_until - now, min_ttl) * 1000)

    def push_chunk(self, body_key: str, chunk: bytes) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(body_key, chunk)
        pipe.pexpire(body_key, int(PENDING_TTL * 1000))
        pipe.execute()

    def commit(self, entry: Entry, gen: str, pushed: int, tail: bytes, crc: int) -> int:
        """Head swap and index row in one round trip (one script on a server; on a
        cluster the two slots' scripts in parallel); returns the total cost for
        ``max_size``."""
        head_key, variants, body_prefix = self.keys.entry(entry.primary_key, entry.key)
        data = dumps_entry(entry)
        now = time.time()
        ttl = self.ttl_ms(entry, now)
        row = self.index.row_args(entry, len(data), now, ttl)
        chunks = pushed + 1 if pushed and tail else pushed
        inline = b"" if pushed else tail
        value = pack_head(data, gen, chunks, entry.size, entry.created_at, crc, inline)
        tail = tail if pushed else b""
        vary = _vary_flag(entry)
        args = [gen, value, str(entry.size), str(pushed), tail, str(ttl), entry.key]
        args += [GRACE_MS, vary]
        keys = [head_key, variants, body_prefix + gen, body_prefix]
        self.memo.forget(entry.key)
        retired: list[object] = []
        if not self.index.cluster:
            hits, misses = self.counters.take()
            args[1] = args[4] = b""  # sent apart: not copied into the array
            row[5] = str(row[5])
            packed = msgpack.packb(
                [keys, args, self.keys.index, row, self.keys.stats, hits, misses],
                use_bin_type=False,  # Lua's cmsgpack reads no bin type
            )
            max_size, _ = self._settings()
            # Nothing waits for the reply of an inline body's store without max_size.
            on_reply = functools.partial(self._stored, entry.key, entry.primary_key)
            unread = self.unread
            waits = pushed or max_size is not None or "store" not in unread.loaded
            if not waits and unread.send("store", [packed, value, tail], on_reply):
                return 0
            status, total, old = run_script(self.client, "store", [], [packed, value, tail])
            unread.loaded.add("store")
        else:
            batch = Batch(self.client)
            batch.eval("index_put", self.keys.index, row)
            batch.eval("commit", keys, args)
            self.counters.send(batch.pipe)
            (total, old), (status, *retired) = raise_errors(batch.execute())[:2]
            if status != 1:
                self.index.remove([(entry.key, row[4])])
        if status != 1:
            raise StorageError(f"{self.owner!r}: the body of {entry.key} lost chunks before commit")
        if retired:
            self.index.count_retired([retired])
        self._moved(entry.key, entry.primary_key, old)
        return int(total)

    def freshen(self, entry: Entry, wait: bool = True) -> Entry | None:
        """Rewrite a stored head and its index row, keeping the body, only if the head
        still holds the response revalidated (same ``created_at``); return the entry
        as stored (the body's size is the stored one), None if gone or replaced.

        On one server, unless ``wait``, the call is sent and its reply read later
        (``unread``), and ``entry`` is returned: a body of another size, or an index
        row found gone, is then mended when the reply is read."""
        if not wait and not self.index.cluster and "freshen" in self.unread.loaded:
            packed, data = self._freshen_args(entry)
            on_reply = functools.partial(self._freshened, entry)
            if self.unread.send("freshen", [packed, data], on_reply):
                return entry
        return self._freshen_now(entry)

    def _freshen_parts(self, entry: Entry) -> tuple[list[str], list[Any], list[Any]]:
        """``update_head``'s keys and arguments (strings, and the entry's bytes second)
        and ``index_freshen``'s arguments, for ``entry``."""
        head_key, variants, body_prefix = self.keys.entry(entry.primary_key, entry.key)
        data = dumps_entry(entry)
        now = time.time()
        ttl = self.ttl_ms(entry, now)
        created = repr(entry.created_at)
        vary = _vary_flag(entry)
        args = [created, data, str(ttl), entry.key, str(entry.size), HEAD_FORMAT_TEXT, vary]
        row = self.index.row_args(entry, len(data), now, ttl)
        row[5] = str(row[5])  # the others are strings or bytes already
        return [head_key, variants, body_prefix], args, [*row, created]

    def _freshen_args(self, entry: Entry) -> tuple[bytes, bytes]:
        """The ``freshen`` script's two arguments for ``entry``."""
        keys, args, row = self._freshen_parts(entry)
        data, args[1] = args[1], ""  # sent apart: not copied into the array
        hits, misses = self.counters.take()
        packed = msgpack.packb(
            [keys, args, self.keys.index, row, self.keys.stats, hits, misses],
            use_bin_type=False,  # Lua's cmsgpack reads no bin type
        )
        return packed, data

    def _freshen_now(self, entry: Entry) -> Entry | None:
        stored = entry
        for _ in range(2):
            if self.index.cluster:
                status, rest, indexed = self._freshen_on_cluster(stored)
            else:
                reply = run_script(self.client, "freshen", [], list(self._freshen_args(stored)))
                self.unread.loaded.add("freshen")
                status, rest = reply[0], reply[1:]
                indexed = rest[0] if status == 1 else 0
            if status != 2:
                break
            stored = replace(stored, size=int(rest[0]))  # the body's size is the stored one
        if status != 1:
            return None  # gone, or another response stored since
        if indexed == -1:  # the row had gone (pruned): the entry gets one again
            self._index_again(stored)
        return stored

    def _freshen_on_cluster(self, entry: Entry) -> tuple[int, list[Any], int]:
        """``update_head`` and ``index_freshen``, each on its slot's node, in parallel."""
        keys, args, row = self._freshen_parts(entry)
        batch = Batch(self.client)
        batch.eval("update_head", keys, args)
        batch.eval("index_freshen", self.keys.index, row)
        self.counters.send(batch.pipe)
        (status, *rest), indexed = raise_errors(batch.execute())[:2]
        return status, rest, indexed

    def _index_again(self, entry: Entry) -> None:
        data = dumps_entry(entry)
        now = time.time()
        row = self.index.row_args(entry, len(data), now, self.ttl_ms(entry, now))
        run_script(self.client, "index_put", self.keys.index, row)

    def _moved(self, key: str, primary_key: str, old: bytes) -> None:
        """Drop the entry the key had under another primary key (``old``: its row)."""
        old_row = None
        with contextlib.suppress(DeserializationError):  # a damaged row is replaced anyway
            old_row = load_row(key, old) if old else None
        if old_row and old_row.primary_key != primary_key:
            batch = Batch(self.client)
            queue_delete(batch, self.keys, old_row.primary_key, key)
            self.index.count_retired(result[1:] for result in raise_errors(batch.execute()))

    def _stored(self, key: str, primary_key: str, reply: list[Any]) -> None:
        """The reply of a store sent without waiting (see ``unread``)."""
        status, _, old = reply
        if status == 1:
            self._logged("store", lambda: self._moved(key, primary_key, old))

    def _freshened(self, entry: Entry, reply: list[Any]) -> None:
        """The reply of a freshening sent without waiting: a body of another size is
        freshened with it, an index row found gone is put back."""
        status, *rest = reply
        if status == 2:
            stored = replace(entry, size=int(rest[0]))
            self._logged("update a head", lambda: self._freshen_now(stored))
        elif status == 1 and rest[0] == -1:
            self._logged("update a head", lambda: self._index_again(entry))

    def _logged(self, what: str, call: Callable[[], object]) -> None:
        """``call``, whose failure is a logged warning: a reply read later has no
        caller left to fail."""
        try:
            with storage_errors(self.owner, what):
                call()
        except StorageError as exc:
            logger.warning("%s", exc)

    def after_commit(self, total: int) -> None:
        """Eviction and a little index pruning: the entry is stored whatever happens here."""
        self._commits += 1
        max_size, _ = self._settings()
        try:
            with storage_errors(self.owner, "evict"):
                if max_size is not None:
                    ratio = self.index.memory_ratio(self._commits)
                    if total * ratio > max_size:
                        self.index.evict(total, max_size, ratio, self._delete_keys)
                if self._commits % index_module.PRUNE_EVERY == 0:
                    self.index.prune_some()
        except StorageError as exc:
            logger.warning("%s", exc)

    def discard(self, body_key: str) -> None:
        """Drop a body that will not be committed (its TTL is the safety net)."""
        try:
            self.client.unlink(body_key)
        except REDIS_ERRORS as exc:
            logger.debug(
                "%r: could not discard %s (%s); it expires by itself", self.owner, body_key, exc
            )
