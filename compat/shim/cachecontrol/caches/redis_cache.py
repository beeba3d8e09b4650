from httpcache.caches.redis_cache import RedisCache

__all__ = ["RedisCache"]
