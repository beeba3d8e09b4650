"""The keywords ``CachedSession`` and ``install_cache`` take, sorted out.

Cache options go to ``CacheConfig``, backend options to the backend, the rest to the
``Session`` class. requests-cache's old names are aliases (``include_get_headers``,
``old_data_on_error``, ``max_cache_bytes``), and its storage-format keywords are
accepted: those that mean something here act (``busy_timeout``, ``use_temp``,
``wal=True``, ``autoclose``), the others log one warning saying why they do not apply.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from .caches import BaseCache, backend_name
from .config import CacheConfig, check_allowance, check_match_headers
from .errors import ConfigurationError

logger = logging.getLogger("httpcache")

#: Options of ``CacheConfig`` a session accepts as keywords (the contract's list).
CONFIG_OPTIONS = frozenset(CacheConfig.__dataclass_fields__) - {"_resolved"}
#: Keywords passed on to the backend.
BACKEND_OPTIONS = frozenset(
    {"max_size", "use_cache_dir", "connection", "url", "namespace", "forever", "lock_class"}
)
#: requests-cache's old names -> the names they stand for.
ALIASES = {
    "include_get_headers": "match_headers",
    "old_data_on_error": "stale_if_error",
    "max_cache_bytes": "max_size",
}
#: requests-cache's storage-format keywords with no meaning here, and why.
NOT_APPLICABLE = {
    "serializer": "entries are always msgpack in a versioned, checksummed envelope (never pickle)",
    "decode_content": "bodies are stored as the bytes received",
    "content_root_key": "bodies are stored as the bytes received",
    "fast_save": "SQLite commits every write, so that a crash never loses or tears an entry",
}
PATH_BACKENDS = frozenset({"sqlite", "filesystem", "separate-body"})

_warned: set[str] = set()


@dataclass
class SessionOptions:
    cache_name: str
    config: dict[str, Any]
    backend: dict[str, Any]
    #: Keywords for the ``Session`` class the cache is mixed into.
    rest: dict[str, Any]


def split_session_options(
    cache_name: str, backend: str | BaseCache | type[BaseCache] | None, kwargs: dict[str, Any]
) -> SessionOptions:
    """Sort a session's keywords (see the module text); ``kwargs`` is not changed."""
    rest = dict(kwargs)
    for old, new in ALIASES.items():
        if old in rest:
            if new in rest:
                raise ConfigurationError(f"{old} is the old name of {new}: give one of them")
            value = rest.pop(old)
            _ALIAS_CHECKS[old](value, old)  # a bad value is named as the caller wrote it
            rest[new] = value
    if "max_size" in rest:
        _check_size(rest["max_size"], "max_size")
    name = _backend_name(backend)
    backend_options: dict[str, Any] = {}
    for keyword, why in NOT_APPLICABLE.items():
        value = rest.pop(keyword, None)
        if value is not None and value is not False:
            warn_once(keyword, f"{keyword}={value!r} does not apply: {why}")
    if "wal" in rest:
        wal = rest.pop("wal")
        if not isinstance(wal, bool):
            raise ConfigurationError(f"wal must be True or False, not {wal!r}")
        if name != "sqlite" and wal:
            warn_once("wal", "wal=True does not apply: only the SQLite backend has a log")
        elif name == "sqlite" and not wal:
            warn_once("wal", "wal=False does not apply: SQLite always runs in WAL mode")
    if "busy_timeout" in rest:
        timeout = rest.pop("busy_timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ConfigurationError(
                f"busy_timeout must be milliseconds (a number >= 0), not {timeout!r}"
            )
        if name == "sqlite" or isinstance(backend, BaseCache):
            backend_options["busy_timeout"] = timeout / 1000  # refused for an instance
        else:
            warn_once("busy_timeout", "busy_timeout does not apply: only SQLite waits for locks")
    if "use_temp" in rest:
        use_temp = rest.pop("use_temp")
        if not isinstance(use_temp, bool):
            raise ConfigurationError(f"use_temp must be True or False, not {use_temp!r}")
        if use_temp and isinstance(backend, BaseCache):
            raise ConfigurationError(
                "use_temp cannot apply to a backend given as an instance: give it a path"
            )
        if use_temp and name in PATH_BACKENDS:
            cache_name = os.path.join(tempfile.gettempdir(), os.fspath(cache_name))
        elif use_temp:
            warn_once("use_temp", f"use_temp does not apply: the {name} backend has no file")
    config = {k: rest.pop(k) for k in list(rest) if k in CONFIG_OPTIONS}
    backend_options.update({k: rest.pop(k) for k in list(rest) if k in BACKEND_OPTIONS})
    return SessionOptions(cache_name, config, backend_options, rest)


def warn_once(keyword: str, message: str) -> None:
    """Log ``message`` the first time ``keyword`` is met in this process."""
    if keyword not in _warned:
        _warned.add(keyword)
        logger.warning("%s", message)


def _backend_name(backend: str | BaseCache | type[BaseCache] | None) -> str | None:
    if backend is None:
        return "sqlite"
    if isinstance(backend, str):
        return backend
    if isinstance(backend, BaseCache):
        return backend_name(type(backend))
    if isinstance(backend, type) and issubclass(backend, BaseCache):
        return backend_name(backend)
    return None


def _check_size(value: object, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of bytes, not {value!r}")


#: How each old name's value is checked (named as the caller wrote it).
_ALIAS_CHECKS = {
    "include_get_headers": check_match_headers,
    "old_data_on_error": check_allowance,
    "max_cache_bytes": _check_size,
}
