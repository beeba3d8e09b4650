"""RedisCache, in parts: see ``cache`` (the class), ``keyspace``, ``heads``,
``reads``, ``writes``, ``bodies``, ``index``, ``rows``, ``counters`` and ``scripts``."""

from __future__ import annotations

from .cache import CHUNK_SIZE, MIN_TTL, RedisCache
from .heads import HEAD_FORMAT
from .index import PRUNE_EVERY, PRUNE_GRACE
from .rows import META_FORMAT
from .writes import PENDING_TTL, REPLACED_BODY_GRACE

__all__ = [
    "CHUNK_SIZE",
    "HEAD_FORMAT",
    "META_FORMAT",
    "MIN_TTL",
    "PENDING_TTL",
    "PRUNE_EVERY",
    "PRUNE_GRACE",
    "REPLACED_BODY_GRACE",
    "RedisCache",
]
