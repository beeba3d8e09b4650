"""RedisCache: one cache shared by threads, processes and machines through Redis.

Key layout (``ns`` is the namespace; ``{...}`` is a Redis Cluster hash tag, so every
key of one resource, i.e. all variants of one primary key, lives in one slot):

- ``ns:{pk}:h:<key>``         head of one variant, a hash: ``v`` (format), ``e`` (the
                              entry, ``dumps_entry``), ``g`` (body generation),
                              ``n`` (number of chunks), ``s`` (body size)
- ``ns:{pk}:b:<key>:<gen>``   its body: a list of chunks of ``chunk_size`` bytes
- ``ns:{pk}:v``               the set of variant keys of the resource (``find``)
- ``ns:{ns}:expires``         index: sorted set, key -> ``expires`` (``+inf``: never)
- ``ns:{ns}:meta``            index: hash, key -> msgpack summary (url, status, size ...)
- ``ns:{ns}:lru``             sorted set, key -> last use (``max_size``)
- ``ns:{ns}:sizes``/``bytes`` what each entry counts for ``max_size``, and the sum
- ``ns:{ns}:stats``           hash: hits and misses (``clear`` keeps them)

``pk`` is the primary key itself, or ``#`` and a digest of it when it cannot be a
hash tag (empty, braces, or a leading ``#``).

Writing. Chunks go to a fresh generation's list, which has a short TTL until the
commit (a writer that dies leaves nothing for long). The commit writes the index row,
then one Lua script on the resource's slot checks that the head is still the one the
writer expected, adds the last chunk, swaps the head (which names the generation),
sets every TTL and retires the previous body after a grace period, so that a reader
streaming it can finish. Readers get the head's generation and read only that
generation's chunks: a head is never paired with another body. ``open_body`` reads
the generation of the head this thread last got from ``find``/``read_entry`` for
that key, so the driver serves the body of the very head it decided on.

TTLs: every key of an entry lives until its ``stale_until`` (at least ``min_ttl``
seconds, to allow for clocks of several machines); ``None`` means no TTL.

The index is best-effort: a row whose entry vanished (TTL, eviction by Redis) is
skipped and, once older than ``PRUNE_GRACE``, pruned. Every ``redis`` failure leaves
this module as ``StorageError``; damaged or foreign values are a logged miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

import msgpack
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from ..errors import BodyReadError, ConfigurationError, DeserializationError, StorageError
from ..models import Entry, Headers, Request, Response
from ..serialize import dumps_entry, loads_entry
from .base import BaseCache, BodyWriter, CacheStats, freshens, host_of, url_matches

logger = logging.getLogger("httpcache")

#: Version of the head hash and of index rows; another one is a miss.
HEAD_FORMAT = 1
META_FORMAT = 1
#: Bodies are stored (and streamed back) in pieces of this many bytes.
CHUNK_SIZE = 1024 * 1024
#: The shortest TTL given to an entry (seconds).
MIN_TTL = 60.0
#: TTL of the chunks of a body being written, renewed with every chunk.
PENDING_TTL = 600.0
#: A replaced or deleted body stays readable this long, for readers in the middle of
#: it (another thread or process streaming a hit); then Redis drops it.
REPLACED_BODY_GRACE = 60.0
#: An index row without an entry is pruned once it is this old (a commit in flight
#: writes its row just before its head).
PRUNE_GRACE = 60.0
#: Keys handled per round trip when listing or deleting.
PAGE = 500
#: Commits between two small prunings of the index.
PRUNE_EVERY = 64
#: Retries of a script that found the head changed under it.
RETRIES = 10

_REDIS_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException)
_HEAD_FIELDS = ("v", "e", "g", "n", "s")
Client = redis.Redis | RedisCluster

# ---- Lua scripts (each touches the keys of one slot only) ------------------------------

_LUA_HELPERS = """
local function current_gen(head)
  if redis.call('TYPE', head).ok ~= 'hash' then return '' end
  return redis.call('HGET', head, 'g') or ''
end
local function sane_set(key)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'set' and kind ~= 'none' then redis.call('DEL', key) end
end
local function expire_all(ttl, head, variants, set_ttl, body)
  if ttl > 0 then
    redis.call('PEXPIRE', head, ttl)
    if body then redis.call('PEXPIRE', body, ttl) end
    if set_ttl == -2 or (set_ttl >= 0 and set_ttl < ttl) then
      redis.call('PEXPIRE', variants, ttl)
    end
  else
    if body then redis.call('PERSIST', body) end
    redis.call('PERSIST', variants)
  end
