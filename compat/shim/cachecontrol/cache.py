from httpcache.caches import BaseCache, DictCache

__all__ = ["BaseCache", "DictCache"]
