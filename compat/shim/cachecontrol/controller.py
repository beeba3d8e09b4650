"""CacheControl's ``CacheController`` is its internal policy class: httpcache's
policy is ``httpcache.policy.controller`` (pure functions). A placeholder, so that
modules importing it load; tests that drive it are not applicable."""


class CacheController:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("CacheController is CacheControl's internal policy class")
