from httpcache import CacheControlAdapter

__all__ = ["CacheControlAdapter"]
