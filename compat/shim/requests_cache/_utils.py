"""requests-cache's ``_utils``: internal helpers, none of which httpcache has."""


def get_placeholder_class(*args: object, **kwargs: object) -> type:
    """A class that fails when made (requests-cache's stand-in for a missing backend)."""

    class Placeholder:
        def __init__(self, *a: object, **k: object) -> None:
            raise ImportError("a placeholder for a backend whose dependency is missing")

    return Placeholder
