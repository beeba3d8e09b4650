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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, cast

import msgpack
import redis

from ...errors import DeserializationError
from ...models import Entry
from .heads import LINE_MAX, unpack_head
from .keyspace import Keyspace, text
from .rows import Row, load_row, older_row, row_bytes
from .scripts import (
    DIGESTS,
    REDIS_ERRORS,
    Client,
    batches,
    read_replies,
    run_script,
    storage_errors,
    take_connection,
)

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
        return self._pages(_Scan(self))

    def rows_by_expiry(self, expired: bool, now: float) -> Iterator[list[Row]]:
        return self._pages(self._by_expiry(expired, now))

    def _by_expiry(self, expired: bool, now: float) -> _Batches:
        return _Batches(self, self.expired_keys(now) if expired else self._fresh_keys(now))

    def _pages(self, listing: _Listing) -> Iterator[list[Row]]:
        """The pages of ``listing``, a round trip each."""
        call = listing.first()
        while call is not None:
            with storage_errors(self.owner, "list"):
                reply = run_script(self.client, *call)
            call = listing.after(reply)
            page = listing.rows(reply)
            if page:
                yield page

    def rows_of(self, keys: list[str]) -> list[Row]:
        """The readable index rows of these keys (a page of them)."""
        with storage_errors(self.owner, "list"):
            return self.found_rows(keys, run_script(self.client, *rows_call(self.keys, keys)))

    def found_rows(self, keys: list[str], reply: bytes) -> list[Row]:
        """The readable rows of these keys in the reply of ``index_rows``."""
        raws = msgpack.unpackb(reply, raw=True)
        rows = [self.row(key, raw) for key, raw in zip(keys, raws, strict=True) if raw]
        return [row for row in rows if row is not None]

    def scanned_rows(self, reply: list[bytes], seen: set[str]) -> list[Row]:
        """The readable rows of an ``index_scan`` reply not in ``seen`` (added to it:
        ``HSCAN`` may return a key twice); damaged rows are pruned."""
        page = []
        unreadable = []
        for key, raw in zip(
            unpack_keys(reply[1]), msgpack.unpackb(reply[2], raw=True), strict=True
        ):
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
        return page

    def expired_keys(self, now: float) -> list[str]:
        return self._keys_scored("-inf", repr(now))

    def _fresh_keys(self, now: float) -> list[str]:
        return self._keys_scored(f"({now!r}", "+inf")

    def _keys_scored(self, low: str, high: str) -> list[str]:
        """The keys whose ``expires`` is within these bounds."""
        with storage_errors(self.owner, "list"):
            packed = run_script(self.client, "index_range", [self.keys.expires], [low, high])
        return unpack_keys(packed)

    def live_rows(
        self, expired: bool | None, now: float, wanted: Callable[[Row], bool] | None
    ) -> Iterator[Row]:
        """Index rows passing ``wanted`` whose entry still exists."""
        wall = time.time()

        def chosen(page: list[Row]) -> list[Row]:
            return [r for r in page if r.alive_at(wall) and (wanted is None or wanted(r))]

        if self.cluster:
            pages = self.row_pages() if expired is None else self.rows_by_expiry(expired, now)
            for page in pages:
                yield from self.alive(chosen(page))
        else:
            listing = _Scan(self) if expired is None else self._by_expiry(expired, now)
            yield from self._streamed(listing, chosen)
        self.prune_pending()

    def _streamed(
        self, listing: _Listing, chosen: Callable[[list[Row]], list[Row]]
    ) -> Iterator[Row]:
        """The rows of ``listing`` chosen and still alive, on one server. Once ``2 *
        PAGE`` rows are read (pages before are read alone: a caller may want only
        the first screenful), the call for each page and the existence check of the
        page before it are sent before that page is read: the server runs them while
        the client reads it."""
        call = listing.first()
        if call is None:
            return
        with _Stream(cast("redis.Redis", self.client), self.owner) as stream:
            stream.send(call)
            asked: list[Row] = []  # rows whose check is sent, answered after the next page
            read = 0
            while call is not None:
                reply = stream.read()
                call = listing.after(reply)
                ahead = read >= 2 * PAGE  # the next page's call goes before this page's check
                if call is not None and ahead:
                    stream.send(call)
                page = listing.rows(reply)
                read += len(page)
                rows = chosen(page)
                if rows:
                    stream.send(self._exists_call(rows))
                if asked:
                    yield from self._living(asked, stream.read())
                asked = rows
                if not ahead:  # this page alone
                    if asked:
                        yield from self._living(asked, stream.read())
                        asked = []
                    if call is not None:
                        stream.send(call)
            if asked:
                yield from self._living(asked, stream.read())

    def _exists_call(self, rows: list[Row]) -> Call:
        """One server: whether the head of each row exists, in one call."""
        heads = [self.keys.head(row.primary_key, row.key) for row in rows]
        return "exists_each", [], [msgpack.packb(heads, use_bin_type=True)]

    def _exist(self, rows: list[Row]) -> list[bool]:
        """Whether the head of each row exists: one call on one server, a pipeline of
        ``EXISTS`` on a cluster (the keys are in many slots)."""
        if not self.cluster:
            return existing(run_script(self.client, *self._exists_call(rows)))
        pipe = self.client.pipeline(transaction=False)
        for row in rows:
            pipe.exists(self.keys.head(row.primary_key, row.key))
        return [bool(n) for n in pipe.execute()]

    def alive(self, rows: list[Row]) -> list[Row]:
        """The rows whose head still exists (one round trip); the others are noted
        for pruning."""
        if not rows:
            return []
        with storage_errors(self.owner, "list"):
            exist = self._exist(rows)
        return self._living(rows, exist)

    def _living(self, rows: list[Row], exist: Sequence[bool] | bytes) -> list[Row]:
        """The rows whose head exists (``exists_each``'s reply, or a bool each); the
        others are noted for pruning."""
        if isinstance(exist, bytes):
            exist = existing(exist)
        alive = []
        for row, exists in zip(rows, exist, strict=True):
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


