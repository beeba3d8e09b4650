"""The cache's decisions, as pure functions of (request, stored entries, now, settings).

``decide`` says what to do with a request; ``on_response`` what to do with what the
origin answered; ``stale_if_error_allows`` whether a failure may be hidden by a stale
entry. Nothing here reads the clock, touches storage or the network: the driver
(``adapter.py``) does that and performs the returned actions.

Precedence (the contract): the caller's request directives first, then the caller's
``expire_after`` (which replaces the freshness lifetime), then the response's
header fields (RFC 9111), then the heuristic. ``cache_control=False`` ignores the
header fields and keeps everything allowable for ``expire_after``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urljoin, urlsplit

from ..heuristics import HEURISTICALLY_CACHEABLE, BaseHeuristic
from ..keys import variant_key, vary_values
from ..models import Entry, Headers, Request, Response
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
    parse_etag,
    parse_vary,
    pragma_no_cache,
)
from .expiration import Expiration
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

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Requests carrying these are passed through: the cache leaves these preconditions to
#: the origin. (A Range it understands is served from a stored complete response.)
PASS_THROUGH_HEADERS = ("if-match", "if-unmodified-since")
#: The caller's own validation request: answered from a fresh stored response
#: (§4.3.2), else sent to the origin as it is.
USER_CONDITIONALS = ("if-none-match", "if-modified-since")
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
ERROR_STATUSES = frozenset({500, 502, 503, 504})
PERMANENT_REDIRECTS = frozenset({301, 308})
#: RFC 9110 §15: the status codes whose requirements this cache knows and follows
#: (what ``must-understand`` asks of it, RFC 9111 §5.2.2.3).
UNDERSTOOD_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 418))
    | {421, 422, 426}
    | set(range(500, 506))
)
#: How long past expiry an entry with validators is kept for revalidation.
DEFAULT_REVALIDATION_GRACE = 86_400.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything that shapes one decision, resolved by the session for one request."""

    cache_control: bool = True
    #: The caller's expiration (request, else URL pattern, else session); None: headers.
    expiration: Expiration | None = None
    shared: bool = False
    cacheable_methods: frozenset[str] = frozenset({"GET", "HEAD"})
    #: Status codes that may be stored; None: every one RFC 9111 §3 allows.
    allowable_codes: frozenset[int] | None = None
    heuristic: BaseHeuristic | None = None
    cache_etags: bool = True
    stale_if_error: float = 0.0
    stale_while_revalidate: float = 0.0
    only_if_cached: bool = False
    refresh: bool = False
    force_refresh: bool = False
    revalidation_grace: float = DEFAULT_REVALIDATION_GRACE
    #: Request fields whose values are secrets: kept only as digests in ``Entry.vary``.
    sensitive_headers: frozenset[str] = field(default_factory=frozenset)
    #: Keep a 301 or 308 without freshness of its own, as CacheControl does, so that
    #: the permanent redirect is followed from the cache (its face sets this).
    permanent_redirects: bool = False

    @property
    def caller_sets_lifetime(self) -> bool:
        """The lifetime is the caller's (``expire_after``, or ``cache_control=False``)."""
        return self.expiration is not None or not self.cache_control

    def allows_status(self, status: int) -> bool:
        """Whether the caller lets ``status`` be stored (``allowable_codes``; without
        it, every status with ``cache_control``, else 200 only)."""
        if self.allowable_codes is not None:
            return status in self.allowable_codes
        return self.cache_control or status == 200

    def caller_expiration(self, status: int) -> Expiration | None:
        """The caller's ``expire_after`` for a response of ``status``: it applies to 200
        and to the caller's own ``allowable_codes``, so an error is never kept for the
        caller's hour by accident; other statuses go by their header fields."""
        if self.expiration is None:
            return None
        if status == 200 or (self.allowable_codes is not None and status in self.allowable_codes):
            return self.expiration
        return None

    def lifetime_is_callers(self, status: int) -> bool:
        """The lifetime of a ``status`` response is the caller's, not the headers'."""
        return not self.cache_control or self.caller_expiration(status) is not None


NO_DIRECTIVES = CacheDirectives()


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
    action = _decide(request, entries, now, settings)
    if byte_range is not None:
        action = for_range(request, action, byte_range)
    own = [h for h in USER_CONDITIONALS if h in request.headers]
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
        swr = _first_set(resp_cc.stale_while_revalidate, settings.stale_while_revalidate)
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
    """The freshness lifetime that ``with_expiry`` recorded in ``entry.expires``."""
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
    allowance = _first_set(req_cc.stale_if_error, resp_cc.stale_if_error, settings.stale_if_error)
    if not allowance:
        return None
    if resp_cc.stale_if_error is None and (resp_cc.must_revalidate or resp_cc.no_cache):
        return None  # §4.2.4: only the response itself can lift must-revalidate
    staleness = freshness_of(entry, now, settings).staleness
    if staleness > allowance:
        return None
    return f"origin failed; stale by {staleness:.0f}s, within stale-if-error={allowance:g}"


# ---- responses -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request/response round trip, as the driver saw it."""

    request: Request  # as sent
    response: Response
    request_time: float
    response_time: float


