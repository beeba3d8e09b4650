"""requests-cache's ``models``: only the response type maps to httpcache.

Its request and response classes (``CachedRequest``, ``CachedHTTPResponse``, ...) are
its storage model; httpcache stores ``httpcache.models.Entry`` instead. The names exist
so that test modules import; tests that build or read them are not applicable.
"""

from httpcache import CachedResponse

from .response import CachedHTTPResponse, CachedRequest, OriginalResponse, RichMixin

__all__ = ["CachedHTTPResponse", "CachedRequest", "CachedResponse", "OriginalResponse", "RichMixin"]
