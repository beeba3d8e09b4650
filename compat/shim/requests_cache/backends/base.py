"""requests-cache's ``backends.base``: its storage dict classes have no httpcache
counterpart (entries are stored by the backends themselves)."""

from httpcache.caches import BaseCache
from httpcache.errors import DeserializationError

#: What a damaged entry raises while being read: httpcache turns it into a miss.
DESERIALIZE_ERRORS = (DeserializationError,)


class BaseStorage:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("requests-cache's storage dicts are its internals")


class DictStorage(BaseStorage):
    pass


__all__ = ["DESERIALIZE_ERRORS", "BaseCache", "BaseStorage", "DictStorage"]