end
"""

# KEYS: head, variants, new body, body of the expected current generation.
# ARGV: expected gen, new gen, entry, size, chunks pushed, last chunk, ttl ms (0: none),
#       member, grace ms, head format.
_COMMIT = (
    _LUA_HELPERS
    + """
local current = current_gen(KEYS[1])
if current ~= ARGV[1] then return {0, current} end
local pushed = tonumber(ARGV[5])
local chunks = pushed
local length = redis.call('LLEN', KEYS[3])
if ARGV[6] ~= '' then
  chunks = pushed + 1
  if length == pushed then length = redis.call('RPUSH', KEYS[3], ARGV[6]) end
end
if length ~= chunks then return {-1, ''} end
sane_set(KEYS[2])
local set_ttl = redis.call('PTTL', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[10], 'e', ARGV[3], 'g', ARGV[2], 'n', chunks, 's', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[8])
local body = false
if chunks > 0 then body = KEYS[3] end
expire_all(tonumber(ARGV[7]), KEYS[1], KEYS[2], set_ttl, body)
if current ~= '' and current ~= ARGV[2] then
  local left = redis.call('PTTL', KEYS[4])
  if left == -1 or left > tonumber(ARGV[9]) then redis.call('PEXPIRE', KEYS[4], ARGV[9]) end
end
return {1, ''}
"""
)

# KEYS: head, variants, body of the expected generation. ARGV: expected gen, entry,
# ttl ms (0: none), member. Returns 1, or 0 if the head is gone or was replaced.
_UPDATE_HEAD = (
    _LUA_HELPERS
    + """
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or current_gen(KEYS[1]) ~= ARGV[1] then
  return 0