#: A script call: its name, keys and arguments.
Call = tuple[str, list[str], list[Any]]


def rows_call(keyspace: Keyspace, keys: list[str]) -> Call:
    """The call of ``index_rows`` for these keys."""
    return "index_rows", [keyspace.meta], [msgpack.packb(keys, use_bin_type=True)]


class _Listing(Protocol):
    """A listing of index rows, a script call a page: the first call, the next one
    (None: the last page) and the rows of a page, given the page's reply."""

    def first(self) -> Call | None: ...

    def after(self, reply: Any) -> Call | None: ...

    def rows(self, reply: Any) -> list[Row]: ...


class _Scan:
    """Every row, an ``index_scan`` page at a time: ``FIRST_PAGE`` rows, then each
    page twice the last, up to ``2 * PAGE``."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.seen: set[str] = set()
        self.count = FIRST_PAGE

    def first(self) -> Call:
        return "index_scan", [self.index.keys.meta], [b"0", self.count]

    def after(self, reply: list[bytes]) -> Call | None:
        if reply[0] == b"0":  # the cursor: back at the start
            return None
        self.count = min(2 * self.count, 2 * PAGE)
        return "index_scan", [self.index.keys.meta], [reply[0], self.count]

    def rows(self, reply: list[bytes]) -> list[Row]:
        return self.index.scanned_rows(reply, self.seen)


class _Batches:
    """The rows of these keys, ``PAGE`` at a time."""

    def __init__(self, index: Index, keys: list[str]) -> None:
        self.index = index
        self.batches = batches(keys, PAGE)
        self.asked: deque[list[str]] = deque()  # the keys of each call sent, in order

    def first(self) -> Call | None:
        batch = next(self.batches, None)
        if batch is None:
            return None
        self.asked.append(batch)
        return rows_call(self.index.keys, batch)

    def after(self, reply: bytes) -> Call | None:
        return self.first()

    def rows(self, reply: bytes) -> list[Row]:
        return self.index.found_rows(self.asked.popleft(), reply)


class _Stream:
    """Script calls sent on one connection without waiting for their replies, read
    later in the order sent (one server). A caller who stops early leaves replies
    unread: they are read before the connection goes back to the pool."""

    def __init__(self, client: redis.Redis, owner: object) -> None:
        self.client = client
        self.owner = owner
        self.sent: deque[Call] = deque()
        self.connection: Any = None

    def __enter__(self) -> _Stream:
        with storage_errors(self.owner, "list"):
            self.connection = take_connection(self.client.connection_pool)
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None or kind is GeneratorExit:  # done, or the caller stopped
                read_replies(self.connection, len(self.sent))
            else:  # replies may be missing
                self.connection.disconnect()
        except REDIS_ERRORS:
            self.connection.disconnect()
        finally:
            self.client.connection_pool.release(self.connection)

    def send(self, call: Call) -> None:
        name, keys, args = call
        with storage_errors(self.owner, "list"):
            self.connection.send_command("EVALSHA", DIGESTS[name], len(keys), *keys, *args)
        self.sent.append(call)

    def read(self) -> Any:
        """The reply of the oldest call not read yet."""
        call = self.sent.popleft()
        with storage_errors(self.owner, "list"):
            try:
                return self.connection.read_response()
            except redis.exceptions.NoScriptError:  # the server lost it: loaded, run again
                return run_script(self.client, *call)


def existing(reply: bytes) -> list[bool]:
    """Whether each key exists, from the reply of ``exists_each``."""
    return [n == 49 for n in reply]  # b"1"


def unpack_keys(packed: bytes) -> list[str]:
    """Key names packed by a script (msgpack strings), as ``text`` reads them."""
    return cast("list[str]", msgpack.unpackb(packed, raw=False, unicode_errors="surrogateescape"))


def pairs(keys: list[str], raws: list[bytes] | None = None) -> list[str | bytes]:
    args: list[str | bytes] = []
    for n, key in enumerate(keys):
        args += [key, raws[n] if raws is not None else b""]
    return args
