"""``requests`` objects for requests-cache's inspection names (``caches/_inspection.py``).

Stored entries seen as ``requests.Response`` objects, requests (a ``requests.Request``
or ``PreparedRequest``) turned into the keys they are stored under, a
``requests.Response`` turned into an entry for ``save_response``, and the
``CachedResponse`` type. The backends import this module only when one of those
names is called, so that the caches themselves never import ``requests``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

import requests

from . import _convert
from .keys import DEFAULT_IGNORED_PARAMETERS, create_key, redact_request, variant_key, vary_values
from .models import Entry, Headers, Request, Response
from .policy.actions import CacheStatus
from .policy.directives import parse_vary

if TYPE_CHECKING:
    from .engine import CacheEngine


class RequestKeys(Protocol):
    """How a session keys requests and redacts what it stores (set on its cache)."""

    def key(self, prepared: requests.PreparedRequest, verify: Any = True) -> str: ...

    def stored_request(self, request: Request) -> Request: ...


class DefaultRequestKeys:
    """The keys of a cache no session configured: the default options."""

    def key(self, prepared: requests.PreparedRequest, verify: Any = True) -> str:
        from ._glue import tls_of

        model = _convert.request_from_prepared(prepared)
        return create_key(model, tls=tls_of(verify, None))

    def stored_request(self, request: Request) -> Request:
        return redact_request(request, DEFAULT_IGNORED_PARAMETERS)


def prepared_of(request: requests.Request | requests.PreparedRequest) -> requests.PreparedRequest:
    """A prepared request from either kind (a ``requests.Request`` is prepared as is)."""
    if isinstance(request, requests.PreparedRequest):
        return request
    if isinstance(request, requests.Request):
        return request.prepare()
    raise TypeError(f"expected a requests.Request or PreparedRequest, not {request!r}")


def prepared_from_entry(entry: Entry) -> requests.PreparedRequest:
    """The stored request (redacted as stored) as a prepared request."""
    stored = entry.request
    prepared = requests.PreparedRequest()
    prepared.method = stored.method
    prepared.url = stored.url
    prepared.headers = requests.structures.CaseInsensitiveDict(stored.headers.fields())
    prepared.body = stored.body
    prepared.hooks = {"response": []}
    return prepared


def response_of(entry: Entry, body: bytes, now: float | None = None) -> requests.Response:
    """A stored entry as the response the cache would serve (marked from the cache)."""
    response = _convert.build_response(prepared_from_entry(entry), entry.response, body)
    return _convert.annotate(
        response,
        status=CacheStatus.HIT,
        key=entry.key,
        entry=entry,
        from_cache=True,
        now=time.time() if now is None else now,
    )


def entry_of(
    response: requests.Response,
    keys: RequestKeys,
    *,
    cache_key: str | None,
    expires: float | None,
    now: float,
) -> Entry:
    """``save_response``'s entry: the response as it is, kept until ``expires``
    (``None``: never), under ``cache_key`` or the key its request has."""
    if response.request is None:
        raise ValueError("save_response() needs a response with its request")
    prepared = prepared_of(response.request)
    primary = cache_key or keys.key(prepared)
    model = _convert.request_from_prepared(prepared)
    raw_headers = getattr(response.raw, "headers", None)
    fields = raw_headers.items() if raw_headers is not None else response.headers.items()
    head = Response(
        status=response.status_code,
        headers=Headers(fields).without(*_convert.FRAMING_FIELDS),
        reason=response.reason or "",
        url=response.url or model.url,
    )
    values = vary_values(model.headers, parse_vary(head.headers))
    return Entry(
        key=variant_key(primary, values),
        primary_key=primary,
        request=keys.stored_request(model),
        response=head,
        request_time=now,
        response_time=now,
        created_at=now,
        expires=expires,
        stale_until=expires,
        vary=values,
        expiry_from_caller=True,
    )


class _CachedResponseType(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, requests.Response) and getattr(instance, "from_cache", False)


class CachedResponse(metaclass=_CachedResponseType):
    """The type of a response served from the cache, for ``isinstance`` checks
    (requests-cache's name): every ``requests.Response`` whose ``from_cache`` is True.

    Responses are plain ``requests.Response`` objects; this type is never made.
    """

    def __new__(cls, *args: object, **kwargs: object) -> CachedResponse:
        raise TypeError(
            "CachedResponse is a type for isinstance() checks; responses come from the cache"
        )


class EngineRequestKeys:
    """The keys a session's engine gives requests (its options read at each call)."""

    def __init__(self, engine: CacheEngine) -> None:
        self._engine = engine

    def key(self, prepared: requests.PreparedRequest, verify: Any = True) -> str:
        from ._glue import tls_of

        model = _convert.request_from_prepared(prepared)
        return self._engine.key_for(model, tls_of(verify, None), prepared)

    def stored_request(self, request: Request) -> Request:
        return redact_request(request, self._engine.config.ignored)
