"""Where responses are kept. Every class here implements ``BaseCache``.

Backends other than memory are imported on first use, so ``import httpcache`` stays
light and works without optional dependencies such as ``redis``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ..errors import BackendNotAvailableError, ConfigurationError
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
    "backend_name",
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
        hint = " (pip install 'httpcache-rfc9111[redis]')" if name == "redis" else ""
        raise BackendNotAvailableError(f"backend {name!r} is not available{hint}: {exc}") from exc
    return cast(type[BaseCache], getattr(module, class_name))  # a class named in BACKENDS


#: Options each backend's constructor takes besides its name (``make_backend``).
_BACKEND_KEYWORDS: dict[str, frozenset[str]] = {
    "memory": frozenset({"max_size"}),
    "sqlite": frozenset({"max_size", "use_cache_dir", "busy_timeout"}),
    "filesystem": frozenset({"max_size", "use_cache_dir", "forever", "lock_class"}),
    "separate-body": frozenset({"max_size", "use_cache_dir", "forever", "lock_class"}),
    "redis": frozenset({"max_size", "connection", "url", "namespace"}),
}


def make_backend(
    backend: str | BaseCache | type[BaseCache] | None, cache_name: str, **options: Any
) -> BaseCache:
    """A cache instance from ``CachedSession``'s ``backend`` and ``cache_name`` arguments.

    ``backend`` is a name (``BACKENDS``; None is SQLite), a class (``RedisCache``) made
    with ``cache_name`` and ``options``, or an instance, to which the only option that
    can still apply, ``max_size``, is applied. An option the backend cannot take raises
    ``ConfigurationError`` naming it (never silently dropped).
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(backend, BaseCache):
        return _with_options(backend, options)
    if backend is None:
        backend = "sqlite"
    name: str | None
    if isinstance(backend, str):
        name = backend
        cls: Callable[..., BaseCache] = backend_class(backend)
    elif isinstance(backend, type) and issubclass(backend, BaseCache):
        name, cls = backend_name(backend), backend
    else:
        raise BackendNotAvailableError(
            f"backend must be a name, a cache class or a cache, not {backend!r}"
        )
    accepted = _BACKEND_KEYWORDS.get(name) if name is not None else None
    if accepted is not None:
        for option in options:
            if option not in accepted:
                raise ConfigurationError(f"{option} does not apply to the {name} backend")
    # The backends' constructors differ: a path, a namespace, or no name at all.
    if name == "memory":
        return cls(**options)
    if name == "redis":
        options.setdefault("namespace", cache_name)
        return cls(**options)
    if name is None:  # a class of the user's own: its constructor, as it is
        return cls(**options)
    return cls(cache_name, **options)


def backend_name(cls: type[BaseCache]) -> str | None:
    """The backend name of a class or of the nearest class it extends (None: unknown)."""
    for klass in cls.__mro__:
        name = _CLASS_NAMES.get(klass.__name__)
        if name is not None and BACKENDS[name].split(":")[0] == klass.__module__:
            return name
    return None


def _with_options(cache: BaseCache, options: dict[str, Any]) -> BaseCache:
    """Apply session options to a cache given as an instance: ``max_size`` if the
    instance can take it; any other option raises ``ConfigurationError``."""
    for option, value in options.items():
        if option != "max_size":
            raise ConfigurationError(
                f"{option} cannot apply to a backend given as an instance: "
                f"pass it to {type(cache).__name__}(...)"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigurationError(f"max_size must be a positive number of bytes, not {value!r}")
        if getattr(cache, "forever", False):
            raise ConfigurationError("max_size cannot apply to a cache made with forever=True")
        if cache.max_size is not None and cache.max_size != value:
            raise ConfigurationError(
                f"max_size={value} conflicts with the backend's own max_size={cache.max_size}"
            )
        cache.max_size = value
    return cache


def __getattr__(name: str) -> Any:
    if name in _CLASS_NAMES:
        return backend_class(_CLASS_NAMES[name])
    raise AttributeError(f"module 'httpcache.caches' has no attribute {name!r}")
