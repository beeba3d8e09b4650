"""requests-cache's ``policy``: the expiration values map; its classes do not."""

from datetime import UTC, datetime

from httpcache import DO_NOT_CACHE, EXPIRE_IMMEDIATELY, NEVER_EXPIRE

from .actions import CacheActions, CacheSettings


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


__all__ = [
    "DO_NOT_CACHE",
    "EXPIRE_IMMEDIATELY",
    "NEVER_EXPIRE",
    "CacheActions",
    "CacheSettings",
    "utcnow",
]
