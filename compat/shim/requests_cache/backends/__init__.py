"""requests-cache's ``backends``: the cache classes httpcache has, by the same names."""

from httpcache.caches import BaseCache, DictCache, FileCache, SQLiteCache

from .base import BaseStorage, DictStorage


def __getattr__(name: str) -> object:
    if name == "RedisCache":
        from httpcache.caches import RedisCache

        return RedisCache
    if name in ("SQLiteDict", "RedisDict", "RedisHashDict", "FileDict", "LRUFileDict"):
        return type(name, (BaseStorage,), {})  # requests-cache's storage dicts: none here
    raise AttributeError(name)


#: Backend names -> classes (requests-cache's registry); httpcache's names.
BACKEND_CLASSES = {
    "memory": DictCache,
    "sqlite": SQLiteCache,
    "filesystem": FileCache,
}

__all__ = ["BACKEND_CLASSES", "BaseCache", "BaseStorage", "DictStorage", "FileCache", "SQLiteCache"]
