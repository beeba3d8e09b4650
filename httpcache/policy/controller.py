"""The cache's decisions, as pure functions of (request, stored entries, now, settings).

``decide`` says what to do with a request; ``on_response`` what to do with what the
origin answered; ``stale_if_error_allows`` whether a failure may be hidden by a stale
entry. Nothing here reads the clock, touches storage or the network: the driver
(``engine.py``) does that and performs the returned actions. Its parts: ``settings``
(what shapes a decision), ``selection`` (Vary, §4.1), ``storing`` (§3), ``answers``
(what is served from storage: Age, the 304 to a caller's own conditional, §4.3.2),
``ranges`` (a range of a stored response, RFC 9110 §14), ``partials`` (stored 206
parts, §3.3, §3.4).

Precedence (the contract): the caller's request directives first, then the caller's
``expire_after`` (which replaces the freshness lifetime, for 200 and the caller's
``allowable_codes``), then the response's header fields (RFC 9111), then the
heuristic, which (as CacheControl's do) rewrites those fields before they are judged,
never for a no-store response. ``cache_control=False`` ignores the header fields and
keeps everything allowable for ``expire_after``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urljoin, urlsplit

from ..keys import variant_key, vary_values
from ..models import Entry, Headers, Request, Response
from . import partials
from .actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    Invalidate,
    RequestAction,
    ResponseDecision,
    Revalidate,
    Store,
    UseStored,
)
from .answers import caller_condition_holds
from .answers import served_head as served_head  # re-exported: hc's fast hit uses it
from .directives import (
    CacheDirectives,
    format_http_date,
    parse_etag,
    parse_vary,
    pragma_no_cache,
)
from .freshness import (
    Freshness,
    cache_control_of,
    current_age,
    header_lifetime,
    initial_age,
    parse_http_date,
    resident_time,
    response_directives,
)
from .ranges import ByteRange, if_range_holds, parse_range
from .selection import select_entry, vary_matches
from .settings import Settings as Settings  # re-exported: the session resolves these
from .storing import (
    NO_DIRECTIVES,
    NOT_UPDATED_BY_304,
    changed_fields,
    expiry_of,
    first_set,
    storability,
    with_heuristic,
)
from .storing import Exchange as Exchange  # re-exported: the engine builds these

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Requests carrying these are passed through: the cache leaves these preconditions to
#: the origin. (A Range it understands is served from a stored response or part.)
PASS_THROUGH_HEADERS = ("if-match", "if-unmodified-since")
#: The caller's own validation request: answered from a fresh stored response
#: (§4.3.2), else sent to the origin as it is.
USER_CONDITIONALS = ("if-none-match", "if-modified-since")
ERROR_STATUSES = frozenset({500, 502, 503, 504})


def request_directives(request: Request, settings: Settings) -> CacheDirectives:
    if not settings.cache_control:
        return NO_DIRECTIVES
    return cache_control_of(request.headers)


# ---- requests --------------------------------------------------------------------------


def decide(
    request: Request, entries: Sequence[Entry], now: float, settings: Settings
) -> RequestAction:
    """What to do with ``request``, given every stored variant of its resource."""
    wanted = request.headers.get("range")
    byte_range = parse_range(wanted) if wanted is not None else None
    if wanted is not None and (byte_range is None or request.method.upper() != "GET"):
        return Forward("a Range the cache does not serve", CacheStatus.BYPASS, may_store=False)
    parts = [e for e in entries if e.status == partials.PARTIAL]
    if parts:  # kept apart: only a range wholly within one is served from it (§3.3)
        entries = [e for e in entries if e.status != partials.PARTIAL]
    action = _decide(request, entries, now, settings)
    if byte_range is not None:
        action = for_range(request, action, byte_range)
    own = [h for h in USER_CONDITIONALS if h in request.headers]
    if parts and not own:
        action = with_part(request, action, parts, byte_range, now, settings)
    if not own:
        return action
    # §4.3.2: the caller's own validation request.
    match action:
        case UseStored(entry=entry):
            if caller_condition_holds(request, entry):
                return replace(
                    action,
                    reason=f"{action.reason}; the caller's {own[0]} matches: 304 (§4.3.2)",
                    not_modified=True,
                    byte_range=None,  # a 304 answers before any range (RFC 9110 §13.2.2)
                )
            return action
        case Revalidate(entry=entry):
            # Sent as the caller made it: the origin answers the caller's condition.
            why = f"{action.reason}; the caller's own {own[0]} goes to the origin"
            return Forward(why, CacheStatus.EXPIRED, action.may_store, entry)
    return action


def for_range(request: Request, action: RequestAction, byte_range: ByteRange) -> RequestAction:
    """A Range request: served from a stored complete response (RFC 9110 §14.2), unless
    an If-Range says it changed (§13.1.5: then whole); sent as it is otherwise."""
    match action:
        case UseStored(entry=entry) if entry.status == 200:
            condition = request.headers.get("if-range")
            if condition is not None and not if_range_holds(condition, entry):
                return replace(action, reason=f"{action.reason}; If-Range fails: the whole")
            return replace(action, reason=f"{action.reason}; a range of it", byte_range=byte_range)
        case UseStored(entry=entry):  # not a complete 200: the origin answers the range
            why = f"{action.reason}; the Range goes to the origin"
            return Forward(why, CacheStatus.MISS, True, entry)
        case Revalidate(entry=entry):
            why = f"{action.reason}; the Range goes to the origin"
            return Forward(why, CacheStatus.EXPIRED, action.may_store, entry)
    return action


def with_part(
    request: Request,
    action: RequestAction,
    parts: Sequence[Entry],
    byte_range: ByteRange | None,
    now: float,
    settings: Settings,
) -> RequestAction:
    """What a fresh stored part (a 206) changes for a request the complete response
    does not answer: a range wholly within it is served from it (§3.3); a plain GET
    asks the origin for the rest only, to be joined to it (§3.4)."""
    goes_on = isinstance(action, Forward) and action.status is not CacheStatus.BYPASS
    if not goes_on and not (isinstance(action, GatewayTimeout) and byte_range is not None):
        return action  # answered (or bypassed): only a miss looks at the parts
    part = select_entry(request, parts, settings.sensitive_headers)
    if part is None or not _usable_part(request, part, now, settings):
        return action
    age = f"age {freshness_of(part, now, settings).age:.0f}s"
    if byte_range is not None:
        condition = request.headers.get("if-range")
        if condition is not None and not if_range_holds(condition, part):
            return action
        if not partials.holds(part, byte_range):
            if not isinstance(action, Forward) or not action.may_store:
                return action
            why = f"{action.reason}; what comes may join a stored part (§3.4)"
            return replace(action, reason=why, completes=partials.Completion(part, ()))
        return UseStored(
            part,
            CacheStatus.HIT,
            f"a fresh stored part ({age}) holds the range (§3.3)",
            hide_fields=response_directives(part.response).no_cache_fields,
            byte_range=byte_range,
        )
    if isinstance(action, Forward) and action.may_store:
        completion = partials.completion_of(part)
        if completion is not None:
            why = f"{action.reason}; a fresh stored part ({age}): the rest is asked for (§3.4)"
            return replace(action, reason=why, completes=completion)
    return action


def _usable_part(request: Request, part: Entry, now: float, settings: Settings) -> bool:
    """A stored part fresh for this request, needing no revalidation (§4.2)."""
    req_cc = request_directives(request, settings)
    resp_cc = response_directives(part.response) if settings.cache_control else NO_DIRECTIVES
    freshness = freshness_of(part, now, settings)
    return freshness.is_fresh and not revalidation_reason(
        request, req_cc, resp_cc, freshness, settings
    )


def _decide(
    request: Request, entries: Sequence[Entry], now: float, settings: Settings
) -> RequestAction:
    method = request.method.upper()
    expiration = settings.expiration
    if expiration is not None and expiration.do_not_cache:
        return Forward("expire_after is DO_NOT_CACHE", CacheStatus.BYPASS, may_store=False)
    if method not in settings.cacheable_methods:
        return Forward(f"{method} is not a cached method", CacheStatus.BYPASS, may_store=False)
    passed = [h for h in PASS_THROUGH_HEADERS if h in request.headers]
    if passed:
        return Forward(f"request has {passed[0]}", CacheStatus.BYPASS, may_store=False)
    if settings.force_refresh:
        return Forward("force_refresh: the cache is not read", CacheStatus.BYPASS)

    req_cc = request_directives(request, settings)
    may_store = not req_cc.no_store  # §5.2.1.5
    only_if_cached = settings.only_if_cached or req_cc.only_if_cached  # §5.2.1.7
    entry = select_entry(request, entries, settings.sensitive_headers)
    if entry is None:
        if only_if_cached:
            return GatewayTimeout("only-if-cached, and no stored response matches")
        reason = "no stored response" if not entries else "no stored variant matches (Vary)"
        return Forward(reason, CacheStatus.MISS, may_store=may_store)

    resp_cc = response_directives(entry.response) if settings.cache_control else NO_DIRECTIVES
    freshness = freshness_of(entry, now, settings)
    must_validate = revalidation_reason(request, req_cc, resp_cc, freshness, settings)
    if must_validate is None and freshness.is_fresh:
        return UseStored(
            entry,
            CacheStatus.HIT,
            f"fresh: age {freshness.age:.0f}s of lifetime {_seconds(freshness.lifetime)}",
            hide_fields=resp_cc.no_cache_fields,
        )

    # RFC 9111 §4.2.4: no stale response against no-cache or must-revalidate.
    may_serve_stale = not (
        resp_cc.must_revalidate
        or (resp_cc.no_cache and not resp_cc.no_cache_fields)
        or (settings.shared and (resp_cc.proxy_revalidate or resp_cc.s_maxage is not None))
    )
    if must_validate is None and may_serve_stale:
        if req_cc.max_stale is not None and freshness.staleness <= req_cc.max_stale:
            return UseStored(entry, CacheStatus.STALE, "stale, within the request's max-stale")
        swr = first_set(resp_cc.stale_while_revalidate, settings.stale_while_revalidate)
        if swr and freshness.staleness <= swr:
            return UseStored(
                entry,
                CacheStatus.STALE,
                f"stale by {freshness.staleness:.0f}s, within stale-while-revalidate={swr:g}",
                revalidate_in_background=True,
            )
    if only_if_cached:
        if may_serve_stale:
            return UseStored(entry, CacheStatus.STALE, "only-if-cached: stale rather than 504")
        return GatewayTimeout("only-if-cached, and the stored response must be revalidated")

    why = must_validate or f"stale by {freshness.staleness:.0f}s"
    conditional = conditional_headers(entry, settings)
    if conditional:
        return Revalidate(entry, conditional, f"{why}: revalidating", may_store=may_store)
    return Forward(f"{why}, no validator to revalidate with", CacheStatus.EXPIRED, may_store, entry)


def freshness_of(entry: Entry, now: float, settings: Settings) -> Freshness:
    """Lifetime against the entry's age. The lifetime is the caller's ``expire_after``
    now, else the one a caller chose when the entry was stored, else the headers'
    (RFC 9111 §4.2.1; a heuristic's was written into them when stored), else 0."""
    expiration = settings.caller_expiration(entry.status)
    if expiration is not None:
        lifetime = expiration.lifetime_from(entry.response_time)
    elif entry.expiry_from_caller:
        lifetime = stored_lifetime(entry)
    elif not settings.cache_control:
        lifetime = math.inf
    else:
        lifetime = header_lifetime(entry.response, entry.response_time, settings.shared) or 0.0
    if not settings.cache_control:
        return Freshness(lifetime, resident_time(entry, now))
    return Freshness(lifetime, current_age(entry, now))


def stored_lifetime(entry: Entry) -> float:
    """The freshness lifetime recorded in ``entry.expires`` (``storing.expiry_of``)."""
    if entry.expires is None:
        return math.inf
    return max(0.0, entry.expires - entry.response_time + initial_age(entry))


def revalidation_reason(
    request: Request,
    req_cc: CacheDirectives,
    resp_cc: CacheDirectives,
    freshness: Freshness,
    settings: Settings,
) -> str | None:
    """Why the stored response may not be used without revalidation, even if fresh."""
    if settings.refresh:
        return "refresh=True"
    if req_cc.no_cache or (settings.cache_control and pragma_no_cache(request.headers)):
        return "the request says no-cache (RFC 9111 §5.2.1.4)"
    if resp_cc.no_cache and not resp_cc.no_cache_fields:
        return "the response says no-cache (RFC 9111 §5.2.2.4)"
    if req_cc.max_age is not None and freshness.age > req_cc.max_age:
        return f"age {freshness.age:.0f}s exceeds the request's max-age (§5.2.1.1)"
    if req_cc.min_fresh is not None and freshness.remaining < req_cc.min_fresh:
        return f"less than the request's min-fresh={req_cc.min_fresh} left (§5.2.1.3)"
    return None


def conditional_headers(entry: Entry, settings: Settings) -> tuple[tuple[str, str], ...]:
    """If-None-Match / If-Modified-Since from the entry's validators (§4.3.1). With
    ``cache_etags=False`` (time priority) too: what was stored for its freshness is
    revalidated with its ETag once stale."""
    headers = []
    etag = parse_etag(entry.response.headers)
    if etag:
        headers.append(("If-None-Match", etag))
    last_modified = entry.response.headers.get("last-modified")
    if last_modified and parse_http_date(last_modified) is not None:
        headers.append(("If-Modified-Since", last_modified))
    return tuple(headers)


def stale_if_error_allows(
    entry: Entry, request: Request, now: float, settings: Settings
) -> str | None:
    """The reason a stale entry may stand in for an error (RFC 5861 §4), or None."""
    req_cc = request_directives(request, settings)
    resp_cc = response_directives(entry.response) if settings.cache_control else NO_DIRECTIVES
    allowance = first_set(req_cc.stale_if_error, resp_cc.stale_if_error, settings.stale_if_error)
    if not allowance:
        return None
    if resp_cc.stale_if_error is None and (resp_cc.must_revalidate or resp_cc.no_cache):
        return None  # §4.2.4: only the response itself can lift must-revalidate
    staleness = freshness_of(entry, now, settings).staleness
    if staleness > allowance:
        return None
    return f"origin failed; stale by {staleness:.0f}s, within stale-if-error={allowance:g}"


# ---- responses -----------------------------------------------------------------------


def on_response(
    exchange: Exchange,
    *,
    primary_key: str,
    stored_request: Request,
    settings: Settings,
    may_store: bool = True,
    revalidated: Entry | None = None,
    get_key: str | None = None,
) -> ResponseDecision:
    """What to do with the origin's response: store, freshen, invalidate, or not.
    ``get_key`` is the key of the request made as a GET (a POST's response to its own
    URI is kept there, RFC 9110 §9.3.3)."""
    request, response = exchange.request, exchange.response
    invalidation = invalidation_for(request, response)
    if get_key is not None and request.method.upper() not in settings.cacheable_methods:
        kept = post_as_get(exchange, get_key, stored_request, settings)
        if kept is not None:
            return ResponseDecision(kept, invalidation)

    if revalidated is not None and response.status == 304:
        return ResponseDecision(freshen(revalidated, exchange, settings), invalidation)

    applied = with_heuristic(exchange, settings)
    shown = () if applied is None else changed_fields(response.headers, applied.headers)
    store = storability(exchange, settings, may_store, applied)
    if isinstance(store, DoNotStore):
        return ResponseDecision(replace(store, heuristic_fields=shown), invalidation)
    response, lifetime = store
    response = response.with_url(stored_request.url)  # the stored, redacted URL
    response = partials.whole_as_200(response)  # a part with every byte is complete
    vary = parse_vary(response.headers)
    values = vary_values(request.headers, vary, settings.sensitive_headers)
    key = variant_key(primary_key, values)
    request_time, response_time = exchange.request_time, exchange.response_time
    expires, stale_until = expiry_of(response, request_time, response_time, lifetime, settings)
    entry = Entry(
        key=partials.partial_key(key) if response.status == partials.PARTIAL else key,
        primary_key=primary_key,
        request=stored_request,
        response=response,
        request_time=request_time,
        response_time=response_time,
        created_at=response_time,
        expires=expires,
        stale_until=stale_until,
        vary=values,
        # True: the caller's lifetime, not the headers'.
        expiry_from_caller=settings.lifetime_is_callers(response.status) or math.isinf(lifetime),
    )
    reason = f"storable: lifetime {_seconds(lifetime)}"
    return ResponseDecision(Store(entry, reason, shown), invalidation)


def post_as_get(
    exchange: Exchange, get_key: str, stored_request: Request, settings: Settings
) -> Store | None:
    """RFC 9111 §4 and RFC 9110 §9.3.3: a POST's response with explicit freshness and a
    Content-Location of the POST's own URI stands for that URI: kept as its GET."""
    request, response = exchange.request, exchange.response
    if request.method.upper() != "POST" or not 200 <= response.status < 300:
        return None
    location = response.headers.get("content-location")
    own = urlsplit(request.url)._replace(fragment="").geturl()
    if location is None or urljoin(request.url, location.strip()) != own:
        return None
    if header_lifetime(response, exchange.response_time, settings.shared) is None:
        return None
    may_store = not request_directives(request, settings).no_store  # §5.2.1.5
    as_get = replace(exchange, request=replace(request, method="GET", body=None))
    decision = on_response(
        as_get,
        primary_key=get_key,
        stored_request=replace(stored_request, method="GET", body=None),
        settings=replace(settings, cacheable_methods=settings.cacheable_methods | {"GET"}),
        may_store=may_store,
    )
    outcome = decision.outcome
    if not isinstance(outcome, Store):
        return None
    return replace(
        outcome, reason=f"a POST's response for its own URI, as its GET; {outcome.reason}"
    )


def freshen(entry: Entry, exchange: Exchange, settings: Settings) -> Freshen | DoNotStore:
    """RFC 9111 §4.3.4: update the stored head from a 304 whose validators match."""
    not_modified = exchange.response
    new_etag = parse_etag(not_modified.headers)
    old_etag = parse_etag(entry.response.headers)
    if new_etag and old_etag and new_etag.removeprefix("W/") != old_etag.removeprefix("W/"):
        return DoNotStore("the 304's ETag does not match the stored response")
    merged = replace(entry.response, headers=updated_by(entry.response.headers, exchange))
    request_time, response_time = exchange.request_time, exchange.response_time
    from_caller = settings.lifetime_is_callers(entry.status)
    expiration = settings.caller_expiration(entry.status)
    if expiration is not None:
        lifetime = expiration.lifetime_from(exchange.response_time)
    elif entry.expiry_from_caller:  # the lifetime a caller chose when storing it
        lifetime, from_caller = stored_lifetime(entry), True
    elif settings.cache_control:
        lifetime = header_lifetime(merged, exchange.response_time, settings.shared) or 0.0
    else:
        lifetime = math.inf
    expires, stale_until = expiry_of(merged, request_time, response_time, lifetime, settings)
    freshened = entry.with_changes(
        response=merged,
        request_time=request_time,
        response_time=response_time,
        expires=expires,
        stale_until=stale_until,
        expiry_from_caller=from_caller,
    )
    return Freshen(freshened, "304 Not Modified: freshened")


def updated_by(stored: Headers, exchange: Exchange) -> Headers:
    """The stored fields updated by a 304's (or a HEAD's, §4.3.5) fields (§4.3.4). The
    age of the freshened response is the new message's: a stored Age it does not carry
    goes, and without Date it is dated when received (RFC 9110 §6.6.1), else the old
    Age and Date would count the time before the revalidation again (§4.2.3)."""
    fresh = exchange.response.headers
    updates = [
        (name, value) for name, value in fresh.fields() if name.lower() not in NOT_UPDATED_BY_304
    ]
    if "date" not in fresh and "date" in stored:
        # Only a Date that was there is replaced: one added here, rounded down to the
        # second, would age a response stored without one by up to a second.
        updates.append(("Date", format_http_date(exchange.response_time)))
    if "age" not in fresh:
        stored = stored.without("age")
    return stored.updated(updates)


def head_updates(
    exchange: Exchange, entries: Sequence[Entry], settings: Settings
) -> tuple[tuple[Freshen, ...], tuple[str, ...]]:
    """RFC 9111 §4.3.5: what a 200 to a HEAD does to the stored GET responses that
    could have been chosen for it: those whose validators (and Content-Length) agree
    with it are updated with its fields; the others are removed, as stale. Returns
    the updates and the keys to remove."""
    head = exchange.response
    if exchange.request.method.upper() != "HEAD" or head.status != 200:
        return (), ()
    updates: list[Freshen] = []
    stale: list[str] = []
    for entry in entries:
        if entry.method.upper() != "GET":
            continue
        if not vary_matches(exchange.request, entry, settings.sensitive_headers):
            continue
        outcome = freshen(entry, exchange, settings) if _agree(head, entry.response) else None
        if isinstance(outcome, Freshen):
            updates.append(replace(outcome, reason="a 200 to a HEAD updated it (§4.3.5)"))
        else:
            stale.append(entry.key)
    return tuple(updates), tuple(stale)


def _agree(head: Response, stored: Response) -> bool:
    """The HEAD response's validators and Content-Length, where it has them, are the
    stored response's (§4.3.5)."""
    names: tuple[str, ...] = ("etag", "last-modified", "content-length")
    if stored.status == partials.PARTIAL:
        names = names[:2]  # a part's own Content-Length is the size of its range
    return all(
        head.headers.get(name, "").strip() == stored.headers.get(name, "").strip()
        for name in names
        if name in head.headers
    )


def invalidation_for(request: Request, response: Response) -> Invalidate | None:
    """RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target
    URI, and the Location and Content-Location URIs when they share its origin."""
    if request.method.upper() in SAFE_METHODS or not 200 <= response.status < 400:
        return None
    urls = [request.url]
    origin = _origin(request.url)
    for name in ("location", "content-location"):
        value = response.headers.get(name)
        if value:
            target = urljoin(request.url, value.strip())
            if _origin(target) == origin:
                urls.append(target)
    return Invalidate(tuple(dict.fromkeys(urls)), f"{request.method.upper()} is unsafe (§4.4)")


# ---- small helpers ---------------------------------------------------------------


def _seconds(value: float) -> str:
    return "forever" if math.isinf(value) else f"{value:.0f}s"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
