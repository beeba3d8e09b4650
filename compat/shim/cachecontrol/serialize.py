"""CacheControl's ``Serializer``: httpcache always stores versioned msgpack and takes
(and ignores) a ``serializer`` argument. The class exists for subclasses in tests."""


class Serializer:
    def dumps(self, request: object, response: object, body: object = None) -> object:
        raise NotImplementedError

    def loads(self, request: object, data: object, body_file: object = None) -> object:
        raise NotImplementedError
