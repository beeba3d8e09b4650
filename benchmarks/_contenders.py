"""The three libraries on each backend they have, built the same way everywhere.

``make_session(library, backend, folder, redis_url, tag)`` returns a
``requests.Session`` that caches, or raises ``NotAvailable`` ("n/a" in the tables)
when the library has no such backend or the backend cannot run here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import requests

from benchmarks._common import check, getter

LIBRARIES = ("httpcache", "requests-cache", "CacheControl")
ALL_BACKENDS = ("memory", "sqlite", "filesystem", "separate-body", "redis")
#: The backends a run measures: all, or those named in ``BENCH_BACKENDS``
#: (comma-separated), for working on one backend without waiting for the rest.
BACKENDS = tuple(
    b for b in os.environ.get("BENCH_BACKENDS", ",".join(ALL_BACKENDS)).split(",") if b
)
#: What each library calls the backend (None: it has none).
NATIVE = {
    "httpcache": {b: b for b in ALL_BACKENDS},
    "requests-cache": {
        "memory": "memory",
        "sqlite": "sqlite",
        "filesystem": "filesystem",
        "separate-body": None,
        "redis": "redis",
    },
    "CacheControl": {
        "memory": "DictCache",
        "sqlite": None,
        "filesystem": "FileCache",
        "separate-body": "SeparateBodyFileCache",
        "redis": "RedisCache",
    },
}


class NotAvailable(Exception):
    """This library has no such backend, or it cannot run here."""


def installed() -> dict[str, bool]:
    found = {}
    for library, module in (("requests-cache", "requests_cache"), ("CacheControl", "cachecontrol")):
        try:
            __import__(module)
            found[library] = True
        except ImportError:
            found[library] = False
    found["httpcache"] = True
    return found


def _redis_client(redis_url: str | None) -> Any:
    if redis_url is None:
        raise NotAvailable("no redis-server")
    import redis

    return redis.Redis.from_url(redis_url)


def make_session(
    library: str, backend: str, folder: Path, redis_url: str | None, tag: str = "bench"
) -> requests.Session:
    native = NATIVE[library][backend]
    if native is None:
        raise NotAvailable(f"{library} has no {backend} backend")
    if not installed()[library]:
        raise NotAvailable(f"{library} is not installed")
    name = str(folder / f"{library}-{backend}-{tag}")
    if library == "httpcache":
        from httpcache import CachedSession

        if backend == "redis":
            from httpcache.caches.redis import RedisCache

            cache = RedisCache(_redis_client(redis_url), namespace=f"hc-{tag}")
            return CachedSession(backend=cache)
        return CachedSession(name, backend=backend)
    if library == "requests-cache":
        import requests_cache

        if backend == "redis":
            cache = requests_cache.RedisCache(
                namespace=f"rc-{tag}", connection=_redis_client(redis_url)
            )
            return requests_cache.CachedSession(backend=cache, cache_control=True)
        # cache_control=True: follow the response's headers, as the other two do
        return requests_cache.CachedSession(name, backend=backend, cache_control=True)
    from cachecontrol import CacheControl, caches
    from cachecontrol.cache import DictCache

    if backend == "memory":
        cache: Any = DictCache()
    elif backend == "redis":
        cache = caches.RedisCache(_redis_client(redis_url))
    else:
        cache = getattr(caches, native)(name)
    return CacheControl(requests.Session(), cache=cache)


def each_session(
    backends: Iterable[str],
    folder: Path,
    redis_url: str | None,
    tag: str,
    missing: dict[str, str],
) -> Iterator[tuple[str, str, str, requests.Session]]:
    """``(name, library, backend, session)`` for every library on every backend, in
    that order, name being ``"library|backend"``; those that cannot run are left out
    and put in ``missing`` with the reason (``n/a`` in the tables)."""
    for backend in backends:
        for library in LIBRARIES:
            name = f"{library}|{backend}"
            try:
                session = make_session(library, backend, folder, redis_url, tag)
            except NotAvailable as exc:
                missing[name] = str(exc)
                continue
            yield name, library, backend, session


def warmed_getters(
    backends: Iterable[str],
    folder: Path,
    base: str,
    redis_url: str | None,
    tag: str,
    path_of: Callable[[str, str], str],
    body: bytes,
    missing: dict[str, str],
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, Callable[[], None]], dict[str, str]]:
    """For every contender, its own URL (``base + path_of(library, backend)``) fetched
    once, which must give ``body``, and a call that GETs it again with ``headers``
    (``getter``). Returns the calls and the paths, keyed ``"library|backend"``."""
    calls: dict[str, Callable[[], None]] = {}
    paths: dict[str, str] = {}
    for name, library, backend, session in each_session(backends, folder, redis_url, tag, missing):
        path = path_of(library, backend)
        check(session.get(base + path).content == body, f"{name}: wrong body when storing")
        paths[name] = path
        calls[name] = getter(session, base + path, body, name, headers)
    return calls, paths


def clear_redis(redis_url: str | None) -> None:
    if redis_url is not None:
        client = _redis_client(redis_url)
        client.flushdb()  # our private server only
        client.close()