end
sane_set(KEYS[2])
local set_ttl = redis.call('PTTL', KEYS[2])
redis.call('HSET', KEYS[1], 'e', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
local body = false
if redis.call('EXISTS', KEYS[3]) == 1 then body = KEYS[3] end
expire_all(tonumber(ARGV[3]), KEYS[1], KEYS[2], set_ttl, body)
return 1
"""
)

# KEYS: head, variants, body of the expected generation. ARGV: expected gen, member,
# grace ms (the body goes after it, so that a reader in the middle of it finishes).
_DELETE = (
    _LUA_HELPERS
    + """
local current = current_gen(KEYS[1])
if current ~= ARGV[1] then return {-1, current} end
local existed = redis.call('DEL', KEYS[1])
if current ~= '' then
  local left = redis.call('PTTL', KEYS[3])
  if left == -1 or left > tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
end
sane_set(KEYS[2])
redis.call('SREM', KEYS[2], ARGV[2])
return {existed, ''}
"""
)

# KEYS: variants, then the head of each member in ARGV. Drops members without a head.
_DROP_ABSENT = """
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return 0
"""

# KEYS: expires, lru, meta, sizes, bytes. ARGV: key, expires score, now, row, cost.
# Returns the new total cost and the row it replaced ('' if none).
_INDEX_PUT = """
local old_row = redis.call('HGET', KEYS[3], ARGV[1]) or ''
local old_cost = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
return {redis.call('INCRBY', KEYS[5], tonumber(ARGV[5]) - old_cost), old_row}
"""

# KEYS: expires, lru, meta, sizes, bytes. ARGV: pairs of key and expected row ('': any).
_INDEX_REMOVE = """
local freed = 0
for i = 1, #ARGV, 2 do
  local key = ARGV[i]
  if ARGV[i + 1] == '' or redis.call('HGET', KEYS[3], key) == ARGV[i + 1] then
    freed = freed + tonumber(redis.call('HGET', KEYS[4], key) or '0')
    redis.call('ZREM', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
    redis.call('HDEL', KEYS[3], key)
    redis.call('HDEL', KEYS[4], key)
  end
end
if freed ~= 0 then redis.call('DECRBY', KEYS[5], freed) end
return freed
"""


# ---- small values --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Head:
    """A stored head with what is needed to read its body."""

    entry: Entry
    primary_key: str
    gen: str
    chunks: int
    size: int


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

    def summary(self) -> Entry:
        """An ``Entry`` with the row's metadata; header fields are left out (empty)."""
        return Entry(
            key=self.key,
            primary_key=self.primary_key,
            request=Request(self.method, self.url),
            response=Response(self.status, Headers(), "", self.url),
            request_time=self.request_time,
            response_time=self.response_time,
            created_at=self.created_at,
            expires=self.expires,
            size=self.size,
            stale_until=self.stale_until,
        )


def _row_bytes(entry: Entry, indexed_at: float) -> bytes:
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
    ]
    return cast(bytes, msgpack.packb(fields, use_bin_type=True))


def _load_row(key: str, raw: bytes) -> _Row:
    try:
        f = msgpack.unpackb(raw, raw=False)
        if not (isinstance(f, list) and len(f) == 12 and f[0] == META_FORMAT):
            raise ValueError("not an index row of this format")
        row = _Row(key, raw, *f[1:])
    except Exception as exc:  # damaged bytes raise many types
        raise DeserializationError(f"index row: {exc!r}") from None
    texts = (row.primary_key, row.method, row.url)
    numbers = (row.created_at, row.request_time, row.response_time, row.indexed_at)
    if not (
        all(isinstance(v, str) for v in texts)
        and all(isinstance(v, int) for v in (row.status, row.size))
        and all(isinstance(v, int | float) for v in numbers)
        and all(v is None or isinstance(v, int | float) for v in (row.expires, row.stale_until))
    ):
        raise DeserializationError("index row: fields of the wrong types")
    return row


def _tag(primary_key: str) -> str:
    """The hash tag of a primary key: itself, or a digest when it cannot be one."""
    if primary_key and not (set("{}") & set(primary_key) or primary_key.startswith("#")):
        return primary_key
    data = primary_key.encode("utf-8", "surrogatepass")
    return "#" + hashlib.blake2b(data, digest_size=16).hexdigest()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _wrong_type(exc: BaseException) -> bool:
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("WRONGTYPE")


def _batches(items: list[str], size: int = PAGE) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
        ns = namespace
        self._index_keys = [f"{ns}:{{{ns}}}:{name}" for name in ("expires", "lru", "meta")]
        self._index_keys += [f"{ns}:{{{ns}}}:sizes", f"{ns}:{{{ns}}}:bytes"]
        self._expires_key, self._lru_key, self._meta_key, _, self._bytes_key = self._index_keys
        self._stats_key = f"{ns}:{{{ns}}}:stats"
        self._scripts = {
            name: connection.register_script(source)
            for name, source in {
                "commit": _COMMIT,
                "update_head": _UPDATE_HEAD,
                "delete": _DELETE,
                "drop_absent": _DROP_ABSENT,
                "index_put": _INDEX_PUT,
                "index_remove": _INDEX_REMOVE,
            }.items()
        }
        self._local = threading.local()
        self._commits = 0

    def __repr__(self) -> str:
        return f"RedisCache(namespace={self.namespace!r})"

    # ---- the storage protocol -----------------------------------------------------

    def find(self, primary_key: str) -> list[Entry]:
        usual_head, variants, _ = self._keys(primary_key, primary_key)
        with self._errors("look up"):
            # One round trip in the usual case: the only variant's key is the primary key.
            pipe = self.client.pipeline(transaction=False)
            pipe.smembers(variants)
            pipe.hmget(usual_head, _HEAD_FIELDS)
            found_members, usual = pipe.execute(raise_on_error=False)
            if isinstance(found_members, Exception):
                if not _wrong_type(found_members):
                    raise found_members
                self._damaged(variants, found_members)
                return []
            members = sorted(_text(m) for m in found_members)
            others = [(primary_key, key) for key in members if key != primary_key]
            read = iter(self._read_heads(others) if others else [])
            heads = [
                self._parse_head(primary_key, key, usual) if key == primary_key else next(read)
                for key in members
            ]
            absent = [key for key, head in zip(members, heads, strict=True) if head is None]
            if absent:  # their entries expired: tidy the set (only if still absent)
                head_keys = [self._keys(primary_key, key)[0] for key in absent]
                self._scripts["drop_absent"](keys=[variants, *head_keys], args=absent)
            found = [head for head in heads if isinstance(head, _Head)]
            if found and self.max_size is not None:
                now = time.time()
                self.client.zadd(self._lru_key, {h.entry.key: now for h in found}, xx=True)
        for head in found:
            self._remember(head)
        return [head.entry for head in found]

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
            if head.chunks == 0:
                return cast(BinaryIO, io.BytesIO(b""))
            body_key = self._body_key(head)
            try:
                first = self.client.lindex(body_key, 0)
            except redis.ResponseError as exc:
                if not _wrong_type(exc):
                    raise
                self._damaged(body_key, exc)
                return None
        if first is None:  # deleted since, or replaced long ago
            return None
        if head.chunks == 1 and len(first) != head.size:
            self._damaged(body_key, f"{len(first)} bytes, expected {head.size}")
            return None
        return cast(BinaryIO, _BodyStream(self, body_key, head, first))

    def open_writer(self, entry: Entry) -> BodyWriter:
        return _RedisWriter(self, entry)

    def update_head(self, entry: Entry) -> None:
        head_key, variants, _ = self._keys(entry.primary_key, entry.key)
        with self._errors("update a head"):
            for _ in range(RETRIES):
                [head] = self._read_heads([(entry.primary_key, entry.key)])
                if not isinstance(head, _Head) or not freshens(entry, head.entry):
                    return  # gone, or another response stored since
                stored = replace(entry, size=head.size)
                data = dumps_entry(stored)
                updated = self._scripts["update_head"](
                    keys=[head_key, variants, self._body_key(head)],
                    args=[head.gen, data, self._ttl_ms(stored), entry.key],
                )
                if updated:
                    self._remember(replace(head, entry=stored))
                    self._index_put(stored, len(data))
                    return
            raise StorageError(f"{self!r}: {entry.key} kept changing during update_head")

    def delete_keys(self, keys: Iterable[str]) -> int:
        unique = list(dict.fromkeys(keys))
        removed = 0
        memo = self._memo()
        with self._errors("delete"):
            for batch in _batches(unique):
                raws = self.client.hmget(self._meta_key, batch)
                self._index_remove([(key, b"") for key in batch])
                for key, raw in zip(batch, raws, strict=True):
                    memo.pop(key, None)
                    row = self._row(key, raw) if raw is not None else None
                    # Without a row, try the usual case of an entry without Vary.
                    removed += self._delete_entry(row.primary_key if row else key, key)
        return removed

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's whole head, listed from the index (heads read a page at a time)."""
        for page in self._row_pages():
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
        if self._owns_client:
            self.client.close()

    # ---- counters -------------------------------------------------------------------

    def record_lookup(self, hit: bool) -> None:
        with self._errors("count a lookup"):
            self.client.hincrby(self._stats_key, "hits" if hit else "misses", 1)

    def lookup_counts(self) -> tuple[int, int]:
        with self._errors("read counters"):
            hits, misses = self.client.hmget(self._stats_key, ["hits", "misses"])
        return int(hits or 0), int(misses or 0)

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
        for row in self._live_rows(None, now, lambda _row: True):
            count += 1
            size += row.size
            expired += row.expires is not None and now >= row.expires
            host = host_of(row.url)
            per_host[host] = per_host.get(host, 0) + 1
        hits, misses = self.lookup_counts()
        return CacheStats(count, size, expired, hits, misses, per_host)

    def __len__(self) -> int:
        return sum(1 for _ in self._live_rows(None, time.time(), lambda _row: True))

    # ---- keys ---------------------------------------------------------------------------

    def _keys(self, primary_key: str, key: str) -> tuple[str, str, str]:
        """Head, variant set and body prefix of an entry."""
        base = f"{self.namespace}:{{{_tag(primary_key)}}}"
        return f"{base}:h:{key}", f"{base}:v", f"{base}:b:{key}:"

    def _body_key(self, head: _Head) -> str:
        return self._keys(head.primary_key, head.entry.key)[2] + head.gen

    def _ttl_ms(self, entry: Entry) -> int:
        """Milliseconds until Redis may drop the entry; 0 for never."""
        if entry.stale_until is None:
            return 0
        return math.ceil(max(entry.stale_until - time.time(), self.min_ttl) * 1000)

    # ---- reading heads ------------------------------------------------------------------

    def _read_heads(self, wanted: list[tuple[str, str]]) -> list[_Head | bool | None]:
        """Heads of (primary key, key) pairs: a ``_Head``, ``None`` (absent) or ``False``
        (unreadable, logged). One round trip."""
        pipe = self.client.pipeline(transaction=False)
        for primary_key, key in wanted:
            pipe.hmget(self._keys(primary_key, key)[0], _HEAD_FIELDS)
        results = pipe.execute(raise_on_error=False)
        return [
            self._parse_head(pk, key, result)
            for (pk, key), result in zip(wanted, results, strict=True)
        ]

    def _parse_head(self, primary_key: str, key: str, result: Any) -> _Head | bool | None:
        where = self._keys(primary_key, key)[0]
        if isinstance(result, Exception):
            if not _wrong_type(result):
                raise result
            self._damaged(where, result)
            return False
        version, raw, gen, chunks, size = result
        if version is None and raw is None:
            return None
        try:
            if version != str(HEAD_FORMAT).encode():
                raise DeserializationError(f"head format {version!r}, expected {HEAD_FORMAT}")
            entry = loads_entry(raw)
            if entry.key != key or entry.primary_key != primary_key:
                raise DeserializationError(f"head of {entry.key!r} stored under {key!r}")
            head = _Head(entry, primary_key, gen.decode("ascii"), int(chunks), int(size))
        except (DeserializationError, AttributeError, ValueError, TypeError) as exc:
            self._damaged(where, exc)
            return False
        return head

    def _locate(self, key: str) -> _Head | None:
        """The head stored under ``key``, found through its index row.

        The usual case, an entry without Vary (key == primary key), is read in the same
        round trip; it is also where an entry whose row is missing is looked for.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self._meta_key, key)
        pipe.hmget(self._keys(key, key)[0], _HEAD_FIELDS)
        raw, usual = pipe.execute(raise_on_error=False)
        if isinstance(raw, Exception):
            raise raw
        row = self._row(key, raw) if raw is not None else None
        if row is None or row.primary_key == key:
            head = self._parse_head(key, key, usual)
        else:
            [head] = self._read_heads([(row.primary_key, key)])
        return head if isinstance(head, _Head) else None

    # ---- the head this thread last read, per key ------------------------------------------

    def _memo(self) -> OrderedDict[str, _Head]:
        memo = getattr(self._local, "heads", None)
        if memo is None:
            memo = self._local.heads = OrderedDict()
        return memo

    def _remember(self, head: _Head) -> None:
        memo = self._memo()
        memo[head.entry.key] = head
        memo.move_to_end(head.entry.key)
        while len(memo) > 256:
            memo.popitem(last=False)

    def _recall(self, key: str) -> _Head | None:
        return self._memo().pop(key, None)

    # ---- writing ---------------------------------------------------------------------------

    def _push_chunk(self, body_key: str, chunk: bytes) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(body_key, chunk)
        pipe.pexpire(body_key, int(PENDING_TTL * 1000))
        pipe.execute()

    def _commit(self, entry: Entry, gen: str, pushed: int, tail: bytes) -> int:
        """Index row, then the head swap; returns the total cost for ``max_size``."""
        head_key, variants, body_prefix = self._keys(entry.primary_key, entry.key)
        data = dumps_entry(entry)
        total, old_row = self._index_put(entry, len(data))
        if old_row and old_row.primary_key != entry.primary_key:  # the key moved: drop the old
            self._delete_entry(old_row.primary_key, entry.key)
        remembered = self._memo().pop(entry.key, None)
        expected = remembered.gen if remembered else ""
        args = [gen, data, entry.size, pushed, tail, self._ttl_ms(entry), entry.key]
        args += [int(REPLACED_BODY_GRACE * 1000), HEAD_FORMAT]
        for _ in range(RETRIES):
            keys = [head_key, variants, body_prefix + gen, body_prefix + expected]
            status, current = self._scripts["commit"](keys=keys, args=[expected, *args])
            if status == 1:
                break
            if status == -1:
                raise StorageError(f"{self!r}: the body of {entry.key} lost chunks before commit")
            expected = _text(current)
        else:
            raise StorageError(f"{self!r}: {entry.key} kept changing during commit")
        return total

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

    def _delete_entry(self, primary_key: str, key: str) -> int:
        head_key, variants, body_prefix = self._keys(primary_key, key)
        expected = ""
        for _ in range(RETRIES):
            keys = [head_key, variants, body_prefix + expected]
            args = [expected, key, int(REPLACED_BODY_GRACE * 1000)]
            existed, current = self._scripts["delete"](keys=keys, args=args)
            if existed >= 0:
                return int(existed)
            expected = _text(current)
        # Rewritten again and again meanwhile: what is there now was stored after
        # this delete began, so it stays (as if it had come just after the delete).
        logger.debug("%r: %s kept being rewritten; the newest version stays", self, key)
        return 0

    # ---- the index ------------------------------------------------------------------------

    def _index_put(self, entry: Entry, head_size: int) -> tuple[int, _Row | None]:
        """Write the entry's index row; the new total cost and the row it replaced."""
        now = time.time()
        score = "+inf" if entry.expires is None else repr(entry.expires)
        args = [entry.key, score, now, _row_bytes(entry, now), entry.size + head_size]
        total, old = self._scripts["index_put"](keys=self._index_keys, args=args)
        old_row = None
        with contextlib.suppress(DeserializationError):  # a damaged row is replaced anyway
            old_row = _load_row(entry.key, old) if old else None
        return int(total), old_row

    def _index_remove(self, rows: list[tuple[str, bytes]]) -> None:
        """Remove index rows; a row given with its bytes only if it is still that row."""
        for start in range(0, len(rows), PAGE):
            args: list[str | bytes] = []
            for key, raw in rows[start : start + PAGE]:
                args += [key, raw]
            self._scripts["index_remove"](keys=self._index_keys, args=args)

    def _row(self, key: str, raw: bytes) -> _Row | None:
        try:
            return _load_row(key, raw)
        except DeserializationError as exc:
            self._damaged(f"{self._meta_key}[{key}]", exc)
            return None

    def _row_pages(self) -> Iterator[list[_Row]]:
        """Every readable index row, a page at a time (damaged rows are dropped)."""
        cursor = 0
        seen: set[str] = set()
        while True:
            with self._errors("list"):
                cursor, items = self.client.hscan(self._meta_key, cursor, count=PAGE)
            page = []
            for name, raw in items.items():
                key = _text(name)
                if key in seen:
                    continue
                seen.add(key)
                row = self._row(key, raw)
                if row is None:
                    with self._errors("prune the index"):
                        self._index_remove([(key, raw)])
                else:
                    page.append(row)
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
            raws = self.client.hmget(self._meta_key, keys)
        rows = [self._row(key, raw) for key, raw in zip(keys, raws, strict=True) if raw]
        return [row for row in rows if row is not None]

    def _expired_keys(self, now: float) -> list[str]:
        with self._errors("list"):
            return [_text(k) for k in self.client.zrangebyscore(self._expires_key, "-inf", now)]

    def _fresh_keys(self, now: float) -> list[str]:
        with self._errors("list"):
            found = self.client.zrangebyscore(self._expires_key, f"({now!r}", "+inf")
        return [_text(k) for k in found]

    def _live_rows(self, expired: bool | None, now: float, wanted: Any) -> Iterator[_Row]:
        """Index rows passing ``wanted`` whose entry still exists."""
        pages = self._row_pages() if expired is None else self._rows_by_expiry(expired, now)
        for page in pages:
            yield from self._alive([row for row in page if wanted(row)])
        self._prune_pending()

    def _alive(self, rows: list[_Row]) -> list[_Row]:
        """The rows whose head still exists (one round trip); the others are noted
        for pruning."""
        if not rows:
            return []
        with self._errors("list"):
            pipe = self.client.pipeline(transaction=False)
            for row in rows:
                pipe.exists(self._keys(row.primary_key, row.key)[0])
            found = pipe.execute()
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
        """Drop a few rows of entries that expired and vanished (keeps the index small)."""
        cutoff = time.time() - PRUNE_GRACE
        keys = self.client.zrangebyscore(self._expires_key, "-inf", cutoff, start=0, num=PAGE)
        if keys:
            self._alive(self._rows_of([_text(k) for k in keys]))
            self._prune_pending()

    def _evict(self, total: int) -> None:
        """Delete least recently used entries until the total fits ``max_size``."""
        assert self.max_size is not None
        while total > self.max_size:
            oldest = [_text(k) for k in self.client.zrange(self._lru_key, 0, 31)]
            if not oldest:
                return
            costs = self.client.hmget(self._index_keys[3], oldest)
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
                raise BodyReadError(f"{self._body_key}: {self._total} bytes, not {self._size}")
            return False
        self._index += 1
        try:
            data = self._cache.client.lindex(self._body_key, self._index)
        except _REDIS_ERRORS as exc:
            raise BodyReadError(f"{self._body_key}: could not read: {exc}") from exc
        if data is None:
            raise BodyReadError(f"{self._body_key} vanished while it was being read")
        self._chunk = memoryview(data)
        self._pos = 0
        self._total += len(data)
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
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this writer was already committed or aborted")
        self._buffer += chunk
        self._size += len(chunk)
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
                total = self._cache._commit(entry, self._gen, self._pushed, bytes(self._buffer))
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
