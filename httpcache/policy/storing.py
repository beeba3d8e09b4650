"""Storing a response (RFC 9111 §3): whether it may be, with what lifetime and what
fields, and how long it is kept past its freshness. Pure functions of an exchange."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..heuristics import HEURISTICALLY_CACHEABLE
from ..models import Headers, Request, Response
from . import partials
from .actions import DoNotStore
from .directives import CacheDirectives, parse_etag, parse_vary
from .freshness import header_lifetime, initial_age_of, response_directives
from .settings import Settings

#: RFC 9111 §3.1 and §3.2: never stored, never updated by a 304.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authentication-info",
    }
)
NOT_UPDATED_BY_304 = HOP_BY_HOP | {"content-length", "content-encoding", "content-range"}
PERMANENT_REDIRECTS = frozenset({301, 308})
#: RFC 9110 §15: the status codes whose requirements this cache knows and follows
#: (what ``must-understand`` asks of it, RFC 9111 §5.2.2.3).
UNDERSTOOD_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 418))
    | {421, 422, 426}
    | set(range(500, 506))
)
NO_DIRECTIVES = CacheDirectives()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response round trip, as the driver saw it."""

    request: Request  # as sent
    response: Response
    request_time: float
    response_time: float


def with_heuristic(exchange: Exchange, settings: Settings) -> Response | None:
    """The response with the heuristic's fields set, as CacheControl applies one: to
    any response to a cached method, before its fields are judged; never to a
    no-store one, nor where the caller's ``expire_after`` sets the lifetime. None
    when there is no heuristic or it set nothing."""
    request, response = exchange.request, exchange.response
    heuristic = settings.heuristic
    if heuristic is None or not settings.cache_control:
        return None
    if request.method.upper() not in settings.cacheable_methods:
        return None
    if settings.caller_expiration(response.status) is not None:
        return None
    directives = response_directives(response)
    if directives.no_store and not directives.must_understand:
        return None
    applied = heuristic.apply(response, exchange.response_time)
    return None if applied is response else applied


def storability(
    exchange: Exchange, settings: Settings, may_store: bool, applied: Response | None = None
) -> DoNotStore | tuple[Response, float]:
    """RFC 9111 §3: whether the response may be stored, and if so with what lifetime.

    ``applied`` is the response with the heuristic's fields (``with_heuristic``):
    judged in its place where the status is heuristically cacheable or public.
    Returns the response to store (stripped of hop-by-hop fields) and its freshness
    lifetime, or the reason not to store it.
    """
    request, response = exchange.request, exchange.response
    method, status = request.method.upper(), response.status
    if not may_store:
        return DoNotStore("the request says no-store (RFC 9111 §5.2.1.5)")
    if settings.expiration is not None and settings.expiration.do_not_cache:
        return DoNotStore("expire_after is DO_NOT_CACHE")
    if method not in settings.cacheable_methods:
        return DoNotStore(f"{method} is not a cached method")
    if status < 200 or status == 304:
        return DoNotStore(f"status {status} is not a complete, final response (§3)")
    if status == partials.PARTIAL:  # a part of a 200, kept apart (§3.3)
        why = partials.refusal(response) if method == "GET" else "a 206 to a GET only"
        if why is not None:
            return DoNotStore(why)
    if not settings.allows_status(200 if status == partials.PARTIAL else status):
        return DoNotStore(f"status {status} is not in allowable_codes")
    if parse_vary(response.headers) == ("*",):
        return DoNotStore("Vary: * never matches a later request (§4.1)")
    response = strip_hop_by_hop(response)
    expiration = settings.caller_expiration(status)

    if not settings.cache_control:
        return response, expiration.lifetime_from(
            exchange.response_time
        ) if expiration else math.inf

    refused = refusal(request, response, settings)
    if refused is not None:
        return refused
    if applied is not None and (
        status in HEURISTICALLY_CACHEABLE or response_directives(response).public
    ):
        # The heuristic rewrote the fields before they are judged (§4.2.2).
        response = strip_hop_by_hop(applied)
        refused = refusal(request, response, settings)
        if refused is not None:
            return refused

    cc = response_directives(response)
    if expiration is not None:
        lifetime: float | None = expiration.lifetime_from(exchange.response_time)
    else:
        lifetime = header_lifetime(response, exchange.response_time, settings.shared)
        if lifetime is None and status in PERMANENT_REDIRECTS and settings.permanent_redirects:
            lifetime = math.inf  # kept until replaced, as CacheControl keeps them
        # §3: a final status may be stored with explicit freshness (or public, or
        # private in a private cache); without, only a heuristically cacheable one.
        explicit = lifetime is not None or cc.public or (cc.private and not settings.shared)
        if not explicit and status not in HEURISTICALLY_CACHEABLE:
            return DoNotStore(
                f"status {status} without explicit freshness is not heuristically cacheable (§3)"
            )
    lifetime = lifetime or 0.0
    age = initial_age_of(response.headers, exchange.request_time, exchange.response_time)
    has_validator = storable_validator(response, settings)
    stale_allowance = first_set(cc.stale_if_error, settings.stale_if_error) or first_set(
        cc.stale_while_revalidate, settings.stale_while_revalidate
    )
    if cc.no_cache and not cc.no_cache_fields and not has_validator:
        return DoNotStore("no-cache, and no validator to revalidate with")
    if lifetime <= age and not has_validator and not stale_allowance:
        return DoNotStore("no freshness lifetime and no validator (§4.2, §4.3)")
    return response, lifetime