def on_response(
    exchange: Exchange,
    *,
    primary_key: str,
    stored_request: Request,
    settings: Settings,
    may_store: bool = True,
    revalidated: Entry | None = None,
) -> ResponseDecision:
    """What to do with the origin's response: store, freshen, invalidate, or not."""
    request, response = exchange.request, exchange.response
    invalidation = invalidation_for(request, response)

    if revalidated is not None and response.status == 304:
        return ResponseDecision(freshen(revalidated, exchange, settings), invalidation)

    applied = with_heuristic(exchange, settings)
    shown = () if applied is None else _changed_fields(response.headers, applied.headers)
    store = storability(exchange, settings, may_store, applied)
    if isinstance(store, DoNotStore):
        return ResponseDecision(replace(store, heuristic_fields=shown), invalidation)
    response, lifetime = store
    response = replace(response, url=stored_request.url)  # the stored, redacted URL
    vary = parse_vary(response.headers)
    values = vary_values(request.headers, vary, settings.sensitive_headers)
    draft = Entry(
        key=variant_key(primary_key, values),
        primary_key=primary_key,
        request=stored_request,
        response=response,
        request_time=exchange.request_time,
        response_time=exchange.response_time,
        created_at=exchange.response_time,
        expires=None,
        vary=values,
    )
    entry = with_expiry(draft, lifetime, settings)
    if settings.lifetime_is_callers(response.status) or math.isinf(lifetime):
        entry = entry.with_changes(expiry_from_caller=True)  # not the headers' lifetime
    reason = f"storable: lifetime {_seconds(lifetime)}"
    return ResponseDecision(Store(entry, reason, shown), invalidation)


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
    if status < 200 or status in (206, 304):
        return DoNotStore(f"status {status} is not a complete, final response (§3)")
    if not settings.allows_status(status):
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
    age = initial_age(_as_entry(exchange, response))
    has_validator = storable_validator(response, settings)
    stale_allowance = _first_set(cc.stale_if_error, settings.stale_if_error) or _first_set(
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


def with_expiry(entry: Entry, lifetime: float, settings: Settings) -> Entry:
    """The entry with ``expires`` and ``stale_until`` set from its lifetime."""
    if math.isinf(lifetime):
        return entry.with_changes(expires=None, stale_until=None)
    expires = entry.response_time + lifetime - initial_age(entry)
    cc = response_directives(entry.response) if settings.cache_control else NO_DIRECTIVES
    has_validator = bool(
        parse_etag(entry.response.headers) or "last-modified" in entry.response.headers
    )
    keep = max(
        _first_set(cc.stale_if_error, settings.stale_if_error) or 0.0,
        _first_set(cc.stale_while_revalidate, settings.stale_while_revalidate) or 0.0,
        settings.revalidation_grace if has_validator else 0.0,
    )
    return entry.with_changes(expires=expires, stale_until=expires + keep)


def freshen(entry: Entry, exchange: Exchange, settings: Settings) -> Freshen | DoNotStore:
    """RFC 9111 §4.3.4: update the stored head from a 304 whose validators match."""
    not_modified = exchange.response
    new_etag = parse_etag(not_modified.headers)
    old_etag = parse_etag(entry.response.headers)
    if new_etag and old_etag and new_etag.removeprefix("W/") != old_etag.removeprefix("W/"):
        return DoNotStore("the 304's ETag does not match the stored response")
    updates = [
        (name, value)
        for name, value in not_modified.headers.fields()
        if name.lower() not in NOT_UPDATED_BY_304
    ]
    merged = replace(entry.response, headers=entry.response.headers.updated(updates))
    updated = entry.with_changes(
        response=merged,
        request_time=exchange.request_time,
        response_time=exchange.response_time,
    )
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
    freshened = with_expiry(updated, lifetime, settings).with_changes(
        expiry_from_caller=from_caller
    )
    return Freshen(freshened, "304 Not Modified: freshened")


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
    return all(
        head.headers.get(name, "").strip() == stored.headers.get(name, "").strip()
        for name in ("etag", "last-modified", "content-length")
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


def strip_hop_by_hop(response: Response) -> Response:
    """Drop fields a cache must not store (§3.1): hop-by-hop and those named by Connection."""
    named = {
        token.strip().lower()
        for line in response.headers.get_all("connection")
        for token in line.split(",")
    }
    drop = HOP_BY_HOP | named
    if not any(name.lower() in drop for name in response.headers):
        return response
    kept = Headers((k, v) for k, v in response.headers.fields() if k.lower() not in drop)
    return replace(response, headers=kept)


# ---- small helpers ---------------------------------------------------------------


def _changed_fields(before: Headers, after: Headers) -> tuple[tuple[str, str], ...]:
    """The field lines of ``after`` whose name has other values in ``before``."""
    return tuple(
        (name, value)
        for name, value in after.fields()
        if before.get_all(name) != after.get_all(name)
    )


def _first_set(*values: float | None) -> float | None:
    return next((v for v in values if v is not None and v is not False), None)


def _seconds(value: float) -> str:
    return "forever" if math.isinf(value) else f"{value:.0f}s"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _as_entry(exchange: Exchange, response: Response) -> Entry:
    return Entry(
        key="",
        primary_key="",
        request=exchange.request,
        response=response,
        request_time=exchange.request_time,
        response_time=exchange.response_time,
        created_at=exchange.response_time,
        expires=None,
    )
