"""httpcache: an RFC 9111 HTTP cache for requests.

Two faces on one core: requests-cache's (``CachedSession``, ``install_cache``) and
CacheControl's (``CacheControl``, ``CacheControlAdapter``). See README.md.
"""

from . import caches, heuristics
from ._version import __version__
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
