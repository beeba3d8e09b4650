"""CacheControl's public names, mapped to httpcache's (for the compat check only)."""

from httpcache import CacheControl, CacheControlAdapter

from .controller import CacheController

__version__ = "0.14.4"
__all__ = ["CacheControl", "CacheControlAdapter", "CacheController", "__version__"]
