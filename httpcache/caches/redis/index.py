"""The Redis cache's index: rows for listing and counting, pruning, and ``max_size``.

The index is best-effort: a row whose entry Redis dropped by its TTL is not listed
nor counted, and is pruned a little at a time by commits; a row whose entry vanished
otherwise (eviction under ``maxmemory``, a hand-made ``DEL``) is skipped by listings
and, once older than ``PRUNE_GRACE``, pruned (``len`` counts it until then).

``max_size`` bounds the memory Redis uses for the namespace's keys, as ``MEMORY
USAGE`` counts it (allocator rounding and the index included), not only the bytes of
bodies and heads: every ``MEASURE_EVERY`` commits, a sample of entries is measured
and the ratio of memory to counted bytes kept. Eviction removes least recently used
entries until the counted total, times that ratio, is within ``max_size``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import msgpack

from ...errors import DeserializationError
from ...models import Entry
from .heads import LINE_MAX, unpack_head
from .keyspace import Keyspace, text
from .rows import Row, load_row, older_row, row_bytes
from .scripts import REDIS_ERRORS, Client, batches, run_script, storage_errors

logger = logging.getLogger("httpcache")

#: An index row without an entry is pruned once it is this old (a commit in flight
#: writes its row just before its head), or this long after its TTL ran out (clocks).
PRUNE_GRACE = 60.0
#: Keys handled per round trip when listing or deleting.
PAGE = 500
#: The rows asked for by a listing's first call (``row_pages``).
FIRST_PAGE = 50
#: Commits between two small prunings of the index.
PRUNE_EVERY = 64
#: Expired rows whose entry's existence one pruning checks.
PRUNE_SAMPLE = 32
#: Commits between two measures of the memory entries take, and entries sampled.
MEASURE_EVERY = 64
MEASURE_SAMPLE = 16
#: Before a first measure: what a counted byte is assumed to take in memory.
ASSUMED_RATIO = 1.5
#: Past ``max_size``, entries go until this share of it is left.
EVICT_TO = 0.9


class Index:
    """The index of one namespace (see the module's text)."""

    def __init__(self, client: Client, keyspace: Keyspace, cluster: bool, owner: object) -> None:
        self.client = client
        self.keys = keyspace
        self.cluster = cluster
        self.owner = owner  # named in log lines and errors
        self._local = threading.local()
        self._sample_offset = 0
        #: Memory per counted byte, as last measured (None: not yet).
        self.ratio: float | None = None
        self._measured_at = 0

    # ---- rows -----------------------------------------------------------------------

    def row_args(self, entry: Entry, head_size: int, now: float, ttl: int) -> list[Any]:
        """What ``index_put`` takes for ``entry`` (its TTL ``ttl`` ms from ``now``)."""
        gone_at = now + ttl / 1000 if ttl else None
        expires = "+inf" if entry.expires is None else repr(entry.expires)
        gone = "+inf" if gone_at is None else repr(gone_at)
        raw = row_bytes(entry, now, gone_at)
        return [entry.key, expires, gone, repr(now), raw, entry.size + head_size]

    def remove(self, rows: list[tuple[str, bytes]]) -> None:
        """Remove index rows; a row given with its bytes only if it is still that row."""
        for start in range(0, len(rows), PAGE):
            page = rows[start : start + PAGE]
            args = pairs([key for key, _ in page], [raw for _, raw in page])
            run_script(self.client, "index_remove", self.keys.index, args)

    def row(self, key: str, raw: bytes) -> Row | None:
        try:
            return load_row(key, raw)
        except DeserializationError as exc:
            if older_row(raw):
                logger.debug("%r: index row of %s is of an older format", self.owner, key)
            else:
                logger.warning(
                    "%r: unreadable value at %s (%s); treated as a miss",
                    self.owner,
                    f"{self.keys.meta}[{key}]",
                    exc,
                )
            return None

    def row_pages(self) -> Iterator[list[Row]]:
        """Every readable index row, a page at a time (damaged rows are dropped).

        The first pages are small and each is twice the last, up to ``2 * PAGE``: a
        caller who wants the first screenful reads that much, one who lists
        everything still gets large pages."""
        cursor = 0
        seen: set[str] = set()
        count = FIRST_PAGE
        while True:
            with storage_errors(self.owner, "list"):
                reply = self.client.hscan(self.keys.meta, cursor, count=count)
                cursor, items = cast("tuple[int, dict[bytes, bytes]]", reply)
            count = min(2 * count, 2 * PAGE)
            page = []
            unreadable = []
            for name, raw in items.items():
                key = text(name)
                if key in seen:
                    continue
                seen.add(key)
                row = self.row(key, raw)
                if row is None:
                    unreadable.append((key, raw))
                else:
                    page.append(row)
            if unreadable:
                with storage_errors(self.owner, "prune the index"):
                    self.remove(unreadable)
            if page:
                yield page
            if cursor == 0:
                return

    def rows_by_expiry(self, expired: bool, now: float) -> Iterator[list[Row]]:
        keys = self.expired_keys(now) if expired else self._fresh_keys(now)
        for batch in batches(keys, PAGE):
            yield self.rows_of(batch)

    def rows_of(self, keys: list[str]) -> list[Row]:
        """The readable index rows of these keys."""
        with storage_errors(self.owner, "list"):
            raws = cast("list[bytes | None]", self.client.hmget(self.keys.meta, keys))
        rows = [self.row(key, raw) for key, raw in zip(keys, raws, strict=True) if raw]
        return [row for row in rows if row is not None]

    def expired_keys(self, now: float) -> list[str]:
        with storage_errors(self.owner, "list"):
            found = cast("list[bytes]", self.client.zrangebyscore(self.keys.expires, "-inf", now))
            return [text(k) for k in found]

    def _fresh_keys(self, now: float) -> list[str]:
        with storage_errors(self.owner, "list"):
            found = cast(
                "list[bytes]", self.client.zrangebyscore(self.keys.expires, f"({now!r}", "+inf")
            )
        return [text(k) for k in found]

    def live_rows(
        self, expired: bool | None, now: float, wanted: Callable[[Row], bool] | None
    ) -> Iterator[Row]:
        """Index rows passing ``wanted`` whose entry still exists."""
        pages = self.row_pages() if expired is None else self.rows_by_expiry(expired, now)
        wall = time.time()
        for page in pages:
            rows = [r for r in page if r.alive_at(wall) and (wanted is None or wanted(r))]
            yield from self.alive(rows)
        self.prune_pending()

    def _exist(self, head_keys: list[str]) -> list[bool]:
        """Whether each of these keys exists: one command on one server, a pipeline of
        ``EXISTS`` on a cluster (the keys are in many slots)."""
        if not self.cluster:
            names = msgpack.packb(head_keys, use_bin_type=True)
            return [n == 49 for n in run_script(self.client, "exists_each", [], [names])]
        pipe = self.client.pipeline(transaction=False)
        for key in head_keys:
            pipe.exists(key)
        return [bool(n) for n in pipe.execute()]

    def alive(self, rows: list[Row]) -> list[Row]:
        """The rows whose head still exists (one round trip); the others are noted
        for pruning."""
        if not rows:
            return []
        with storage_errors(self.owner, "list"):
            found = self._exist([self.keys.head(row.primary_key, row.key) for row in rows])
        alive = []
        for row, exists in zip(rows, found, strict=True):
            if exists:
                alive.append(row)
            else:
                self.prune_later(row)
        return alive

    # ---- pruning -------------------------------------------------------------------------

    def prune_later(self, row: Row) -> None:
        """Note a row without an entry; it goes once older than a commit in flight."""
        if row.indexed_at < time.time() - PRUNE_GRACE:
            pending = getattr(self._local, "prune", None)
            if pending is None:
                pending = self._local.prune = []
            pending.append((row.key, row.raw))

    def prune_pending(self) -> None:
        pending = getattr(self._local, "prune", None)
        if pending:
            self._local.prune = []
            with storage_errors(self.owner, "prune the index"):
                self.remove(pending)

    def prune_some(self) -> None:
        """Keep the index small: drop rows of entries whose TTL ran out (Redis dropped
        them), and check that a few long expired entries still exist."""
        cutoff = time.time() - PRUNE_GRACE
        run_script(self.client, "index_prune", self.keys.index, [repr(cutoff), PAGE])
        sample = cast(
            "list[bytes]",
            self.client.zrangebyscore(
                self.keys.expires, "-inf", cutoff, start=self._sample_offset, num=PRUNE_SAMPLE
            ),
        )
        if not sample and self._sample_offset:  # past the end: from the start again
            self._sample_offset = 0
            sample = cast(
                "list[bytes]",
                self.client.zrangebyscore(
                    self.keys.expires, "-inf", cutoff, start=0, num=PRUNE_SAMPLE
                ),
            )
        self._sample_offset = self._sample_offset + len(sample)
        if sample:
            self.alive(self.rows_of([text(k) for k in sample]))
            self.prune_pending()

    # ---- max_size --------------------------------------------------------------------------

    def memory_ratio(self, commits: int) -> float:
        """Memory per counted byte: measured at the first call, then every
        ``MEASURE_EVERY`` commits (a failed measure keeps the last one)."""
        if self.ratio is None or commits - self._measured_at >= MEASURE_EVERY:
            self._measured_at = commits
            try:
                measured = self._measure()
            except REDIS_ERRORS as exc:  # MEMORY or ZRANDMEMBER refused (old or managed Redis)
                logger.debug("%r: memory not measured: %s", self.owner, exc)
                measured = ASSUMED_RATIO if self.ratio is None else None
            if measured is not None:
                self.ratio = measured
        return ASSUMED_RATIO if self.ratio is None else self.ratio

    def _measure(self) -> float | None:
        """``MEMORY USAGE`` of a sample of entries (head, body list, variant set) and of
        the index, over what the index counts for them; None without entries."""
        client = self.client
        pipe = client.pipeline(transaction=False)
        pipe.zrandmember(self.keys.lru, MEASURE_SAMPLE)
        pipe.get(self.keys.bytes)
        for name in self.keys.index:
            pipe.memory_usage(name, samples=MEASURE_SAMPLE)
        sample, total, *index_memory = pipe.execute()
        keys = [text(k) for k in sample or ()]
        total = int(total or 0)
        if not keys or total <= 0:
            return None
        pipe = client.pipeline(transaction=False)
        pipe.hmget(self.keys.meta, keys)
        pipe.hmget(self.keys.sizes, keys)
        raws, costs = pipe.execute()
        found = [
            (row, int(cost))
            for key, raw, cost in zip(keys, raws, costs, strict=True)
            if raw and cost and (row := self.row(key, raw)) is not None
        ]
        if not found:
            return None
        pipe = client.pipeline(transaction=False)
        for row, _ in found:
            head, variants, _ = self.keys.entry(row.primary_key, row.key)
            pipe.memory_usage(head, samples=0)
            pipe.memory_usage(variants, samples=0)
            pipe.getrange(head, 0, LINE_MAX - 1)
        replies = pipe.execute(raise_on_error=False)
        memory = counted = 0
        lists = []
        for n, (row, cost) in enumerate(found):
            head_memory, set_memory, start = replies[3 * n : 3 * n + 3]
            if not head_memory or isinstance(head_memory, Exception):
                continue  # gone since
            memory += int(head_memory) + int(set_memory or 0)
            counted += cost
            if not isinstance(start, bytes):  # not a head of this format
                continue
            with contextlib.suppress(DeserializationError):
                line = unpack_head(start)
                if line.chunks > 0:
                    lists.append(self.keys.entry(row.primary_key, row.key)[2] + line.gen)
        if lists:
            pipe = client.pipeline(transaction=False)
            for name in lists:
                pipe.memory_usage(name, samples=0)
            memory += sum(int(m or 0) for m in pipe.execute())
        if counted <= 0:
            return None
        return memory / counted + sum(int(m or 0) for m in index_memory) / total

    def count_retired(self, retired: Iterable[Sequence[Any]]) -> None:
        """Count body lists put in their grace (name, size, ms left, as the entry
        scripts return them; an empty name: none) for ``max_size`` until they go."""
        args: list[Any] = []
        for name, size, left in retired:
            if name:
                args += [name, size, left]
        if args:
            run_script(
                self.client,
                "count_retired",
                [self.keys.grace, self.keys.bytes],
                [repr(time.time()), *args],
            )

    def drop_retired(self, wanted: int) -> bool:
        """Remove the body lists longest in their grace at once (a reader in the
        middle of one fails) until ``wanted`` bytes are freed; False if there were none."""
        keys = [self.keys.grace, self.keys.bytes]
        names = run_script(self.client, "drop_retired", keys, [wanted])
        if names:
            self.client.unlink(*names)
        return bool(names)

    def evict(
        self, total: int, max_size: int, ratio: float, delete_keys: Callable[[Iterable[str]], int]
    ) -> None:
        """Delete least recently used entries until ``total`` (what the index counts)
        times ``ratio`` fits ``max_size``, down to ``EVICT_TO`` of it. Body lists in
        their grace go first (they are no longer served); those of evicted entries
        enter their grace, so they go next if room is still needed."""
        goal = max_size * EVICT_TO / ratio
        while total > goal:
            if self.drop_retired(int(total - goal) + 1):
                total = int(self.client.get(self.keys.bytes) or 0)
                continue
            lru = cast("list[bytes]", self.client.zrange(self.keys.lru, 0, 31))
            oldest = [text(k) for k in lru]
            if not oldest:
                return
            costs = self.client.hmget(self.keys.sizes, oldest)
            victims = []
            for key, cost in zip(oldest, costs, strict=True):
                victims.append(key)
                total -= int(cost or 0)
                if total <= goal:
                    break
            delete_keys(victims)
            total = int(self.client.get(self.keys.bytes) or 0)


def pairs(keys: list[str], raws: list[bytes] | None = None) -> list[str | bytes]:
    args: list[str | bytes] = []
    for n, key in enumerate(keys):
        args += [key, raws[n] if raws is not None else b""]
    return args
