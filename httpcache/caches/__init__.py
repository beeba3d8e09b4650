"""Where responses are kept. Every class here implements ``BaseCache``.

Backends other than memory are imported on first use, so ``import httpcache`` stays
light and works without optional dependencies such as ``redis``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ..errors import BackendNotAvailableError
from .base import BaseCache, BodyWriter, CacheStats
from .memory import DictCache

if TYPE_CHECKING:
    from .file import FileCache
    from .redis import RedisCache
    from .separate_body import SeparateBodyFileCache
    from .sqlite import SQLiteCache

#: Backend names (as in ``CachedSession(backend=...)`` and ``hc --backend``) and classes.
BACKENDS: dict[str, str] = {
    "memory": "httpcache.caches.memory:DictCache",
    "sqlite": "httpcache.caches.sqlite:SQLiteCache",
    "filesystem": "httpcache.caches.file:FileCache",
    "separate-body": "httpcache.caches.separate_body:SeparateBodyFileCache",
    "redis": "httpcache.caches.redis:RedisCache",
}
_CLASS_NAMES = {path.rsplit(":", 1)[1]: name for name, path in BACKENDS.items()}

__all__ = [
    "BACKENDS",
    "BaseCache",
    "BodyWriter",
    "CacheStats",
    "DictCache",
    "FileCache",
    "RedisCache",
    "SQLiteCache",
    "SeparateBodyFileCache",
    "backend_class",
    "make_backend",
]


def backend_class(name: str) -> type[BaseCache]:
    """The class behind a backend name; ``BackendNotAvailableError`` if it cannot load."""
    path = BACKENDS.get(name)
    if path is None:
        choices = ", ".join(BACKENDS)
        raise BackendNotAvailableError(f"unknown backend {name!r}; choose one of: {choices}")
    module_name, class_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = " (pip install 'httpcache[redis]')" if name == "redis" else ""
        raise BackendNotAvailableError(f"backend {name!r} is not available{hint}: {exc}") from exc
    return cast(type[BaseCache], getattr(module, class_name))  # a class named in BACKENDS


def make_backend(backend: str | BaseCache, cache_name: str, **options: Any) -> BaseCache:
    """A cache instance from ``CachedSession``'s ``backend`` and ``cache_name`` arguments."""
    if isinstance(backend, BaseCache):
        return backend
    if not isinstance(backend, str):
        raise BackendNotAvailableError(f"backend must be a name or a cache, not {backend!r}")
    # The backends' constructors differ (a path, a namespace, only max_size): see below.
    cls: Callable[..., BaseCache] = backend_class(backend)
    options = {k: v for k, v in options.items() if v is not None}
    if backend == "memory":
        return cls(**{k: v for k, v in options.items() if k == "max_size"})
    if backend == "redis":
        options.pop("use_cache_dir", None)  # a namespace, not a path
        options.setdefault("namespace", cache_name)
        return cls(**options)
    return cls(cache_name, **options)


def __getattr__(name: str) -> Any:
    if name in _CLASS_NAMES:
        return backend_class(_CLASS_NAMES[name])
    raise AttributeError(f"module 'httpcache.caches' has no attribute {name!r}")
