"""SQLiteCache, in parts: see ``cache`` (the class), ``connections``, ``schema``,
``index``, ``bodies``, ``queries`` and ``paths``."""

from __future__ import annotations

from ..._dirs import make_private_dirs
from .cache import CHUNK_SIZE, SQLiteCache
from .connections import MovedAside
from .index import ORPHAN_AGE
from .paths import create_private_file, resolve_path
from .schema import SCHEMA_VERSION

__all__ = [
    "CHUNK_SIZE",
    "ORPHAN_AGE",
    "SCHEMA_VERSION",
    "MovedAside",
    "SQLiteCache",
    "create_private_file",
    "make_private_dirs",
    "resolve_path",
]
