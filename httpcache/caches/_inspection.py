"""requests-cache's inspection names, on every backend (``BaseCache`` inherits them).

They are written on the contract's own API (``entries``, ``get``, ``find``,
``open_entry``, ``update_head``, ``save``, ``delete``), so a backend with an index
answers them with its queries. ``contains`` and ``delete`` also take requests-cache's
keywords (``request=``, ``requests=``, ``verify=``, ``invalid=``, and ``older_than``
as a ``timedelta``): each backend's own method is wrapped, when its class is made,
by a thin layer that turns them into the contract's arguments.

Nothing here imports ``requests`` until a name that needs it is called
(``httpcache._views``): hc's fast hit imports the caches without it.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

from ..models import Entry
from ..policy.expiration import UNSET, ExpirationTime, resolve

if TYPE_CHECKING:
    import requests

    from .._views import RequestKeys
    from .base import BaseCache, EntryInfo

REDIRECTS = range(300, 400)


class RequestsCacheNames:
    """requests-cache's names for the inspection API (see the module text)."""

    #: How the session using this cache keys requests (set by the session).
    request_keys: RequestKeys | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, wrap in (
            ("contains", _contains_with_requests),
            ("delete", _delete_with_requests),
        ):
            own = cls.__dict__.get(name)
            if own is not None and not getattr(own, "_takes_requests", False):
                setattr(cls, name, wrap(own))

    # ---- names of the cache -------------------------------------------------------

    @property
    def cache_name(self) -> str:
        """The database file, folder or namespace this cache keeps its entries in."""
        for attribute in ("path", "directory", "namespace"):
            value = getattr(self, attribute, None)
            if value:
                return str(value)
        return type(self).__name__

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        path = getattr(self, "path", None)
        if path is None:
            raise AttributeError(f"{type(self).__name__} has no database file (db_path)")
        return Path(path)

    @property
    def cache_dir(self) -> Path:
        """The folder of a file cache."""
        directory = getattr(self, "directory", None)
        if directory is None:
            raise AttributeError(f"{type(self).__name__} has no folder (cache_dir)")
        return Path(directory)

    # ---- views ---------------------------------------------------------------------

    @property
    def responses(self) -> Mapping[str, requests.Response]:
        """Every stored response by key (read-only; a value is read when looked up)."""
        return StoredResponses(self._cache)

    @property
    def redirects(self) -> Mapping[str, str]:
        """Stored redirects: the key of a request that was redirected -> where to."""
        cache = self._cache
        found = {}
        for summary in cache.entries():
            if summary.status in REDIRECTS:
                entry = cache.get(summary.key)
                location = entry.response.headers.get("location") if entry else None
                if entry is not None and location:
                    found[entry.key] = urljoin(entry.url, location.strip())
        return found

    def filter(
        self,
        valid: bool = True,
        expired: bool = True,
        invalid: bool = False,
        older_than: ExpirationTime = None,
    ) -> Iterator[requests.Response]:
        """Stored responses: the fresh ones (``valid``), the expired ones, or both;
        with ``older_than``, only those created longer ago. ``invalid`` is accepted:
        an entry that cannot be read is never listed (it is a miss when looked up)."""
        from .._views import response_of

        cache = self._cache
        now = time.time()
        for summary in self._selected(valid, expired, older_than, now):
            pair = cache.open_entry(summary.key)
            if pair is None:
                continue
            entry, stream = pair
            with stream:
                body = stream.read()
            yield response_of(entry, body, now)

    def urls(
        self,
        valid: bool = True,
        expired: bool = True,
        invalid: bool = False,
        older_than: ExpirationTime = None,
    ) -> list[str]:
        """The URLs of stored responses, sorted, each once (filters as ``filter``)."""
        return sorted({e.url for e in self._selected(valid, expired, older_than, time.time())})

    def _selected(
        self, valid: bool, expired: bool, older_than: ExpirationTime, now: float
    ) -> Iterator[EntryInfo]:
        if not (valid or expired):
            return
        wanted = None if valid and expired else expired
        cutoff = None if older_than is None else now - _seconds(older_than, "older_than")
        for entry in self._cache.entries(expired=wanted, now=now):
            if cutoff is None or entry.created_at < cutoff:
                yield entry

    # ---- writing -----------------------------------------------------------------

    def save_response(
        self,
        response: requests.Response,
        cache_key: str | None = None,
        expires: datetime | None = None,
    ) -> Entry:
        """Store a response as it is, until ``expires`` (a datetime; ``None``: never),
        under ``cache_key`` or the key its request has in the session using the cache."""
        from .._views import entry_of

        now = time.time()
        entry = entry_of(
            response,
            self._request_keys(),
            cache_key=cache_key,
            expires=None if expires is None else _timestamp(expires),
            now=now,
        )
        return self._cache.save(entry, response.content or b"")

    def reset_expiration(self, expire_after: ExpirationTime = None) -> int:
        """Give every stored response a new lifetime from now (``expire_after`` takes
        the values of the option; ``None``: never expire); return how many."""
        expiration = resolve(expire_after)
        if expiration is None or expiration.do_not_cache:
            raise _configuration_error(f"reset_expiration() cannot take {expire_after!r}")
        cache = self._cache
        now = time.time()
        if expiration.deadline is not None:
            expires: float | None = expiration.deadline
        elif expiration.lifetime is None or math.isinf(expiration.lifetime):
            expires = None
        else:
            expires = now + expiration.lifetime
        count = 0
        for summary in list(cache.entries(now=now)):
            entry = cache.get(summary.key)
            if entry is None:
                continue
            # Kept past expiry as long as before (for revalidation, stale-if-error).
            grace = (
                entry.stale_until - entry.expires
                if entry.stale_until is not None and entry.expires is not None
                else 0.0
            )
            stale_until = None if expires is None else expires + grace
            cache.update_head(
                entry.with_changes(
                    expires=expires, stale_until=stale_until, expiry_from_caller=True
                )
            )
            count += 1
        return count

    def remove_expired_responses(self, expire_after: ExpirationTime = UNSET) -> int:
        """Remove expired responses; with ``expire_after``, then give what is left that
        lifetime (``reset_expiration``). Returns how many were removed."""
        removed = self._cache.remove_expired()
        if expire_after is not UNSET:
            self.reset_expiration(expire_after)
        return removed

    def remove_old_entries(self, created_before: datetime) -> int:
        """Remove the responses stored before ``created_before`` (naive: UTC)."""
        cutoff = _timestamp(created_before)
        # created_at < cutoff  <=>  cutoff - created_at > 0
        return self._cache.delete(older_than=0.0, now=cutoff)

    def invalidate(self, urls: Iterable[str]) -> int:
        """The driver's removal of what an unsafe request made stale (RFC 9111 §4.4).
        It is ``delete(urls=...)``; a backend may keep its entries through it
        (``FileCache(forever=True)``), while an explicit ``delete`` still deletes."""
        return self._cache.delete(urls=urls)

    # ---- helpers -----------------------------------------------------------------

    @property
    def _cache(self) -> BaseCache:
        return cast("BaseCache", self)

    def _request_keys(self) -> RequestKeys:
        if self.request_keys is not None:
            return self.request_keys
        from .._views import DefaultRequestKeys

        return DefaultRequestKeys()

    def _stored_keys(self, requests: Iterable[Any], verify: Any) -> list[str]:
        """Every stored key (Vary variants included) of these requests."""
        from .._views import prepared_of

        keys = self._request_keys()
        found = []
        for request in requests:
            primary = keys.key(prepared_of(request), verify)
            variants = [entry.key for entry in self._cache.find(primary)]
            found.extend(variants or [primary])
        return found


