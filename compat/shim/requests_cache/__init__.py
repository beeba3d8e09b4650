"""requests-cache's public names, mapped to httpcache's (for the compat check only).

Only names: every behaviour is httpcache's. ``CachedSession`` and ``install_cache``
take requests-cache's defaults (``cache_control=False``, ``backend=None`` for SQLite),
which is how requests-cache's own tests expect to run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpcache
from httpcache import (
    DO_NOT_CACHE,
    EXPIRE_IMMEDIATELY,
    NEVER_EXPIRE,
    CachedResponse,
    clear,
    disabled,
    get_cache,
    is_installed,
    remove_expired_responses,
    uninstall_cache,
)
from httpcache.caches import BaseCache

from .session import CachedSession, CacheMixin

ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_CACHE_NAME = "http_cache"


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def install_cache(cache_name: str = DEFAULT_CACHE_NAME, backend: Any = None, **kwargs: Any) -> None:
    kwargs.setdefault("cache_control", False)
    httpcache.install_cache(cache_name, backend, session_factory=CachedSession, **kwargs)


def enabled(*args: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("cache_control", False)
    kwargs.setdefault("session_factory", CachedSession)
    return httpcache.enabled(*args, **kwargs)


def delete(*args: Any, **kwargs: Any) -> int:
    cache = get_cache()
    return cache.delete(*args, **kwargs) if cache is not None else 0


__all__ = [
    "ALL_METHODS",
    "DO_NOT_CACHE",
    "EXPIRE_IMMEDIATELY",
    "NEVER_EXPIRE",
    "BaseCache",
    "CacheMixin",
    "CachedResponse",
    "CachedSession",
    "clear",
    "delete",
    "disabled",
    "enabled",
    "get_cache",
    "install_cache",
    "is_installed",
    "remove_expired_responses",
    "uninstall_cache",
    "utcnow",
]
