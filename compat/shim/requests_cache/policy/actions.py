"""requests-cache's ``policy.actions``: the override header names map (httpcache
honours the same fields); its ``CacheActions`` class is its internal policy."""

from httpcache.config import METHOD_OVERRIDE_HEADERS as _HEADERS

METHOD_OVERRIDE_HEADERS = list(_HEADERS)


class CacheActions:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("CacheActions is requests-cache's internal policy")


class CacheSettings:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("CacheSettings is requests-cache's settings class")
