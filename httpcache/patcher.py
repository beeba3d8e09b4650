"""Patch ``requests`` globally: ``install_cache`` and its companions (requests-cache's API).

After ``install_cache(...)``, every ``requests.Session()`` (and so ``requests.get``)
is a ``CachedSession`` sharing one cache, until ``uninstall_cache()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import requests.sessions

from ._options import split_session_options
from .caches import BaseCache, make_backend
from .config import CacheConfig
from .policy.expiration import UNSET, ExpirationTime
from .session import CachedSession

_ORIGINAL_SESSION = requests.sessions.Session


def install_cache(
    cache_name: str = "http_cache",
    backend: str | BaseCache | type[BaseCache] | None = "sqlite",
    session_factory: type[CachedSession] = CachedSession,
    **options: Any,
) -> None:
    """Make every new ``requests`` session cache, with these ``CachedSession`` options.

    The sessions share one cache, which closing one of them leaves open
    (``autoclose=False`` unless given).
    """
    options.setdefault("autoclose", False)
    split = split_session_options(cache_name, backend, options)
    cache = make_backend(backend, split.cache_name, **split.backend)
    session_options = {**split.config, **split.rest}
    CacheConfig(**split.config)  # bad values fail here, not at the first request

    class _InstalledSession(session_factory):  # type: ignore[valid-type, misc]
        installed_cache = cache

        def __init__(self) -> None:
            super().__init__(split.cache_name, backend=cache, **session_options)

    _patch(_InstalledSession)


def uninstall_cache() -> None:
    """Restore ``requests`` as it was."""
    _patch(_ORIGINAL_SESSION)


def is_installed() -> bool:
    return requests.Session is not _ORIGINAL_SESSION


def get_cache() -> BaseCache | None:
    """The installed cache, or ``None`` when none is installed."""
    return getattr(requests.Session, "installed_cache", None)


def clear() -> None:
    cache = get_cache()
    if cache is not None:
        cache.clear()


def remove_expired_responses(expire_after: ExpirationTime = UNSET) -> int:
    """Remove the installed cache's expired responses (see ``remove_expired_responses``
    of the cache); 0 when none is installed."""
    cache = get_cache()
    return cache.remove_expired_responses(expire_after) if cache is not None else 0


@contextmanager
def disabled() -> Iterator[None]:
    """Plain ``requests`` inside the block, the installed cache again after it."""
    previous = requests.Session
    _patch(_ORIGINAL_SESSION)
    try:
        yield
    finally:
        _patch(previous)


@contextmanager
def enabled(*args: Any, **kwargs: Any) -> Iterator[None]:
    """``install_cache(*args, **kwargs)`` for the block, uninstalled after it."""
    previous = requests.Session
    install_cache(*args, **kwargs)
    try:
        yield
    finally:
        _patch(previous)


def _patch(session_class: type) -> None:
    requests.Session = session_class  # type: ignore[misc, assignment]
    requests.sessions.Session = session_class  # type: ignore[misc, assignment]
