"""RedisCache: one cache shared by threads, processes and machines through Redis.

Key layout (``ns`` is the namespace; ``{...}`` is a Redis Cluster hash tag, so every
key of one resource, i.e. all variants of one primary key, lives in one slot):

- ``ns:{pk}:h:<key>``         head of one variant, a hash: ``v`` (format), ``e`` (the
                              entry, ``dumps_entry``), ``g`` (generation: one per
                              commit), ``n`` (chunks in the body list; 0: the body is
                              inline), ``s`` (body size), ``c`` (``created_at``, what
                              tells a freshened head from another response), ``k``
                              (the body's CRC-32), ``b`` (the body itself when it
                              fits in one chunk)
- ``ns:{pk}:b:<key>:<gen>``   a body of several chunks: a list of ``chunk_size`` pieces
- ``ns:{pk}:v``               the set of variant keys of the resource (``find``)
- ``ns:{ns}:expires``         index: sorted set, key -> ``expires`` (``+inf``: never)
- ``ns:{ns}:gone``            index: sorted set, key -> when Redis drops the entry (its
                              TTL; ``+inf``: never): what ``len`` and pruning go by
- ``ns:{ns}:meta``            index: hash, key -> msgpack summary (url, status, size ...)
- ``ns:{ns}:lru``             sorted set, key -> last use (``max_size``)
- ``ns:{ns}:sizes``/``bytes`` what each entry counts for ``max_size``, and the sum
- ``ns:{ns}:stats``           hash: hits and misses (``clear`` keeps them)

``pk`` is the primary key itself, or ``#`` and a digest of it when it cannot be a
hash tag (empty, braces, or a leading ``#``).

Round trips. A lookup is one pipeline (the variant set and the usual head, whose
inline body comes with it); serving the hit that follows needs none, since head and
body came from the same hash, read at once. A store is one pipeline too: the index
row and the commit script (on a cluster the two go to their own nodes in parallel).
Hit and miss counts are kept in the instance and ride along with the next pipeline;
``flush_counters()`` (also ``lookup_counts``, ``stats`` and ``close``, and at the
exit of the interpreter) sends them at once.

Writing. A body that fits in one chunk is written inline with its head, in one
script. A larger one goes to a fresh generation's list, chunk by chunk, which has a
short TTL until the commit (a writer that dies leaves nothing for long); the commit
script adds the last chunk, swaps the head (which names the generation), sets every
TTL and retires the previous body after a grace period, so that a reader streaming
it can finish. Readers get the head's generation and read only that generation's
chunks: a head is never paired with another body. ``open_body``/``open_entry`` serve
the head (and inline body) this thread last got from ``find``/``read_entry`` for that
key, so the driver serves the body of the very head it decided on.

Checksums: ``e`` ends with the CRC-32 of the head (``serialize``), ``k`` is the
body's. An inline body is checked when its head is read, a body list as its last
chunk is read. A lookup that finds a head damaged, foreign or of an older format
logs one warning and removes the entry (only if its head is still the one read).

TTLs: every key of an entry lives until its ``stale_until`` (at least ``min_ttl``
seconds, to allow for clocks of several machines); ``None`` means no TTL.

The index is best-effort: a row whose entry Redis dropped by its TTL is not listed
nor counted, and is pruned a little at a time by commits; a row whose entry vanished
otherwise (eviction under ``maxmemory``, a hand-made ``DEL``) is skipped by listings
and, once older than ``PRUNE_GRACE``, pruned (``len`` counts it until then). Every
``redis`` failure leaves this module as ``StorageError``; damaged, foreign or older
values are a logged miss.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

import msgpack
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ..errors import (
    BodyReadError,
    ChecksumMismatchError,
    ConfigurationError,
    DeserializationError,
    StorageError,
)
from ..models import Entry, Headers, Request, Response
from ..serialize import dumps_entry, loads_entry
from ._checksum import Crc, verified
from ._redis_scripts import DIGESTS, SCRIPTS, Batch, Client
from .base import BaseCache, BodyWriter, CacheStats, host_of, url_matches

logger = logging.getLogger("httpcache")

#: Version of the head hash and of index rows; another one is a miss. Format 1 kept
#: every body in a list and had no ``gone`` index; format 3 added ``k``, the body's
#: CRC-32 (and the head's CRC-32 at the end of ``e``).
HEAD_FORMAT = 3
META_FORMAT = 2
#: Bodies are stored (and streamed back) in pieces of this many bytes; a body of at
#: most one piece is stored inline, in its head's hash.
CHUNK_SIZE = 1024 * 1024
#: The shortest TTL given to an entry (seconds).
MIN_TTL = 60.0
#: TTL of the chunks of a body being written, renewed with every chunk.
PENDING_TTL = 600.0
#: A replaced or deleted body stays readable this long, for readers in the middle of
#: it (another thread or process streaming a hit); then Redis drops it.
REPLACED_BODY_GRACE = 60.0
#: An index row without an entry is pruned once it is this old (a commit in flight
#: writes its row just before its head), or this long after its TTL ran out (clocks).
PRUNE_GRACE = 60.0
#: Keys handled per round trip when listing or deleting.
PAGE = 500
#: Commits between two small prunings of the index.
PRUNE_EVERY = 64
#: Expired rows whose entry's existence one pruning checks.
PRUNE_SAMPLE = 32
#: Heads (with inline bodies) a thread keeps from its last lookups, and their bytes.
MEMO_ENTRIES = 256
MEMO_BYTES = 8 * 1024 * 1024

_REDIS_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException)
_HEAD_FIELDS = ("v", "e", "g", "n", "s", "c", "k")
_HEAD_AND_BODY = (*_HEAD_FIELDS, "b")
_OLDER_FORMATS = frozenset({b"1", b"2"})
_FORMAT_BYTES = str(HEAD_FORMAT).encode()

# ---- small values --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Head:
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
class _Damaged:
    """A head that could not be used (logged): damaged, foreign or of an older format.
    ``raw`` is its ``e`` field as read (``b""``: none, or not a hash)."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class _Row:
    """An index row: what listings, stats and deletes need, without the head."""

    key: str
    raw: bytes
    primary_key: str
    method: str
    url: str
    status: int
    size: int
    created_at: float
    expires: float | None
    stale_until: float | None
    request_time: float
    response_time: float
    indexed_at: float
    gone_at: float | None

    def summary(self) -> Entry:
        """An ``Entry`` with the row's metadata; header fields are left out (empty)."""
        return Entry(
            key=self.key,
            primary_key=self.primary_key,
            request=Request(self.method, self.url, _NO_HEADERS),
            response=Response(self.status, _NO_HEADERS, "", self.url),
            request_time=self.request_time,
            response_time=self.response_time,
            created_at=self.created_at,
            expires=self.expires,
            size=self.size,
            stale_until=self.stale_until,
        )

    def alive_at(self, wall_clock: float) -> bool:
        """Whether Redis still keeps the entry by its TTL."""
        return self.gone_at is None or self.gone_at > wall_clock


