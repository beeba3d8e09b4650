"""The storage protocol every backend implements, and the inspection API built on it.

A backend stores *entries* (a response head with its metadata, see ``models.Entry``)
and their *bodies*, each under the entry's ``key``. Several entries may share a
``primary_key``: they are the Vary variants of one resource (RFC 9111 §4.1).

The protocol is small on purpose (``find``, ``read_entry``, ``open_body``,
``open_writer``, ``update_head``, ``delete_keys``, ``iter_entries``, ``clear``);
everything users call (``entries``, ``delete``, ``stats`` ...) is written once here
on top of it. A backend with an index (SQLite, Redis) overrides those with queries.

Bodies are written through a ``BodyWriter`` so that a streamed download can go to
storage as the caller reads it: nothing is visible to readers until ``commit()``,
and ``abort()`` (or never committing) leaves the previous entry untouched.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple
from urllib.parse import urlsplit

from ..models import Entry
from ._inspection import RequestsCacheNames


class BodyWriter(ABC):
    """Receives a body in chunks; stores entry and body atomically on ``commit``."""

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @abstractmethod
    def commit(self) -> Entry:
        """Store the entry (with ``size`` set to the bytes written) and its body."""

    @abstractmethod
    def abort(self) -> None:
        """Discard what was written; the stored state is as before ``open_writer``."""

    def __enter__(self) -> BodyWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.abort()


class EntryInfo(NamedTuple):
    """What ``entries()`` yields on every backend: one entry's metadata, read from an
    index where the backend has one, without its header fields or its body
    (``cache.get(key)`` reads the whole entry). Times are POSIX seconds."""

    key: str
    primary_key: str
    method: str
    url: str
    status: int
    size: int
    created_at: float
    expires: float | None
    stale_until: float | None = None
    request_time: float = 0.0
    response_time: float = 0.0

    @classmethod
    def of(cls, entry: Entry) -> EntryInfo:
        return cls(
            entry.key,
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
        )

    @property
    def host(self) -> str:
        return host_of(self.url)

    @property
    def is_expired(self) -> bool:
        return self.is_expired_at(time.time())

    def is_expired_at(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def is_removable_at(self, now: float) -> bool:
        """True once the entry can no longer be served or revalidated."""
        return self.stale_until is not None and now >= self.stale_until


@dataclass(frozen=True)
class CacheStats:
    """What ``cache.stats()`` reports. ``disk_bytes`` is what the store takes on disk
    and ``reclaimable`` what of it holds no live entry (``compact()`` gives that back),
    where the backend measures them (SQLite: the file and its WAL; else ``None``)."""

    entries: int
    bytes: int
    expired: int
    hits: int
    misses: int
    per_host: dict[str, int] = field(default_factory=dict)
    disk_bytes: int | None = None
    reclaimable: int | None = None

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "entries": self.entries,
            "bytes": self.bytes,
            "expired": self.expired,
            "hits": self.hits,
            "misses": self.misses,
            "per_host": dict(self.per_host),
        }
        if self.disk_bytes is not None:
            found["disk_bytes"] = self.disk_bytes
            found["reclaimable"] = self.reclaimable
        return found


def freshens(freshened: Entry, stored: Entry) -> bool:
    """Whether ``freshened`` (an ``update_head`` argument) is a new head for the
    response ``stored``: freshening keeps ``created_at``, a new response has its own."""
    return freshened.created_at == stored.created_at


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def url_matches(url: str, pattern: str) -> bool:
    """Glob match of a URL, the scheme optional on both sides (``*`` crosses ``/``)."""
    return fnmatch.fnmatchcase(url.split("://", 1)[-1], pattern.split("://", 1)[-1])


class BaseCache(RequestsCacheNames, ABC):
    """A response store. Subclasses implement the protocol methods marked abstract."""

    #: Bytes the store may hold (bodies plus heads, approximately); ``None``: no limit.
    max_size: int | None = None

    def __init__(self, max_size: int | None = None) -> None:
        if max_size is not None and max_size <= 0:
            raise ValueError("max_size must be a positive number of bytes or None")
        self.max_size = max_size
        self._counter_lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        #: Turns a user-given URL into the form stored in entries (set by the session,
        #: which knows the ignored parameters); used by ``contains`` and ``delete``.
        self.url_normalizer: Callable[[str], str] = _default_url_normalizer

    # ---- the storage protocol -------------------------------------------------

    @abstractmethod
    def find(self, primary_key: str) -> list[Entry]:
        """Every stored variant of one resource (heads only, no bodies)."""

    @abstractmethod
    def read_entry(self, key: str) -> Entry | None:
        """One entry's head, or ``None`` if absent or unreadable."""

    @abstractmethod
    def open_body(self, key: str) -> BinaryIO | None:
        """A readable binary stream of the body stored with ``key``, or ``None``."""

    def open_entry(self, key: str) -> tuple[Entry, BinaryIO] | None:
        """An entry's head and a stream of its body, both from the same write, or None.

        The driver serves from this. The default reads one, then the other, which a
        concurrent rewrite can come between; backends that can pair them override it.
        """
        entry = self.read_entry(key)
        body = self.open_body(key) if entry is not None else None
        if entry is None or body is None:
            return None
        return entry, body

    @abstractmethod
    def open_writer(self, entry: Entry) -> BodyWriter:
        """Start storing ``entry``; its body follows through the writer."""

    @abstractmethod
    def update_head(self, entry: Entry) -> None:
        """Replace a stored head, keeping its body (RFC 9111 §4.3.4 freshening).

        Does nothing if ``entry.key`` is no longer stored, or now holds another
        response than the one revalidated (see ``freshens``): a response stored
        meanwhile by another thread or process keeps its own head.
        """

    @abstractmethod
    def delete_keys(self, keys: Iterable[str]) -> int:
        """Remove these entries and their bodies; return how many existed."""

    @abstractmethod
    def iter_entries(self) -> Iterator[Entry]:
        """Every entry's head, in no particular order, without reading bodies."""

    @abstractmethod
    def clear(self) -> None:
        """Remove everything this cache stored (and nothing else)."""

    def close(self) -> None:
        """Release connections or handles."""

    def compact(self) -> int:
        """Give storage space back that entries no longer use; return how many bytes.

        ``hc cache compact`` calls it. A backend whose space shrinks by itself (memory,
        files, Redis) has nothing to do and returns 0.
        """
        return 0

    # ---- hit and miss counters (persistent backends override) -----------------

    def record_lookup(self, hit: bool) -> None:
        with self._counter_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def lookup_counts(self) -> tuple[int, int]:
        return self._hits, self._misses

    # ---- conveniences on top of the protocol -----------------------------------

    def save(self, entry: Entry, body: bytes) -> Entry:
        """Store an entry with a body that is already in memory."""
        writer = self.open_writer(entry)
        try:
            writer.write(body)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def read_body(self, key: str) -> bytes | None:
        stream = self.open_body(key)
        if stream is None:
            return None
        with stream:
            return stream.read()

    # ---- the inspection API (contract) -----------------------------------------

    def entries(
        self,
        *,
        expired: bool | None = None,
        url: str | None = None,
        host: str | None = None,
        now: float | None = None,
    ) -> Iterator[EntryInfo]:
        """Iterate entries' metadata; filter on expiry, a URL glob, or a host."""
        now = time.time() if now is None else now
        wanted_host = host.lower() if host else None
        for entry in self.iter_entries():
            if expired is not None and entry.is_expired_at(now) != expired:
                continue
            if url is not None and not url_matches(entry.url, url):
                continue
            if wanted_host is not None and host_of(entry.url) != wanted_host:
                continue
            yield EntryInfo.of(entry)

    def get(self, key: str) -> Entry | None:
        return self.read_entry(key)

    def contains(self, key: str | None = None, url: str | None = None) -> bool:
        if key is None and url is None:
            raise ValueError("contains() needs a key or a url")
        if key is not None and self.read_entry(key) is not None:
            return True
        if url is not None:
            wanted = self.url_normalizer(url)
            return any(entry.url == wanted for entry in self.iter_entries())
        return False

    def delete(
        self,
        *keys: str,
        urls: Iterable[str] | None = None,
        expired: bool = False,
        older_than: float | None = None,
        now: float | None = None,
    ) -> int:
        """Delete by key, by URL, every expired entry, or entries older than N seconds."""
        now = time.time() if now is None else now
        doomed = set(keys)
        wanted_urls = {self.url_normalizer(u) for u in urls or ()}
        if wanted_urls or expired or older_than is not None:
            for entry in self.iter_entries():
                if (
                    entry.url in wanted_urls
                    or (expired and entry.is_expired_at(now))
                    or (older_than is not None and now - entry.created_at > older_than)
                ):
                    doomed.add(entry.key)
        return self.delete_keys(doomed) if doomed else 0

    def remove_expired(self, now: float | None = None) -> int:
        return self.delete(expired=True, now=now)

    def stats(self, now: float | None = None) -> CacheStats:
        now = time.time() if now is None else now
        count = size = expired = 0
        per_host: dict[str, int] = {}
        for entry in self.iter_entries():
            count += 1
            size += entry.size
            expired += entry.is_expired_at(now)
            host = host_of(entry.url)
            per_host[host] = per_host.get(host, 0) + 1
        hits, misses = self.lookup_counts()
        return CacheStats(count, size, expired, hits, misses, per_host)

    def __len__(self) -> int:
        return sum(1 for _ in self.iter_entries())

    def __enter__(self) -> BaseCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _default_url_normalizer(url: str) -> str:
    from ..keys import normalize_url

    return normalize_url(url)