def refusal(request: Request, response: Response, settings: Settings) -> DoNotStore | None:
    """The response's own reason not to be stored (§3, §5.2.2), if it has one."""
    cc = response_directives(response)
    if cc.must_understand:
        # §5.2.2.3: only a cache that understands the status may store it, and one
        # that does sets no-store aside (the directive is meant to come with it).
        if response.status not in UNDERSTOOD_STATUSES:
            return DoNotStore(f"must-understand, and status {response.status} is not understood")
    elif cc.no_store:
        return DoNotStore("the response says no-store (RFC 9111 §5.2.2.5)")
    if settings.shared and cc.private:
        return DoNotStore("private, and this cache is shared (§5.2.2.7)")
    if (
        settings.shared
        and "authorization" in request.headers
        and not (cc.public or cc.must_revalidate or cc.s_maxage is not None)
    ):
        return DoNotStore(
            "request had Authorization; no public, s-maxage or must-revalidate (§3.5)"
        )
    return None


def storable_validator(response: Response, settings: Settings) -> bool:
    """A validator that makes a response without freshness worth keeping: an ETag
    (unless ``cache_etags=False``, time priority), or Last-Modified."""
    if "last-modified" in response.headers:
        return True
    return settings.cache_etags and parse_etag(response.headers) is not None


def expiry_of(
    response: Response,
    request_time: float,
    response_time: float,
    lifetime: float,
    settings: Settings,
) -> tuple[float | None, float | None]:
    """``expires`` and ``stale_until`` of an entry of ``response``, from its lifetime."""
    if math.isinf(lifetime):
        return None, None
    headers = response.headers
    expires = response_time + lifetime - initial_age_of(headers, request_time, response_time)
    cc = response_directives(response) if settings.cache_control else NO_DIRECTIVES
    has_validator = bool(parse_etag(headers) or "last-modified" in headers)
    keep = max(
        first_set(cc.stale_if_error, settings.stale_if_error) or 0.0,
        first_set(cc.stale_while_revalidate, settings.stale_while_revalidate) or 0.0,
        settings.revalidation_grace if has_validator else 0.0,
    )
    return expires, expires + keep


def strip_hop_by_hop(response: Response) -> Response:
    """Drop fields a cache must not store (§3.1): hop-by-hop and those named by Connection."""
    headers = response.headers
    drop = HOP_BY_HOP
    if "connection" in headers:
        drop = drop | {
            token.strip().lower()
            for line in headers.get_all("connection")
            for token in line.split(",")
        }
    if not headers.has_any(drop):
        return response
    kept = Headers._of(tuple([(k, v) for k, v in headers.fields() if k.lower() not in drop]))
    return replace(response, headers=kept)


def changed_fields(before: Headers, after: Headers) -> tuple[tuple[str, str], ...]:
    """The field lines of ``after`` whose name has other values in ``before``."""
    return tuple(
        (name, value)
        for name, value in after.fields()
        if before.get_all(name) != after.get_all(name)
    )


def first_set(*values: float | None) -> float | None:
    for value in values:
        if value is not None and value is not False:
            return value
    return None