class StoredResponses(Mapping[str, "requests.Response"]):
    """``cache.responses``: stored responses by key, read when looked up."""

    def __init__(self, cache: BaseCache) -> None:
        self._store = cache

    def __getitem__(self, key: str) -> requests.Response:
        from .._views import response_of

        pair = self._store.open_entry(key)
        if pair is None:
            raise KeyError(key)
        entry, stream = pair
        with stream:
            return response_of(entry, stream.read())

    def __iter__(self) -> Iterator[str]:
        return (entry.key for entry in self._store.entries())

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._store.get(key) is not None


def _contains_with_requests(native: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(native)
    def contains(
        self: RequestsCacheNames,
        key: str | None = None,
        url: str | None = None,
        *,
        request: Any = None,
        verify: Any = True,
    ) -> bool:
        if request is not None:
            if any(self._cache.get(k) is not None for k in self._stored_keys([request], verify)):
                return True
            if key is None and url is None:
                return False
        return native(self, key, url)

    contains._takes_requests = True  # type: ignore[attr-defined]
    return contains


def _delete_with_requests(native: Callable[..., int]) -> Callable[..., int]:
    @functools.wraps(native)
    def delete(
        self: RequestsCacheNames,
        *keys: str,
        requests: Iterable[Any] | None = None,
        verify: Any = True,
        invalid: bool = False,  # unreadable entries are never served; nothing to do
        older_than: float | timedelta | None = None,
        **options: Any,
    ) -> int:
        if requests is not None:
            keys = (*keys, *self._stored_keys(requests, verify))
        if older_than is not None:
            options["older_than"] = _seconds(older_than, "older_than")
        return native(self, *keys, **options)

    delete._takes_requests = True  # type: ignore[attr-defined]
    return delete


def _seconds(value: Any, name: str) -> float:
    """A duration in seconds: a number, a timedelta, or a duration string."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        expiration = resolve(value)
        if expiration is not None and expiration.lifetime is not None:
            return expiration.lifetime
    raise _configuration_error(f"{name} must be seconds, a timedelta or a duration, not {value!r}")


def _timestamp(moment: datetime) -> float:
    """POSIX seconds of a datetime; a naive one is read as UTC."""
    if not isinstance(moment, datetime):
        raise _configuration_error(f"expected a datetime, not {moment!r}")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _configuration_error(message: str) -> Exception:
    from ..errors import ConfigurationError

    return ConfigurationError(message)
