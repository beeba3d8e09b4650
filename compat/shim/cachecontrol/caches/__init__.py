from httpcache.caches.file_cache import FileCache, SeparateBodyFileCache


def __getattr__(name: str) -> object:
    if name == "RedisCache":
        from httpcache.caches.redis_cache import RedisCache

        return RedisCache
    raise AttributeError(name)


__all__ = ["FileCache", "SeparateBodyFileCache"]
