"""The one driver of the cache: storage, the pure policy, coalescing and the trace.

``CacheEngine`` works on ``models`` only and imports nothing from requests or
urllib3: the requests glue (``_glue.py``, used by ``CachedSession.send`` and by
``CacheControlAdapter``), ``hc``'s fast hit and ``hc explain`` all drive it::

    plan = engine.lookup(request, key, options)      # storage -> policy.decide -> a Plan
    with engine.coalesce(plan) as plan: ...          # lead, or wait for the leader
    pair = engine.open_stored(plan, entry)           # (entry, body) with the hit counted
    outcome = engine.respond(plan, head, t_request)  # Store | Freshen | DoNotStore
    engine.save(plan, entry, body) / engine.freshen(plan, entry)
    plan.trace                                       # every step: what, why, RFC, figures

Storage failures never reach the caller: the ``StorageGuard`` logs them and the
request goes to the network. A stored body that fails its checksum is a miss with
one warning, and the entry is removed (``discard_damaged``). ``Set-Cookie`` never
reaches storage: the heads the engine stores and freshens go without it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, TypeVar

from ._coalesce import Flight, Flights
from ._guard import StorageGuard
from .caches.base import BaseCache, BodyWriter
from .config import CacheConfig, RequestOptions
from .errors import ChecksumMismatchError
from .keys import create_key, normalize_url, redact_request
from .models import Entry, Request, Response
from .policy import controller
from .policy.actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    RequestAction,
    ResponseOutcome,
    Revalidate,
    Store,
    UseStored,
)
from .policy.controller import Exchange, Settings
from .serialize import without_cookies
from .trace import Trace

logger = logging.getLogger("httpcache")
T = TypeVar("T")

#: One registry per process: concurrent identical misses coalesce across sessions
#: (and engines) that share a cache object.
FLIGHTS = Flights()
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(slots=True)
class Plan:
    """What the engine decided for one request, and everything it needs to carry on."""

    request: Request
    key: str
    settings: Settings
    action: RequestAction
    trace: Trace
    #: ``FLIGHTS.landed`` before the lookup: a fetch that landed since may have stored.
    landed: int
    #: For a HEAD or a POST: the primary key of the same request as a GET (without a
    #: body), whose stored responses a 200 to the HEAD updates (RFC 9111 §4.3.5) and
    #: where a POST's response for its own URI is kept (§4, RFC 9110 §9.3.3).
    get_key: str | None = None

    @property
    def entry(self) -> Entry | None:
        """The stored entry the action rests on (served, revalidated, or kept in reserve)."""
        return _entry_of(self.action)


class CacheEngine:
    """Drives one cache with one configuration; safe to share between threads."""

    def __init__(
        self, cache: BaseCache, config: CacheConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.cache = cache
        self.clock = clock
        self.guard = StorageGuard(type(cache).__name__)
        self._background: set[threading.Thread] = set()
        self.config = config
        self.configure(config)

    def configure(self, config: CacheConfig) -> None:
        """Use ``config`` from now on (``session.settings.x = ...``)."""
        self.config = config
        params = config.ignored_params
        self.cache.url_normalizer = lambda url: normalize_url(url, params, redact=True)

    # ---- lookup -------------------------------------------------------------------

    def key_for(self, request: Request, tls: str = "", original: object = None) -> str:
        """The primary key of ``request``; ``original`` is what a custom ``key_fn`` gets
        (requests-cache passes it the prepared request)."""
        config = self.config
        if config.key_fn is not None:
            return config.key_fn(
                request if original is None else original,
                ignored_parameters=config.ignored,
                match_headers=config.match_headers,
            )
        return create_key(
            request,
            ignored_parameters=config.ignored,
            match_headers=config.match_headers,
            tls=tls,
        )

    def lookup(
        self,
        request: Request,
        key: str,
        options: RequestOptions | None,
        *,
        body_is_stream: bool = False,
    ) -> Plan:
        """Look in storage and decide. A body that can be read only once (a file, a
        generator) cannot be keyed: such a request bypasses the cache."""
        settings = self.config.settings_for(request, options)
        trace = Trace(request.method, self.loggable(request.url))
        landed = FLIGHTS.landed
        action: RequestAction
        if body_is_stream:
            bypass = Forward(
                "the body is a stream that cannot be keyed", CacheStatus.BYPASS, may_store=False
            )
            trace.add("lookup", "Forward", bypass.reason, status=str(bypass.status))
            action = bypass
        else:
            action = self._decide(request, key, settings, trace)
        plan = Plan(request, key, settings, action, trace, landed)
        if request.method == "HEAD":  # (a POST's is found when its response needs it)
            plan.get_key = self._get_key_of(request, key)
        return plan

    def _get_key_of(self, request: Request, key: str) -> str | None:
        """The primary key of a request made as a GET, when its ``key`` is the one of
        requests' default TLS settings (the glue, which knows the TLS settings, sets
        it otherwise) and keys are the engine's own."""
        if self.config.key_fn is not None or self.key_for(request) != key:
            return None
        return self.key_for(replace(request, method="GET", body=None))

    def _post_get_key(self, plan: Plan, head: Response) -> str | None:
        """For a POST answered with a Content-Location, the key it may be kept under as
        a GET (RFC 9110 §9.3.3); None for anything else."""
        request = plan.request
        if request.method != "POST" or "content-location" not in head.headers:
            return None
        return plan.get_key or self._get_key_of(request, plan.key)

    def _decide(
        self, request: Request, key: str, settings: Settings, trace: Trace
    ) -> RequestAction:
        if settings.expiration is not None and settings.expiration.do_not_cache:
            entries: list[Entry] = []
        elif request.method not in settings.cacheable_methods:
            entries = []
        else:
            entries = self.guard.call("look up", lambda: self.cache.find(key), [])
        now = self.clock()
        action = controller.decide(request, entries, now, settings)
        entry = _entry_of(action)
        figures = None if entry is None else _freshness_figures(entry, now, settings)
        trace.add(
            "lookup",
            type(action).__name__,
            action.reason,
            status=str(_status_of(action)),
            figures=figures,
        )
        return action

    def served_alone(self, plan: Plan) -> UseStored | None:
        """The plan's stored answer if it needs nothing but storage: not a background
        refresh (that needs the network), not a redirect (the client follows it), not
        a 304 to the caller's own conditional nor a range (made by the full path)."""
        action = plan.action
        if (
            isinstance(action, UseStored)
            and not action.revalidate_in_background
            and not action.not_modified
            and action.byte_range is None
            and action.entry.response.status not in REDIRECT_STATUSES
        ):
            return action
        return None

    def replan(self, plan: Plan, action: RequestAction) -> Plan:
        """The plan with another action (the stored body vanished, ...), traced."""
        plan.trace.add(
            "lookup",
            type(action).__name__,
            action.reason,
            status=str(_status_of(action)),
        )
        return replace(plan, action=action)

    # ---- coalescing -----------------------------------------------------------------

    def coalesce(self, plan: Plan) -> _Coalesced:
        """Concurrent identical misses: one leader fetches, the others wait for it.

        The block yields the plan to perform: for a waiter, decided again once the
        leader landed (it is usually a hit then). The leader's flight lands when the
        block exits, whatever the exit: a streamed response handed to its caller no
        longer holds it (a caller that abandons a stream blocks nobody).
        """
        return _Coalesced(self, plan)

    # ---- serving from storage ---------------------------------------------------------

    def open_stored(
        self, plan: Plan, entry: Entry, *, preload: bool, count: bool = True
    ) -> tuple[Entry, BinaryIO | bytes] | None:
        """The stored head and body as one pair (a rewrite since the lookup gives the
        newer pair whole), and (with ``count``) the hit counted; None if it vanished.
        ``preload`` reads the body into memory now."""
        pair = self.guard.call(
            "read an entry", lambda: _damage_returned(self.cache.open_entry, entry.key), None
        )
        if isinstance(pair, ChecksumMismatchError):
            self.discard_damaged(plan, entry, pair)
            return None
        if pair is None:
            plan.trace.add("note", "Note", "the stored response vanished since the lookup")
            return None
        stored, stream = pair
        body: BinaryIO | bytes = stream
        if preload:
            read = self.guard.call("read a body", lambda: _damage_returned(_read_all, stream), None)
            if isinstance(read, ChecksumMismatchError):
                self.discard_damaged(plan, stored, read)
                return None
            if read is None:
                return None
            body = read
        if count:
            self.count_hit()
        return stored, body

    def discard_damaged(self, plan: Plan, entry: Entry, damage: ChecksumMismatchError) -> None:
        """A stored body failed its checksum: a miss, one warning, and the entry removed
        (the response fetched instead may take its place)."""
        logger.warning("%s; a miss, and the entry is removed", damage)
        plan.trace.add("note", "Note", "the stored body is damaged (checksum): removed")
        # ``delete``, not ``delete_keys``: a damaged entry goes even from a cache that
        # keeps its entries through the driver's deletions (``FileCache(forever=True)``).
        self.guard.call(
            "remove a damaged entry", lambda: self.cache.delete(entry.key), 0, minor=True
        )

    def count_hit(self) -> None:
        self.guard.call("count a hit", lambda: self.cache.record_lookup(hit=True), None, minor=True)

    def count_miss(self) -> None:
        self.guard.call(
            "count a miss", lambda: self.cache.record_lookup(hit=False), None, minor=True
        )

    # ---- the origin's response ----------------------------------------------------------

    def respond(
        self,
        plan: Plan,
        head: Response,
        request_time: float,
        *,
        revalidated: Entry | None = None,
        may_store: bool = True,
    ) -> ResponseOutcome:
        """Decide on the origin's response head; perform an invalidation it calls for
        (RFC 9111 §4.4) at once, and return what to do with the body."""
        exchange = Exchange(
            request=plan.request,
            response=head,
            request_time=request_time,
            response_time=self.clock(),
        )
        decision = controller.on_response(
            exchange,
            primary_key=plan.key,
            stored_request=redact_request(plan.request, self.config.ignored),
            settings=plan.settings,
            may_store=may_store,
            revalidated=revalidated,
            get_key=self._post_get_key(plan, head),
        )
        head_update = plan.request.method == "HEAD" and head.status == 200
        if plan.get_key is not None and head_update and not self.config.read_only:
            self._update_from_head(plan, exchange, plan.get_key)
        invalidate = decision.invalidate
        if invalidate is not None and plan.request.method in plan.settings.cacheable_methods:
            # The caller keeps this method's responses (POST in allowable_methods): it
            # declared the method a query, which makes nothing stale.
            plan.trace.add("response", "Note", f"{plan.request.method} is cached: no invalidation")
            invalidate = None
        if invalidate is not None and self.config.read_only:
            plan.trace.add("response", "Note", "read_only: nothing is removed")
            invalidate = None
        if invalidate is not None:
            count = self.guard.call("invalidate", lambda: self.cache.invalidate(invalidate.urls), 0)
            plan.trace.add(
                "response",
                "Invalidate",
                f"{invalidate.reason}; {count} removed",
                figures={"removed": float(count)},
            )
        outcome = _cookies_left_out(decision.outcome)
        match outcome:
            case Store(entry=entry):
                figures = _lifetime_figures(entry)
                plan.trace.add("response", "Store", outcome.reason, figures=figures)
            case Freshen(entry=entry):
                figures = _lifetime_figures(entry)
                plan.trace.add("response", "Freshen", outcome.reason, figures=figures)
            case DoNotStore():
                plan.trace.add("response", "DoNotStore", outcome.reason)
        return outcome

    def _update_from_head(self, plan: Plan, exchange: Exchange, get_key: str) -> None:
        """RFC 9111 §4.3.5: a 200 to a HEAD updates the stored GET responses it could
        have been chosen for, or removes them as stale."""
        nothing: list[Entry] = []
        entries = self.guard.call("look up", lambda: self.cache.find(get_key), nothing)
        updates, stale = controller.head_updates(exchange, entries, plan.settings)
        for update in updates:
            self.freshen(plan, update.entry)
            plan.trace.add("response", "Freshen", update.reason)
        if stale:
            self.guard.call("invalidate", lambda: self.cache.delete(*stale), 0)
            plan.trace.add("response", "Invalidate", f"{len(stale)} stored GET disagree (§4.3.5)")

    def not_stored(self, plan: Plan, reason: str, *, level: int = logging.DEBUG) -> None:
        """A storable response was not kept after all (filter_fn, a cut-short body...)."""
        plan.trace.add("response", "DoNotStore", reason, level=level)

    def refused_by_filter(self, plan: Plan, response: object) -> bool:
        """Whether the caller's ``filter_fn`` says not to store ``response`` (noted)."""
        filter_fn = self.config.filter_fn
        if filter_fn is None or filter_fn(response):
            return False
        self.not_stored(plan, "filter_fn said no")
        return True

    def refetch(self, plan: Plan, reason: str) -> None:
        """A 304 could not be used: the response is fetched in full."""
        plan.trace.add("response", "Refetch", reason)

    def save(self, plan: Plan, entry: Entry, body: bytes) -> Entry | None:
        """Store a whole body; the stored entry (size set), or None if storage failed."""
        if self.config.read_only:
            plan.trace.add("note", "Note", "read_only: the response was not stored")
            return None
        saved = self.guard.call("store", lambda: self.cache.save(entry, body), None)
        if saved is None:
            plan.trace.add("note", "Warning", "storage failed; the response was not stored")
        return saved

    def open_writer(self, plan: Plan, entry: Entry) -> BodyWriter | None:
        """A writer for a body stored as the caller reads it, or None if storage fails."""
        if self.config.read_only:
            plan.trace.add("note", "Note", "read_only: the response is not stored")
            return None
        return self.guard.call("start a write", lambda: self.cache.open_writer(entry), None)

    def body_done(self, plan: Plan, stored: bool) -> None:
        """A streamed body ended: stored whole, or abandoned / cut short (not stored)."""
        if not stored:
            plan.trace.add("note", "Note", "the body was not read to its end: not stored")

    def drop(self, plan: Plan, key: str, reason: str) -> None:
        """Remove one entry the response made useless (a stored part now joined)."""
        if self.config.read_only:
            return
        self.guard.call("remove an entry", lambda: self.cache.delete_keys([key]), 0, minor=True)
        plan.trace.add("response", "Note", reason)

    def freshen(self, plan: Plan, entry: Entry) -> None:
        """Write the head a 304 freshened (RFC 9111 §4.3.4)."""
        if self.config.read_only:
            return
        self.guard.call("update a head", lambda: self.cache.update_head(entry), None)

    def stale_instead(
        self, plan: Plan, entry: Entry, failure: object = None, *, status: int | None = None
    ) -> str | None:
        """Whether a stale entry may stand in for a failure: a network error, or an
        error ``status`` from the origin (stale-if-error, RFC 5861 §4). Traced."""
        if status is not None:
            if status not in controller.ERROR_STATUSES:
                return None
            failure = f"status {status}"
        reason = controller.stale_if_error_allows(entry, plan.request, self.clock(), plan.settings)
        if reason is not None:
            plan.trace.add("response", "ServeStale", f"{reason}; {failure}", status="stale")
        return reason

    # ---- stale-while-revalidate ----------------------------------------------------------

    def revalidate_in_background(
        self, plan: Plan, entry: Entry, perform: Callable[[Plan], object]
    ) -> None:
        """Refresh ``entry`` in a thread (RFC 5861 §3); one refresh per entry at a time.
        ``perform`` sends the request the plan describes, as the caller's driver does."""
        flight, leader = FLIGHTS.join_or_lead(("revalidate", id(self.cache), entry.key))
        if not leader:
            return
        conditional = controller.conditional_headers(entry, plan.settings)
        action: RequestAction = (
            Revalidate(entry, conditional, "stale-while-revalidate")
            if conditional
            else Forward("stale-while-revalidate", CacheStatus.EXPIRED)
        )
        background = replace(plan, action=action, trace=Trace(plan.request.method, plan.trace.url))

        def run() -> None:
            try:
                perform(background)
            except Exception as exc:  # a background refresh has no caller to tell
                logger.warning("background revalidation of %s failed: %s", plan.trace.url, exc)
            finally:
                flight.land()
                self._background.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="httpcache-revalidate", daemon=True)
        self._background.add(thread)
        thread.start()

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for stale-while-revalidate refreshes in progress (useful in tests)."""
        for thread in list(self._background):
            thread.join(timeout)

    def loggable(self, url: str) -> RedactedURL:
        """The URL as logs show it: ignored parameters and user info redacted, as stored."""
        return RedactedURL(url, self.config.ignored)


class _Coalesced:
    """``CacheEngine.coalesce``'s block (a class: a generator costs more per miss)."""

    __slots__ = ("_engine", "_flight", "_plan")

    def __init__(self, engine: CacheEngine, plan: Plan) -> None:
        self._engine, self._plan = engine, plan
        self._flight: Flight | None = None

    def __enter__(self) -> Plan:
        plan, engine = self._plan, self._engine
        if not _coalescible(plan.action):
            return plan
        flight, leader = FLIGHTS.join_or_lead((id(engine.cache), plan.key))
        if not leader:
            flight.wait(engine.config.coalesce_timeout)
        if not leader or FLIGHTS.landed != plan.landed:
            # Look again: the leader waited for, or a fetch that landed meanwhile, may
            # have stored what the first lookup missed.
            action = engine._decide(plan.request, plan.key, plan.settings, plan.trace)
            plan = replace(plan, action=action)
        if leader:
            self._flight = flight
        return plan

    def __exit__(self, *exc: object) -> None:
        if self._flight is not None:
            self._flight.land()


