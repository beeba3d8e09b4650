"""requests-cache's ``cache_keys``: ``create_key`` maps (httpcache's key function,
same keywords); its normalization helpers are its internals."""

from httpcache.keys import create_key, normalize_url

__all__ = ["create_key", "normalize_url"]