def _row_bytes(entry: Entry, indexed_at: float, gone_at: float | None) -> bytes:
    fields = [
        META_FORMAT,
        entry.primary_key,
        entry.method,
        entry.url,
        entry.status,
        entry.size,
        entry.created_at,
        entry.expires,
        entry.stale_until,
        entry.request_time,
        entry.response_time,
        indexed_at,
        gone_at,
    ]
    return cast(bytes, msgpack.packb(fields, use_bin_type=True))


_NO_HEADERS = Headers()  # immutable: one for every summary
_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))


def _load_row(key: str, raw: bytes) -> _Row:
    try:
        f = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # damaged bytes raise many types
        raise DeserializationError(f"index row: {exc!r}") from None
    if not (isinstance(f, list) and len(f) == 13 and f[0] == META_FORMAT):
        raise DeserializationError("index row: not a row of this format")
    _, pk, method, url, status, size, created, expires, stale, req_t, resp_t, at, gone = f
    if not (
        type(pk) is str
        and type(method) is str
        and type(url) is str
        and type(status) is int
        and type(size) is int
        and isinstance(created, _NUMBER)
        and isinstance(req_t, _NUMBER)
        and isinstance(resp_t, _NUMBER)
        and isinstance(at, _NUMBER)
        and isinstance(expires, _OPTIONAL_NUMBER)
        and isinstance(stale, _OPTIONAL_NUMBER)
        and isinstance(gone, _OPTIONAL_NUMBER)
    ):
        raise DeserializationError("index row: fields of the wrong types")
    return _Row(key, raw, *f[1:])


def _older_row(raw: bytes) -> bool:
    """Whether ``raw`` is an index row of an older format (format 1: 12 fields)."""
    return raw[:2] == b"\x9c\x01"


def _tag(primary_key: str) -> str:
    """The hash tag of a primary key: itself, or a digest when it cannot be one."""
    if primary_key and not ("{" in primary_key or "}" in primary_key or primary_key[0] == "#"):
        return primary_key
    data = primary_key.encode("utf-8", "surrogatepass")
    return "#" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


# redis-py types replies for any client: values as ``bytes | str``, ranges as members
# or (member, score) pairs. RedisCache's client has decode_responses=False (checked in
# __init__) and reads ranges without scores, so the casts of replies below only narrow
# those declared types to what the client returns.


def _wrong_type(exc: BaseException) -> bool:
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def _batches(items: list[str], size: int = PAGE) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _raise_errors(results: list[Any]) -> list[Any]:
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


# ---- counters not yet sent, flushed at exit -------------------------------------------

_WITH_PENDING_COUNTS: weakref.WeakSet[RedisCache] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for cache in list(_WITH_PENDING_COUNTS):
        with contextlib.suppress(Exception):
            cache.flush_counters()


def _forget_in_child() -> None:
    # A forked child starts with its parent's unsent counts, which the parent sends.
    for cache in list(_WITH_PENDING_COUNTS):
        cache._pending = [0, 0]
    _WITH_PENDING_COUNTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


# ---- the cache -----------------------------------------------------------------------


