"""httpcache: an RFC 9111 HTTP cache for requests.

Two faces on one core: requests-cache's (``CachedSession``, ``install_cache``) and
CacheControl's (``CacheControl``, ``CacheControlAdapter``). See README.md.

The public names are loaded on first use (PEP 562): ``import httpcache`` itself
imports neither ``requests`` nor the policy, so that a program needing only part
of the package (``hc`` answering a hit from storage) does not pay for the rest.
``from httpcache import CachedSession`` works exactly as an eager import would.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see: the names, as eager imports
    from . import caches, heuristics
    from ._views import CachedResponse
    from .adapter import CacheControlAdapter
    from .caches import BaseCache, DictCache
    from .config import CacheConfig, RequestOptions
    from .errors import (
        BackendNotAvailableError,
        ConfigurationError,
        DeserializationError,
        HttpCacheError,
        StorageError,
    )
    from .heuristics import BaseHeuristic, ExpiresAfter, LastModified, OneDayCache
    from .keys import DEFAULT_IGNORED_PARAMETERS, create_key
    from .models import Entry, Headers, Request, Response
    from .patcher import (
        clear,
        disabled,
        enabled,
        get_cache,
        install_cache,
        is_installed,
        remove_expired_responses,
        uninstall_cache,
    )
    from .policy.actions import CacheStatus
    from .policy.expiration import DO_NOT_CACHE, EXPIRE_IMMEDIATELY, NEVER_EXPIRE
    from .session import CacheControl, CachedSession, CacheMixin

#: Each public name -> the submodule it lives in (a submodule itself: None).
_LAZY: dict[str, str | None] = {
    "caches": None,
    "heuristics": None,
    "CachedResponse": "._views",
    "CacheControlAdapter": ".adapter",
    "BaseCache": ".caches",
    "DictCache": ".caches",
    "CacheConfig": ".config",
    "RequestOptions": ".config",
    "BackendNotAvailableError": ".errors",
    "ConfigurationError": ".errors",
    "DeserializationError": ".errors",
    "HttpCacheError": ".errors",
    "StorageError": ".errors",
    "BaseHeuristic": ".heuristics",
    "ExpiresAfter": ".heuristics",
    "LastModified": ".heuristics",
    "OneDayCache": ".heuristics",
    "DEFAULT_IGNORED_PARAMETERS": ".keys",
    "create_key": ".keys",
    "Entry": ".models",
    "Headers": ".models",
    "Request": ".models",
    "Response": ".models",
    "clear": ".patcher",
    "disabled": ".patcher",
    "enabled": ".patcher",
    "get_cache": ".patcher",
    "install_cache": ".patcher",
    "is_installed": ".patcher",
    "remove_expired_responses": ".patcher",
    "uninstall_cache": ".patcher",
    "CacheStatus": ".policy.actions",
    "DO_NOT_CACHE": ".policy.expiration",
    "EXPIRE_IMMEDIATELY": ".policy.expiration",
    "NEVER_EXPIRE": ".policy.expiration",
    "CacheControl": ".session",
    "CachedSession": ".session",
    "CacheMixin": ".session",
}

__all__ = [
    "DEFAULT_IGNORED_PARAMETERS",
    "DO_NOT_CACHE",
    "EXPIRE_IMMEDIATELY",
    "NEVER_EXPIRE",
    "BackendNotAvailableError",
    "BaseCache",
    "BaseHeuristic",
    "CacheConfig",
    "CacheControl",
    "CacheControlAdapter",
    "CacheMixin",
    "CacheStatus",
    "CachedResponse",
    "CachedSession",
    "ConfigurationError",
    "DeserializationError",
    "DictCache",
    "Entry",
    "ExpiresAfter",
    "Headers",
    "HttpCacheError",
    "LastModified",
    "OneDayCache",
    "Request",
    "RequestOptions",
    "Response",
    "StorageError",
    "__version__",
    "caches",
    "clear",
    "create_key",
    "disabled",
    "enabled",
    "get_cache",
    "heuristics",
    "install_cache",
    "is_installed",
    "remove_expired_responses",
    "uninstall_cache",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, and keep the name here."""
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if module_name is None:
        value: Any = importlib.import_module(f".{name}", __name__)
    else:
        value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
