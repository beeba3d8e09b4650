"""CacheControl's ``CallbackFileWrapper`` tees bodies by wrapping urllib3's file
object; httpcache tees in ``httpcache._tee`` instead. A placeholder for imports."""


class CallbackFileWrapper:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("CallbackFileWrapper is CacheControl's internal tee")