class RedisCache(BaseCache):
    """A cache in Redis (or a Redis Cluster), under one namespace.

    ``connection`` is a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (created with
    ``decode_responses=False``, the default); without it, ``url`` builds one
    (``cluster=True`` for a cluster), else ``redis://localhost:6379``. Clients built
    here use short socket timeouts, retry once, and are closed by ``close()``.

    ``max_size`` (bytes of bodies and heads) evicts the least recently used entries
    after each commit; only instances with a ``max_size`` record uses in ``find``, so
    give every process sharing a namespace the same setting. ``min_ttl`` is the
    shortest TTL an entry gets. ``chunk_size`` is the piece bodies are stored in.

    Hit and miss counts reach Redis with this instance's next round trip, or at
    ``flush_counters()``, ``lookup_counts()``, ``stats()``, ``close()`` and exit.
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
                "retry": Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
            }
            cls = RedisCluster if cluster else redis.Redis
            with self._errors("connect"):
                if url is not None:
                    connection = cls.from_url(url, **options)
                else:
                    connection = cls(host="localhost", port=6379, **options)
        if connection.get_encoder().decode_responses:
            raise ConfigurationError("RedisCache needs a client with decode_responses=False")
        self.client: Client = connection
        self._cluster = isinstance(connection, RedisCluster)
        ns = namespace
        names = ("expires", "gone", "lru", "meta", "sizes", "bytes")
        self._index_keys = [f"{ns}:{{{ns}}}:{name}" for name in names]
        (
            self._expires_key,
            self._gone_key,
            self._lru_key,
            self._meta_key,
            self._sizes_key,
            self._bytes_key,
        ) = self._index_keys
        self._stats_key = f"{ns}:{{{ns}}}:stats"
        self._local = threading.local()
        self._commits = 0
        self._sample_offset = 0
        #: Hits and misses counted here, not yet sent to Redis.
        self._pending = [0, 0]

    def __repr__(self) -> str:
        return f"RedisCache(namespace={self.namespace!r})"

    # ---- the storage protocol -----------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        usual_head, variants, _ = self._keys(primary_key, primary_key)
        with self._errors("look up"):
            # One round trip in the usual case: the only variant's key is the primary key
            # (its head comes with its inline body, for the hit that follows).
            pipe = self.client.pipeline(transaction=False)
            pipe.smembers(variants)
            pipe.hmget(usual_head, _HEAD_AND_BODY)
            if self.max_size is not None:
                pipe.zadd(self._lru_key, {primary_key: time.time()}, xx=True)
            self._send_counts(pipe)
            found_members, usual = pipe.execute(raise_on_error=False)[:2]
            if isinstance(found_members, Exception):
                if not _wrong_type(found_members):
                    raise found_members
                self._damaged(variants, found_members)
                return []
            if not found_members:
                self._recall(primary_key)  # gone: forget what this thread last read of it
                return []
            members = sorted(_text(m) for m in found_members)
            others = [(primary_key, key) for key in members if key != primary_key]
            read = iter(self._read_heads(others, body=True, touch=True) if others else [])
            heads = [
                self._parse_head(primary_key, key, usual) if key == primary_key else next(read)
                for key in members
            ]
            absent = [key for key, head in zip(members, heads, strict=True) if head is None]
            if absent:  # their entries expired: tidy the set (only if still absent)
                head_keys = [self._keys(primary_key, key)[0] for key in absent]
                self._eval("drop_absent", [variants, *head_keys], absent)
        damaged = [
            (key, head.raw)
            for key, head in zip(members, heads, strict=True)
            if isinstance(head, _Damaged)
        ]
        if damaged:  # a miss, warned about once: the entry goes
            self._remove_damaged(primary_key, damaged)
        found = [head for head in heads if isinstance(head, _Head)]
        for head in found:
            self._remember(head)
        return [head.entry for head in found]

    def _remove_damaged(self, primary_key: str, damaged: list[tuple[str, bytes]]) -> None:
        """Delete entries whose heads were found unusable, each only if its head is
        still the one read, and their index rows."""
        grace = int(REPLACED_BODY_GRACE * 1000)
        try:
            with self._errors("remove a damaged entry"):
                batch = Batch(self.client)
                for key, raw in damaged:
                    head_key, variants, body_prefix = self._keys(primary_key, key)
                    batch.eval("delete", [head_key, variants, body_prefix], [key, grace, raw])
                gone = [key for (key, _), n in zip(damaged, batch.execute(), strict=True) if n == 1]
                if gone:
                    self._index_remove([(key, b"") for key in gone])
        except StorageError as exc:  # it stays a miss
            logger.debug("%s", exc)

    def read_entry(self, key: str) -> Entry | None:
        with self._errors("read"):
            head = self._locate(key)
        if head is None:
            return None
        self._remember(head)
        return head.entry

    def open_body(self, key: str) -> BinaryIO | None:
        # The body of the head this thread last read for ``key`` (find/read_entry),
        # so that it matches what the caller holds; else the current one.
        head = self._recall(key)
        with self._errors("read a body"):
            if head is None:
                head = self._locate(key)
                if head is None:
                    return None
            return self._body_of(head)

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        """The head this thread last read for ``key`` with its body (no round trip when
        the body is inline), else the current pair; both from the same write."""
        head = self._recall(key)
        with self._errors("read an entry"):
            if head is not None:
                body = self._body_of(head)
                if body is not None:
                    return head.entry, body
            head = self._locate(key)  # gone since, or never read by this thread
            if head is None:
                return None
            body = self._body_of(head)
        return None if body is None else (head.entry, body)

    def open_writer(self, entry: Entry) -> BodyWriter:
        return _RedisWriter(self, entry)

    def update_head(self, entry: Entry) -> None:
        """Head and index row in one round trip; each changes only if it still
        describes the response revalidated (same ``created_at``, see ``freshens``)."""
        head_key, variants, body_prefix = self._keys(entry.primary_key, entry.key)
        stored = entry
        remembered = self._recall(entry.key)
        with self._errors("update a head"):
            for _ in range(2):
                data = dumps_entry(stored)
                now = time.time()
                ttl = self._ttl_ms(stored, now)
                created = repr(stored.created_at)
                args = [created, data, ttl, entry.key, stored.size, HEAD_FORMAT]
                row = self._row_args(stored, len(data), now, ttl)
                batch = Batch(self.client)
                batch.eval("update_head", [head_key, variants, body_prefix], args)
                batch.eval("index_freshen", self._index_keys, [*row, created])
                self._send_counts(batch.pipe)
                (status, *rest), indexed = _raise_errors(batch.execute())[:2]
                if status != 2:
                    break
                stored = replace(stored, size=int(rest[0]))  # the body's size is the stored one
            if status != 1:
                return  # gone, or another response stored since
            if indexed == -1:  # the row had gone (pruned): the entry gets one again
                self._eval("index_put", self._index_keys, row)
        if remembered is not None and remembered.entry.created_at == stored.created_at:
            self._remember(replace(remembered, entry=stored, size=stored.size))

    def delete_keys(self, keys: Iterable[str]) -> int:
        unique = list(dict.fromkeys(keys))
        removed = 0
        memo = self._memo()
        with self._errors("delete"):
            for batch in _batches(unique):
                raws = cast("list[bytes | None]", self.client.hmget(self._meta_key, batch))
                calls = Batch(self.client)
                many = []
                for key, raw in zip(batch, raws, strict=True):
                    memo.pop(key, None)
                    row = self._row(key, raw) if raw is not None else None
                    # Without a row, try the usual case of an entry without Vary.
                    primary_key = row.primary_key if row else key
                    if self._cluster:
                        self._queue_delete(calls, primary_key, key)
                    else:  # one script call for the page
                        head_key, variants, body_prefix = self._keys(primary_key, key)
                        many.append([head_key, variants, body_prefix, key])
                if many:
                    items = msgpack.packb(many, use_bin_type=True)
                    calls.eval("delete_many", [], [items, int(REPLACED_BODY_GRACE * 1000)])
                calls.eval("index_remove", self._index_keys, self._pairs(batch))
                self._send_counts(calls.pipe)
                results = _raise_errors(calls.execute())
                if many:
                    removed += results[0].count(b"1")
                else:
                    removed += sum(int(existed) for existed in results[: len(batch)])
        return removed

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's whole head, listed from the index (heads read a page at a time)."""
        wall = time.time()
        for page in self._row_pages():
            page = [row for row in page if row.alive_at(wall)]
            with self._errors("list"):
                heads = self._read_heads([(row.primary_key, row.key) for row in page])
            for row, head in zip(page, heads, strict=True):
                if isinstance(head, _Head):
                    yield head.entry
                elif head is None:
                    self._prune_later(row)
        self._prune_pending()

    def clear(self) -> None:
        """Remove this namespace's keys (``SCAN`` + ``UNLINK``); hit counters stay.

        Bodies go ``REPLACED_BODY_GRACE`` seconds later (each entry goes at once), so
        that a hit being streamed elsewhere meanwhile is read to its end.
        """
        pattern = _glob_escape(self.namespace) + ":{*"
        keep = self._stats_key.encode()
        batch: list[bytes] = []
        bodies: list[bytes] = []
        with self._errors("clear"):
            for name in self.client.scan_iter(match=pattern, count=1000):
                if name == keep:
                    continue
                (bodies if b"}:b:" in name else batch).append(name)
                if len(batch) >= PAGE:
                    self.client.unlink(*batch)
                    batch = []
                if len(bodies) >= PAGE:
                    self._expire_soon(bodies)
                    bodies = []
            if batch:
                self.client.unlink(*batch)
            self._expire_soon(bodies)
        self._memo().clear()

    def _expire_soon(self, bodies: list[bytes]) -> None:
        """Let bodies live ``REPLACED_BODY_GRACE`` seconds more."""
        if bodies:
            grace = int(REPLACED_BODY_GRACE * 1000)
            pipe = self.client.pipeline(transaction=False)
            for name in bodies:
                pipe.pexpire(name, grace)
            pipe.execute()

    def close(self) -> None:
        try:
            self.flush_counters()
        except StorageError as exc:
            logger.debug("%r: hit and miss counts not sent (%s)", self, exc)
        if self._owns_client:
            self.client.close()

    # ---- counters -------------------------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        """Counted here; sent with this instance's next round trip (see the class)."""
        with self._counter_lock:
            self._pending[0 if hit else 1] += 1
        _WITH_PENDING_COUNTS.add(self)

    def flush_counters(self) -> None:
        """Send the hit and miss counts not sent yet."""
        with self._errors("count lookups"):
            pipe = self.client.pipeline(transaction=False)
            if self._send_counts(pipe):
                pipe.execute()

    def lookup_counts(self) -> tuple[int, int]:
        with self._errors("read counters"):
            pipe = self.client.pipeline(transaction=False)
            self._send_counts(pipe)
            pipe.hmget(self._stats_key, ["hits", "misses"])
            hits, misses = pipe.execute()[-1]
        return int(hits or 0), int(misses or 0)

    def _send_counts(self, pipe: Any) -> bool:
        """Add the unsent counts to ``pipe``; lost if it fails (they are statistics)."""
        if not (self._pending[0] or self._pending[1]):
            return False
        with self._counter_lock:
            hits, misses = self._pending
            self._pending = [0, 0]
        if hits:
            pipe.hincrby(self._stats_key, "hits", hits)
        if misses:
            pipe.hincrby(self._stats_key, "misses", misses)
        return True

    # ---- the inspection API, from the index ----------------------------------------------

    def entries(
        self,
        *,
        expired: bool | None = None,
        url: str | None = None,
        host: str | None = None,
        now: float | None = None,
    ) -> Iterator[Entry]:
        """Entries' metadata from the index rows, without reading heads or bodies.

        What is yielded is a summary: key, method, url, status, size and times are
        those of the entry; header fields are left out. ``get(key)`` has the head.
        """
        now = time.time() if now is None else now
        wanted_host = host.lower() if host else None
        if url is None and wanted_host is None:
            wanted = None
        else:

            def wanted(row: _Row) -> bool:
                return (url is None or url_matches(row.url, url)) and (
                    wanted_host is None or host_of(row.url) == wanted_host
                )

        for row in self._live_rows(expired, now, wanted):
            yield row.summary()

    def contains(self, key: str | None = None, url: str | None = None) -> bool:
        if key is None and url is None:
            raise ValueError("contains() needs a key or a url")
        if key is not None and self.read_entry(key) is not None:
            return True
        if url is None:
            return False
        wanted = self.url_normalizer(url)
        return any(True for _ in self._live_rows(None, time.time(), lambda r: r.url == wanted))

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        doomed = dict.fromkeys(keys)
        wanted_urls = {self.url_normalizer(u) for u in urls or ()}
        if wanted_urls or older_than is not None:
            for page in self._row_pages():
                for row in page:
                    if row.url in wanted_urls or (
                        older_than is not None and now - row.created_at > older_than
                    ):
                        doomed[row.key] = None
        if expired:
            doomed.update(dict.fromkeys(self._expired_keys(now)))
        return self.delete_keys(doomed) if doomed else 0

    def remove_expired(self, now: float | None = None) -> int:
        return self.delete(expired=True, now=now)

    def stats(self, now: float | None = None) -> CacheStats:
        now = time.time() if now is None else now
        count = size = expired = 0
        per_host: dict[str, int] = {}
        for row in self._live_rows(None, now, None):
            count += 1
            size += row.size
            expired += row.expires is not None and now >= row.expires
            host = host_of(row.url)
            per_host[host] = per_host.get(host, 0) + 1
        hits, misses = self.lookup_counts()
        return CacheStats(count, size, expired, hits, misses, per_host)

    def __len__(self) -> int:
        """Entries in the index that Redis keeps by their TTL (one ``ZCOUNT``)."""
        with self._errors("count"):
            return int(self.client.zcount(self._gone_key, f"({time.time()!r}", "+inf"))

    # ---- keys ---------------------------------------------------------------------------

    def _keys(self, primary_key: str, key: str) -> tuple[str, str, str]:
        """Head, variant set and body prefix of an entry."""
        base = f"{self.namespace}:{{{_tag(primary_key)}}}"
        return f"{base}:h:{key}", f"{base}:v", f"{base}:b:{key}:"

    def _body_key(self, head: _Head) -> str:
        return self._keys(head.primary_key, head.entry.key)[2] + head.gen

    def _ttl_ms(self, entry: Entry, now: float) -> int:
        """Milliseconds until Redis may drop the entry; 0 for never."""
        if entry.stale_until is None:
            return 0
        return math.ceil(max(entry.stale_until - now, self.min_ttl) * 1000)

    # ---- scripts -------------------------------------------------------------------------

    def _eval(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """One script call, by digest; loaded first if the server lacks it."""
        command = ("EVALSHA", DIGESTS[name], len(keys), *keys, *args)
        # redis-py leaves execute_command unannotated
        try:
            return self.client.execute_command(*command)  # type: ignore[no-untyped-call]
        except redis.exceptions.NoScriptError:
            self.client.script_load(SCRIPTS[name])
            return self.client.execute_command(*command)  # type: ignore[no-untyped-call]

    def _queue_delete(self, batch: Batch, primary_key: str, key: str) -> None:
        head_key, variants, body_prefix = self._keys(primary_key, key)
        args = [key, int(REPLACED_BODY_GRACE * 1000)]
        batch.eval("delete", [head_key, variants, body_prefix], args)

    @staticmethod
    def _pairs(keys: list[str], raws: list[bytes] | None = None) -> list[str | bytes]:
        args: list[str | bytes] = []
        for n, key in enumerate(keys):
            args += [key, raws[n] if raws is not None else b""]
        return args

    # ---- reading heads ------------------------------------------------------------------

    def _read_heads(
        self, wanted: list[tuple[str, str]], body: bool = False, touch: bool = False
    ) -> list[_Head | _Damaged | None]:
        """Heads of (primary key, key) pairs: a ``_Head``, ``None`` (absent) or
        ``_Damaged`` (unreadable, logged). One round trip. ``body``: with inline bodies; ``touch``:
        record the use for ``max_size``."""
        pipe = self.client.pipeline(transaction=False)
        fields = _HEAD_AND_BODY if body else _HEAD_FIELDS
        for primary_key, key in wanted:
            pipe.hmget(self._keys(primary_key, key)[0], fields)
        if touch and self.max_size is not None and wanted:
            now = time.time()
            pipe.zadd(self._lru_key, {key: now for _, key in wanted}, xx=True)
        results = pipe.execute(raise_on_error=False)
        return [
            self._parse_head(pk, key, result)
            for (pk, key), result in zip(wanted, results, strict=False)
        ]

    def _parse_head(self, primary_key: str, key: str, result: Any) -> _Head | _Damaged | None:
        if isinstance(result, Exception):
            if not _wrong_type(result):
                raise result
            self._damaged(self._keys(primary_key, key)[0], result)
            return _Damaged(b"")
        version, raw, gen, chunks, size, _, crc = result[:7]
        if version is None and raw is None:
            return None
        try:
            if version != _FORMAT_BYTES:
                if version in _OLDER_FORMATS:
                    raise DeserializationError(
                        f"head format {_text(version)} of an older httpcache,"
                        f" expected {HEAD_FORMAT}"
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
            head = _Head(entry, primary_key, gen.decode("ascii"), chunks, size, crc, inline, raw)
        except (
            DeserializationError,
            ChecksumMismatchError,
            AttributeError,
            ValueError,
            TypeError,
        ) as exc:
            self._damaged(self._keys(primary_key, key)[0], exc)
            return _Damaged(raw if isinstance(raw, bytes) else b"")
        return head

    def _locate(self, key: str) -> _Head | None:
        """The head stored under ``key`` (with its inline body), found through its index
        row. The usual case, an entry without Vary (key == primary key), is read in the
        same round trip; it is also where an entry whose row is missing is looked for.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self._meta_key, key)
        pipe.hmget(self._keys(key, key)[0], _HEAD_AND_BODY)
        self._send_counts(pipe)
        raw, usual = pipe.execute(raise_on_error=False)[:2]
        if isinstance(raw, Exception):
            raise raw
        row = self._row(key, raw) if raw is not None else None
        if row is None or row.primary_key == key:
            head = self._parse_head(key, key, usual)
        else:
            [head] = self._read_heads([(row.primary_key, key)], body=True)
        return head if isinstance(head, _Head) else None

    def _body_of(self, head: _Head) -> BinaryIO | None:
        """A stream of the body of ``head``: its inline body, else its generation's list
        (``None`` if that is gone)."""
        if head.chunks == 0:
            if head.body is None:  # not read with the head: read it, if still that one
                head_key = self._keys(head.primary_key, head.entry.key)[0]
                gen, inline = cast("list[bytes | None]", self.client.hmget(head_key, ["g", "b"]))
                if gen is None or _text(gen) != head.gen or inline is None:
                    return None
                if len(inline) != head.size:
                    raise ChecksumMismatchError(head_key, f"{len(inline)} bytes, not {head.size}")
                return cast(BinaryIO, io.BytesIO(verified(inline, head.crc, head_key)))
            return cast(BinaryIO, io.BytesIO(head.body))
        body_key = self._body_key(head)
        try:
            first = cast("bytes | None", self.client.lindex(body_key, 0))
        except redis.ResponseError as exc:
            if not _wrong_type(exc):
                raise
            self._damaged(body_key, exc)
            return None
        if first is None:  # deleted since, or replaced long ago
            return None
        if head.chunks == 1:
            if len(first) != head.size:
                raise ChecksumMismatchError(body_key, f"{len(first)} bytes, not {head.size}")
            return cast(BinaryIO, io.BytesIO(verified(first, head.crc, body_key)))
        return cast(BinaryIO, _BodyStream(self, body_key, head, first))

    # ---- the head this thread last read, per key ------------------------------------------

    def _memo(self) -> OrderedDict[str, _Head]:
        memo = getattr(self._local, "heads", None)
        if memo is None:
            memo = self._local.heads = OrderedDict()
            self._local.memo_bytes = 0
        return memo

    def _remember(self, head: _Head) -> None:
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

    def _recall(self, key: str) -> _Head | None:
        head = self._memo().pop(key, None)
        if head is not None and head.body:
            self._local.memo_bytes -= len(head.body)
        return head

    # ---- writing ---------------------------------------------------------------------------

    def _push_chunk(self, body_key: str, chunk: bytes) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(body_key, chunk)
        pipe.pexpire(body_key, int(PENDING_TTL * 1000))
        pipe.execute()

    def _commit(self, entry: Entry, gen: str, pushed: int, tail: bytes, crc: int) -> int:
        """Index row and head swap in one round trip; returns the total cost for
        ``max_size``."""
        head_key, variants, body_prefix = self._keys(entry.primary_key, entry.key)
        data = dumps_entry(entry)
        now = time.time()
        ttl = self._ttl_ms(entry, now)
        row = self._row_args(entry, len(data), now, ttl)
        args = [gen, data, entry.size, pushed, tail, ttl, entry.key]
        args += [int(REPLACED_BODY_GRACE * 1000), HEAD_FORMAT, repr(entry.created_at)]
        args += ["0" if pushed else "1", crc]
        keys = [head_key, variants, body_prefix + gen, body_prefix]
        batch = Batch(self.client)
        batch.eval("index_put", self._index_keys, row)
        batch.eval("commit", keys, args)
        self._send_counts(batch.pipe)
        self._recall(entry.key)
        (total, old), status = _raise_errors(batch.execute())[:2]
        if status != 1:
            self._index_remove([(entry.key, row[4])])
            raise StorageError(f"{self!r}: the body of {entry.key} lost chunks before commit")
        old_row = None
        with contextlib.suppress(DeserializationError):  # a damaged row is replaced anyway
            old_row = _load_row(entry.key, old) if old else None
        if old_row and old_row.primary_key != entry.primary_key:  # the key moved: drop the old
            batch = Batch(self.client)
            self._queue_delete(batch, old_row.primary_key, entry.key)
            _raise_errors(batch.execute())
        return int(total)

    def _after_commit(self, total: int) -> None:
        """Eviction and a little index pruning: the entry is stored whatever happens here."""
        self._commits += 1
        try:
            with self._errors("evict"):
                if self.max_size is not None and total > self.max_size:
                    self._evict(total)
                if self._commits % PRUNE_EVERY == 0:
                    self._prune_some()
        except StorageError as exc:
            logger.warning("%s", exc)

    def _discard(self, body_key: str) -> None:
        """Drop a body that will not be committed (its TTL is the safety net)."""
        try:
            self.client.unlink(body_key)
        except _REDIS_ERRORS as exc:
            logger.debug("%r: could not discard %s (%s); it expires by itself", self, body_key, exc)

    # ---- the index ------------------------------------------------------------------------

    def _row_args(self, entry: Entry, head_size: int, now: float, ttl: int) -> list[Any]:
        """What ``index_put`` takes for ``entry`` (its TTL ``ttl`` ms from ``now``)."""
        gone_at = now + ttl / 1000 if ttl else None
        expires = "+inf" if entry.expires is None else repr(entry.expires)
        gone = "+inf" if gone_at is None else repr(gone_at)
        raw = _row_bytes(entry, now, gone_at)
        return [entry.key, expires, gone, repr(now), raw, entry.size + head_size]

    def _index_remove(self, rows: list[tuple[str, bytes]]) -> None:
        """Remove index rows; a row given with its bytes only if it is still that row."""
        for start in range(0, len(rows), PAGE):
            page = rows[start : start + PAGE]
            args = self._pairs([key for key, _ in page], [raw for _, raw in page])
            self._eval("index_remove", self._index_keys, args)

    def _row(self, key: str, raw: bytes) -> _Row | None:
        try:
            return _load_row(key, raw)
        except DeserializationError as exc:
            if _older_row(raw):
                logger.debug("%r: index row of %s is of an older format", self, key)
            else:
                self._damaged(f"{self._meta_key}[{key}]", exc)
            return None

    def _row_pages(self) -> Iterator[list[_Row]]:
        """Every readable index row, a page at a time (damaged rows are dropped)."""
        cursor = 0
        seen: set[str] = set()
        while True:
            with self._errors("list"):
                reply = self.client.hscan(self._meta_key, cursor, count=2 * PAGE)
                cursor, items = cast("tuple[int, dict[bytes, bytes]]", reply)
            page = []
            unreadable = []
            for name, raw in items.items():
                key = _text(name)
                if key in seen:
                    continue
                seen.add(key)
                row = self._row(key, raw)
                if row is None:
                    unreadable.append((key, raw))
                else:
                    page.append(row)
            if unreadable:
                with self._errors("prune the index"):
                    self._index_remove(unreadable)
            if page:
                yield page
            if cursor == 0:
                return

    def _rows_by_expiry(self, expired: bool, now: float) -> Iterator[list[_Row]]:
        keys = self._expired_keys(now) if expired else self._fresh_keys(now)
        for batch in _batches(keys):
            yield self._rows_of(batch)

    def _rows_of(self, keys: list[str]) -> list[_Row]:
        """The readable index rows of these keys."""
        with self._errors("list"):
            raws = cast("list[bytes | None]", self.client.hmget(self._meta_key, keys))
        rows = [self._row(key, raw) for key, raw in zip(keys, raws, strict=True) if raw]
        return [row for row in rows if row is not None]

    def _expired_keys(self, now: float) -> list[str]:
        with self._errors("list"):
            found = cast("list[bytes]", self.client.zrangebyscore(self._expires_key, "-inf", now))
            return [_text(k) for k in found]

    def _fresh_keys(self, now: float) -> list[str]:
        with self._errors("list"):
            found = cast(
                "list[bytes]", self.client.zrangebyscore(self._expires_key, f"({now!r}", "+inf")
            )
        return [_text(k) for k in found]

    def _live_rows(self, expired: bool | None, now: float, wanted: Any) -> Iterator[_Row]:
        """Index rows passing ``wanted`` whose entry still exists."""
        pages = self._row_pages() if expired is None else self._rows_by_expiry(expired, now)
        wall = time.time()
        for page in pages:
            rows = [r for r in page if r.alive_at(wall) and (wanted is None or wanted(r))]
            yield from self._alive(rows)
        self._prune_pending()

    def _exist(self, head_keys: list[str]) -> list[bool]:
        """Whether each of these keys exists: one command on one server, a pipeline of
        ``EXISTS`` on a cluster (the keys are in many slots)."""
        if not self._cluster:
            names = msgpack.packb(head_keys, use_bin_type=True)
            return [n == 49 for n in self._eval("exists_each", [], [names])]  # b"1"
        pipe = self.client.pipeline(transaction=False)
        for key in head_keys:
            pipe.exists(key)
        return [bool(n) for n in pipe.execute()]

    def _alive(self, rows: list[_Row]) -> list[_Row]:
        """The rows whose head still exists (one round trip); the others are noted
        for pruning."""
        if not rows:
            return []
        with self._errors("list"):
            found = self._exist([self._keys(row.primary_key, row.key)[0] for row in rows])
        alive = []
        for row, exists in zip(rows, found, strict=True):
            if exists:
                alive.append(row)
            else:
                self._prune_later(row)
        return alive

    def _prune_later(self, row: _Row) -> None:
        """Note a row without an entry; it goes once older than a commit in flight."""
        if row.indexed_at < time.time() - PRUNE_GRACE:
            pending = getattr(self._local, "prune", None)
            if pending is None:
                pending = self._local.prune = []
            pending.append((row.key, row.raw))

    def _prune_pending(self) -> None:
        pending = getattr(self._local, "prune", None)
        if pending:
            self._local.prune = []
            with self._errors("prune the index"):
                self._index_remove(pending)

    def _prune_some(self) -> None:
        """Keep the index small: drop rows of entries whose TTL ran out (Redis dropped
        them), and check that a few long expired entries still exist."""
        cutoff = time.time() - PRUNE_GRACE
        self._eval("index_prune", self._index_keys, [repr(cutoff), PAGE])
        sample = cast(
            "list[bytes]",
            self.client.zrangebyscore(
                self._expires_key, "-inf", cutoff, start=self._sample_offset, num=PRUNE_SAMPLE
            ),
        )
        if not sample and self._sample_offset:  # past the end: from the start again
            self._sample_offset = 0
            sample = cast(
                "list[bytes]",
                self.client.zrangebyscore(
                    self._expires_key, "-inf", cutoff, start=0, num=PRUNE_SAMPLE
                ),
            )
        self._sample_offset = self._sample_offset + len(sample)
        if sample:
            self._alive(self._rows_of([_text(k) for k in sample]))
            self._prune_pending()

    def _evict(self, total: int) -> None:
        """Delete least recently used entries until the total fits ``max_size``."""
        assert self.max_size is not None
        while total > self.max_size:
            lru = cast("list[bytes]", self.client.zrange(self._lru_key, 0, 31))
            oldest = [_text(k) for k in lru]
            if not oldest:
                return
            costs = self.client.hmget(self._sizes_key, oldest)
            victims = []
            for key, cost in zip(oldest, costs, strict=True):
                victims.append(key)
                total -= int(cost or 0)
                if total <= self.max_size:
                    break
            self.delete_keys(victims)
            total = int(self.client.get(self._bytes_key) or 0)

    # ---- errors ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Every Redis failure becomes ``StorageError`` (the driver falls back to the network)."""
        try:
            yield
        except _REDIS_ERRORS as exc:
            raise StorageError(f"{self!r}: could not {what}: {exc}") from exc

    def _damaged(self, where: str, problem: object) -> None:
        logger.warning("%r: unreadable value at %s (%s); treated as a miss", self, where, problem)


class _BodyStream(io.RawIOBase):
    """A stored body, read from Redis one chunk at a time."""

    def __init__(self, cache: RedisCache, body_key: str, head: _Head, first: bytes) -> None:
        super().__init__()
        self._cache = cache
        self._body_key = body_key
        self._chunks = head.chunks
        self._size = head.size
        self._index = 0
        self._chunk = memoryview(first)
        self._pos = 0
        self._total = len(first)
        self._crc = Crc()
        self._crc.update(first)
        self._expected_crc = head.crc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._chunk):
            if not self._next_chunk():
                return 0
        n = min(len(buffer), len(self._chunk) - self._pos)
        buffer[:n] = self._chunk[self._pos : self._pos + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = [bytes(self._chunk[self._pos :])]
        while self._next_chunk():
            parts.append(bytes(self._chunk))
        self._pos = len(self._chunk)
        return b"".join(parts)

    def _next_chunk(self) -> bool:
        if self._index + 1 >= self._chunks:
            if self._total != self._size:
                raise ChecksumMismatchError(
                    self._body_key, f"{self._total} bytes, not {self._size}"
                )
            if self._crc.value != self._expected_crc:
                raise ChecksumMismatchError(self._body_key)
            return False
        self._index += 1
        try:
            data = cast("bytes | None", self._cache.client.lindex(self._body_key, self._index))
        except _REDIS_ERRORS as exc:
            raise BodyReadError(f"{self._body_key}: could not read: {exc}") from exc
        if data is None:
            raise BodyReadError(f"{self._body_key} vanished while it was being read")
        self._chunk = memoryview(data)
        self._pos = 0
        self._total += len(data)
        self._crc.update(data)
        return True


class _RedisWriter(BodyWriter):
    """Pushes full chunks as they come; ``commit`` stores the rest and swaps the head."""

    def __init__(self, cache: RedisCache, entry: Entry) -> None:
        self._cache = cache
        self._entry = entry
        self._gen = uuid.uuid4().hex
        self._body_key = cache._keys(entry.primary_key, entry.key)[2] + self._gen
        self._buffer = bytearray()
        self._pushed = 0
        self._size = 0
        self._crc = Crc()
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._buffer += chunk
        self._size += len(chunk)
        self._crc.update(chunk)
        size = self._cache.chunk_size
        while len(self._buffer) >= size:
            with self._cache._errors("store a body"):
                self._cache._push_chunk(self._body_key, bytes(self._buffer[:size]))
            del self._buffer[:size]
            self._pushed += 1

    def commit(self) -> Entry:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._done = True
        entry = replace(self._entry, size=self._size)
        try:
            with self._cache._errors("store"):
                total = self._cache._commit(
                    entry, self._gen, self._pushed, bytes(self._buffer), self._crc.value
                )
        except BaseException:
            self._cache._discard(self._body_key)
            raise
        finally:
            self._buffer = bytearray()
        self._cache._after_commit(total)
        return entry

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        if self._pushed:
            self._cache._discard(self._body_key)
