"""CacheControl's module path for the Redis cache: ``cachecontrol.caches.redis_cache``.

Importing it needs the ``redis`` package (``pip install 'httpcache-rfc9111[redis]'``).
"""

from __future__ import annotations

from .redis import RedisCache

__all__ = ["RedisCache"]
