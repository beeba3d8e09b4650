"""RedisCache: one cache shared by threads, processes and machines through Redis.

It is composed of parts, each handed what it needs: ``Keyspace`` (key names),
``Reads`` and ``Writes`` (the two paths of the storage protocol), ``Index`` (rows
for listing and counting, pruning, ``max_size``), ``HeadMemo`` (the heads a thread
last read), ``Counters`` (hit and miss counts) and the scripts. Every ``redis``
failure leaves this package as ``StorageError``; damaged, foreign or older values
are a logged miss.

Outages: a client built here (from ``url``) has short socket timeouts and retries
once after at most 50 ms, so that a call meets a stale connection of its pool (after
a restart) only once, and a call while Redis is down fails within the timeouts; the
driver then uses the network and tries storage again at the next request (at most a
second later after a slow failure). Scripts are run by digest and loaded again where
the server lost them (a restart, ``SCRIPT FLUSH``, a failover).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, BinaryIO, cast

import msgpack
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ...errors import ConfigurationError, StorageError
from ...models import Entry
from ..base import BaseCache, BodyWriter, CacheStats, EntryInfo, host_of, url_matches
from .bodies import RedisWriter
from .clearing import Clearing
from .counters import Counters
from .heads import Head, HeadMemo
from .index import PAGE, Index, pairs
from .keyspace import Keyspace
from .reads import Reads
from .rows import Row
from .scripts import Batch, Client, batches, raise_errors, storage_errors
from .writes import REPLACED_BODY_GRACE, Writes, queue_delete

logger = logging.getLogger("httpcache")

#: Bodies are stored (and streamed back) in pieces of this many bytes; a body of at
#: most one piece is stored inline, in its head's hash.
CHUNK_SIZE = 1024 * 1024
#: The shortest TTL given to an entry (seconds).
MIN_TTL = 60.0
#: A client built here retries once, waiting at most this long (seconds).
BACKOFF_CAP = 0.05


class RedisCache(BaseCache):
    """A cache in Redis (or a Redis Cluster), under one namespace.

    ``connection`` is a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (created with
    ``decode_responses=False``, the default); without it, ``url`` builds one
    (``cluster=True`` for a cluster), else ``redis://localhost:6379``. Clients built
    here use short socket timeouts, retry once, and are closed by ``close()``.

    ``max_size`` bounds the memory Redis uses for this namespace's keys (see
    ``index``): least recently used entries go after each commit; only instances with
    a ``max_size`` record uses in ``find``, so give every process sharing a namespace
    the same setting. ``min_ttl`` is the shortest TTL an entry gets. ``chunk_size`` is
    the piece bodies are stored in.

    Hit and miss counts reach Redis with this instance's next round trip, or at
    ``flush_counters()``, ``lookup_counts()``, ``stats()``, ``close()`` and exit. A
    store on one server whose body is inline and without ``max_size`` does not wait
    for Redis's reply: it is read at this thread's next call, ``close()`` or exit.
    """

    def __init__(
        self,
        connection: Client | None = None,
        namespace: str = "http_cache",
        url: str | None = None,
        *,
        max_size: int | None = None,
        cluster: bool = False,
        chunk_size: int = CHUNK_SIZE,
        min_ttl: float = MIN_TTL,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 2.0,
    ) -> None:
        super().__init__(max_size)
        if not namespace or "{" in namespace or "}" in namespace:
            raise ConfigurationError(f"Redis namespace {namespace!r}: non-empty, without braces")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be a positive number of bytes")
        self.namespace = namespace
        self.chunk_size = chunk_size
        self.min_ttl = min_ttl
        self._owns_client = connection is None
        if connection is None:
            # Short timeouts and one quick retry (a pooled connection may be stale after
            # a Redis restart): when Redis is down, requests go to the network at once.
            options: dict[str, Any] = {
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_connect_timeout,
                "retry": Retry(ExponentialBackoff(cap=BACKOFF_CAP, base=0.01), 1),
            }
            cls = RedisCluster if cluster else redis.Redis
            with storage_errors(self, "connect"):
                if url is not None:
                    connection = cls.from_url(url, **options)
                else:
                    connection = cls(host="localhost", port=6379, **options)
        if connection.get_encoder().decode_responses:
            raise ConfigurationError("RedisCache needs a client with decode_responses=False")
        self.client: Client = connection
        self._cluster = isinstance(connection, RedisCluster)
        self.keyspace = Keyspace(namespace)
        self.counters = Counters(connection, self.keyspace.stats)
        self._memo = HeadMemo()
        self.index = Index(connection, self.keyspace, self._cluster, self)
        self._reads = Reads(
            connection, self.keyspace, self.index, self._memo, self.counters, self, self._limit
        )
        self._writes = Writes(
            connection,
            self.keyspace,
            self.index,
            self._memo,
            self.counters,
            self,
            lambda: (self.max_size, self.min_ttl),
            self.delete_keys,
        )
        self._reads.unread = self._writes.unread

    def _limit(self) -> int | None:
        return self.max_size

    def __repr__(self) -> str:
        return f"RedisCache(namespace={self.namespace!r})"

    # ---- the storage protocol -----------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        # A store of this thread's still unread is read with the lookup (see ``unread``).
        return self._reads.find(primary_key)

    def read_entry(self, key: str) -> Entry | None:
        self._writes.unread.settle()
        with storage_errors(self, "read"):
            head = self._reads.locate(key)
        if head is None:
            return None
        self._memo.remember(head)
        return head.entry

    def open_body(self, key: str) -> BinaryIO | None:
        self._writes.unread.settle()
        # The body of the head this thread last read for ``key`` (find/read_entry),
        # so that it matches what the caller holds; else the current one.
        head = self._memo.recall(key)
        with storage_errors(self, "read a body"):
            if head is None:
                head = self._reads.locate(key)
                if head is None:
                    return None
            return self._reads.body_of(head)

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        """The head this thread last read for ``key`` with its body (no round trip when
        the body is inline), else the current pair; both from the same write."""
        self._writes.unread.settle()
        head = self._memo.recall(key)
        with storage_errors(self, "read an entry"):
            if head is not None:
                body = self._reads.body_of(head)
                if body is not None:
                    return head.entry, body
            head = self._reads.locate(key)  # gone since, or never read by this thread
            if head is None:
                return None
            body = self._reads.body_of(head)
        return None if body is None else (head.entry, body)

    def open_writer(self, entry: Entry) -> BodyWriter:
        self._writes.unread.settle()
        body_prefix = self.keyspace.entry(entry.primary_key, entry.key)[2]
        return RedisWriter(self._writes, entry, body_prefix, self.chunk_size)

    def update_head(self, entry: Entry) -> None:
        """Head and index row in one script call (see ``Writes.freshen``); each changes
        only if it still describes the response revalidated (same ``created_at``)."""
        remembered = self._memo.recall(entry.key)
        sure = remembered is not None and remembered.size == entry.size
        with storage_errors(self, "update a head"):
            stored = self._writes.freshen(entry, wait=not sure)
        if stored is None or remembered is None:
            return
        if remembered.entry.created_at == stored.created_at:
            self._memo.remember(replace(remembered, entry=stored, size=stored.size))

    def delete_keys(self, keys: Iterable[str]) -> int:
        self._writes.unread.settle()
        unique = list(dict.fromkeys(keys))
        removed = 0
        grace = int(REPLACED_BODY_GRACE * 1000)
        with storage_errors(self, "delete"):
            for batch in batches(unique, PAGE):
                raws = cast("list[bytes | None]", self.client.hmget(self.keyspace.meta, batch))
                calls = Batch(self.client)
                many = []
                for key, raw in zip(batch, raws, strict=True):
                    self._memo.forget(key)
                    row = self.index.row(key, raw) if raw is not None else None
                    # Without a row, try the usual case of an entry without Vary.
                    primary_key = row.primary_key if row else key
                    if self._cluster:
                        queue_delete(calls, self.keyspace, primary_key, key)
                    else:  # one script call for the page
                        head_key, variants, body_prefix = self.keyspace.entry(primary_key, key)
                        many.append([head_key, variants, body_prefix, key])
                if many:
                    items = msgpack.packb(many, use_bin_type=True)
                    counted = [self.keyspace.grace, self.keyspace.bytes, repr(time.time())]
                    calls.eval("delete_many", [], [items, grace, *counted])
                calls.eval("index_remove", self.keyspace.index, pairs(batch))
                self.counters.send(calls.pipe)
                results = raise_errors(calls.execute())
                if many:
                    removed += results[0].count(b"1")
                else:  # on a cluster, the bodies put in their grace are counted apart
                    removed += sum(int(result[0]) for result in results[: len(batch)])
                    self.index.count_retired(result[1:] for result in results[: len(batch)])
        return removed

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's whole head, listed from the index (heads read a page at a time)."""
        self._writes.unread.settle()
        wall = time.time()
        for page in self.index.row_pages():
            page = [row for row in page if row.alive_at(wall)]
            with storage_errors(self, "list"):
                heads = self._reads.read_heads([(row.primary_key, row.key) for row in page])
            for row, head in zip(page, heads, strict=True):
                if isinstance(head, Head):
                    yield head.entry
                elif head is None:
                    self.index.prune_later(row)
        self.index.prune_pending()

    def clear(self) -> None:
        """Remove this namespace's keys (``SCAN`` + ``UNLINK``); hit counters stay.

        Bodies go ``REPLACED_BODY_GRACE`` seconds later (each entry goes at once), so
        that a hit being streamed elsewhere meanwhile is read to its end; until then
        they count for ``max_size`` (see ``clearing``).
        """
        self._writes.unread.settle()
        with storage_errors(self, "clear"):
            Clearing(self.client, self.keyspace, self.index, REPLACED_BODY_GRACE).run()
        self._memo.clear()

    def close(self) -> None:
        self._writes.unread.settle_all()
        try:
            self.flush_counters()
        except StorageError as exc:
            logger.debug("%r: hit and miss counts not sent (%s)", self, exc)
        if self._owns_client:
            self.client.close()

    # ---- counters -------------------------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        """Counted here; sent with this instance's next round trip (see the class)."""
        self.counters.record(hit)

    def flush_counters(self) -> None:
        """Send the hit and miss counts not sent yet."""
        self._writes.unread.settle()
        with storage_errors(self, "count lookups"):
            self.counters.flush()

    def lookup_counts(self) -> tuple[int, int]:
        self._writes.unread.settle()
        with storage_errors(self, "read counters"):
            return self.counters.read()

    # ---- the inspection API, from the index ----------------------------------------------

    def entries(
        self,
        *,
        expired: bool | None = None,
        url: str | None = None,
        host: str | None = None,
        now: float | None = None,
    ) -> Iterator[EntryInfo]:
        """Entries' metadata from the index rows, without reading heads or bodies."""
        self._writes.unread.settle()
        now = time.time() if now is None else now
        wanted_host = host.lower() if host else None
        if url is None and wanted_host is None:
            wanted = None
        else:

            def wanted(row: Row) -> bool:
                return (url is None or url_matches(row.url, url)) and (
                    wanted_host is None or host_of(row.url) == wanted_host
                )

        for row in self.index.live_rows(expired, now, wanted):
            yield row.summary()

    def contains(self, key: str | None = None, url: str | None = None) -> bool:
        self._writes.unread.settle()
        if key is None and url is None:
            raise ValueError("contains() needs a key or a url")
        if key is not None and self.read_entry(key) is not None:
            return True
        if url is None:
            return False
        wanted = self.url_normalizer(url)
        return any(True for _ in self.index.live_rows(None, time.time(), lambda r: r.url == wanted))

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        self._writes.unread.settle()
        now = time.time() if now is None else now
        doomed = dict.fromkeys(keys)
        wanted_urls = {self.url_normalizer(u) for u in urls or ()}
        if wanted_urls or older_than is not None:
            for page in self.index.row_pages():
                for row in page:
                    if row.url in wanted_urls or (
                        older_than is not None and now - row.created_at > older_than
                    ):
                        doomed[row.key] = None
        if expired:
            doomed.update(dict.fromkeys(self.index.expired_keys(now)))
        return self.delete_keys(doomed) if doomed else 0

    def remove_expired(self, now: float | None = None) -> int:
        return self.delete(expired=True, now=now)

    def stats(self, now: float | None = None) -> CacheStats:
        self._writes.unread.settle()
        now = time.time() if now is None else now
        count = size = expired = 0
        per_host: dict[str, int] = {}
        for row in self.index.live_rows(None, now, None):
            count += 1
            size += row.size
            expired += row.expires is not None and now >= row.expires
            host = host_of(row.url)
            per_host[host] = per_host.get(host, 0) + 1
        hits, misses = self.lookup_counts()
        return CacheStats(count, size, expired, hits, misses, per_host)

    def __len__(self) -> int:
        """Entries in the index that Redis keeps by their TTL (one ``ZCOUNT``)."""
        self._writes.unread.settle()
        with storage_errors(self, "count"):
            return int(self.client.zcount(self.keyspace.gone, f"({time.time()!r}", "+inf"))