class RedactedURL:
    """Formats a URL with its secrets redacted, only when a log line is really written."""

    __slots__ = ("ignored", "url")

    def __init__(self, url: str, ignored: tuple[str, ...]) -> None:
        self.url, self.ignored = url, ignored

    def __str__(self) -> str:
        return normalize_url(self.url, self.ignored, redact=True)


def _entry_of(action: RequestAction) -> Entry | None:
    match action:
        case UseStored(entry=entry) | Revalidate(entry=entry):
            return entry
        case Forward(stale=stale):
            return stale
        case GatewayTimeout():
            return None


def _status_of(action: RequestAction) -> CacheStatus:
    if isinstance(action, GatewayTimeout):
        return CacheStatus.OFFLINE_MISS
    return action.status


def _freshness_figures(
    entry: Entry, now: float, settings: Settings
) -> Callable[[], dict[str, float]]:
    def figures() -> dict[str, float]:
        freshness = controller.freshness_of(entry, now, settings)
        return {
            "age": freshness.age,
            "lifetime": freshness.lifetime,
            "staleness": freshness.staleness,
        }

    return figures


def _lifetime_figures(entry: Entry) -> Callable[[], dict[str, float]]:
    """The stored lifetime, computed only if the trace's figures are read."""
    return lambda: {"lifetime": controller.stored_lifetime(entry)}


def _cookies_left_out(outcome: ResponseOutcome) -> ResponseOutcome:
    """The outcome with a head to store that sets no cookie: ``Set-Cookie`` is meant
    for the one response that carried it, never stored, never replayed on a hit."""
    match outcome:
        case Store(entry=entry) | Freshen(entry=entry):
            headers = without_cookies(entry.response.headers)
            if headers is not entry.response.headers:
                response = replace(entry.response, headers=headers)
                return replace(outcome, entry=replace(entry, response=response))
    return outcome


def _damage_returned(read: Callable[[Any], T], argument: Any) -> T | ChecksumMismatchError:
    """``read(argument)``, with a checksum mismatch returned instead of raised (the
    storage guard would take it for a storage failure)."""
    try:
        return read(argument)
    except ChecksumMismatchError as damage:
        return damage


def _read_all(body: Any) -> bytes:
    """A stored body read whole (the stream closed), for a response that is not streamed."""
    if isinstance(body, bytes):
        return body
    try:
        data: bytes = body.read()
        return data
    finally:
        body.close()


def _coalescible(action: RequestAction) -> bool:
    """A plain miss that may be stored: worth making concurrent callers wait for."""
    return isinstance(action, Forward) and action.status is CacheStatus.MISS and action.may_store
