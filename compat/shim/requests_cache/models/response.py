"""Placeholders for requests-cache's storage model (see ``models/__init__``)."""

from requests import Response as OriginalResponse

from httpcache import CachedResponse


class _NotInHttpcache:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError(f"{type(self).__name__} is requests-cache's storage model")


class CachedRequest(_NotInHttpcache):
    pass


class CachedHTTPResponse(_NotInHttpcache):
    pass


class RichMixin:
    pass


def format_file_size(n_bytes: int) -> str:
    raise NotImplementedError("requests-cache's formatting helper")


__all__ = ["CachedHTTPResponse", "CachedRequest", "CachedResponse", "OriginalResponse"]
