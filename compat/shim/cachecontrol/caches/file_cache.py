from httpcache.caches.file_cache import FileCache, SeparateBodyFileCache

__all__ = ["FileCache", "SeparateBodyFileCache"]
