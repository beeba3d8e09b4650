from httpcache import CacheControl

__all__ = ["CacheControl"]
