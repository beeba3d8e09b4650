"""requests glue around the engine: a prepared request in, a ``requests.Response`` out.

``CachedSession.send`` and ``CacheControlAdapter.send`` both call ``cached_send``
with a ``network`` callable that sends one request (no redirects, body not read):
the session's is the rest of ``Session.send`` (the user's mounted adapter, mocks,
other mixins), the adapter's is ``HTTPAdapter.send``. Everything decided here is
decided by the engine; this module converts at the edge, tees bodies into storage
and annotates responses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from logging import WARNING
from typing import Any, assert_never

import requests

from . import _convert
from ._partial import join, keep
from ._tee import StoredRaw, TeeRaw
from .config import RequestOptions
from .engine import CacheEngine, Plan
from .errors import ChecksumMismatchError, HttpCacheError
from .keys import tls_fingerprint
from .models import Entry
from .policy.actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    Revalidate,
    Store,
    UseStored,
)
from .policy.answers import age_of, not_modified_head
from .policy.partials import PARTIAL, served_part
from .policy.ranges import byte_range_of

#: Sends one request to the origin and returns its response with the body unread.
Network = Callable[[requests.PreparedRequest], requests.Response]
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout)


class DamagedBodyError(requests.exceptions.ChunkedEncodingError, HttpCacheError):
    """A streamed hit's stored body failed its checksum at its end.

    Raised by ``iter_content``, ``raw.read`` and ``raw.stream`` of a response served
    from the cache with ``stream=True`` in place of a quiet end with wrong bytes; the
    entry is removed, so the same request made again goes to the origin. A
    ``ChunkedEncodingError``, so code that handles a body cut short handles this too.
    ``httpcache.errors.DamagedBodyError`` is this class.
    """


def _damaged_body(damage: ChecksumMismatchError) -> DamagedBodyError:
    return DamagedBodyError(str(damage))


def tls_of(verify: object, cert: object) -> str:
    """The key's TLS part (``keys.tls_fingerprint``) for what requests will use.

    What the caller chose partitions the cache: ``verify=False``, a CA bundle of its
    own, a client certificate. The machine's CA bundle named by the environment
    (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, which requests puts in place of
    ``verify=True``) is the default trust, as ``True`` is: caches stay shared between
    shells that set it and those that do not.
    """
    if isinstance(verify, str) and verify and _is_environment_bundle(verify):
        verify = True
    return tls_fingerprint(verify, cert)


def _is_environment_bundle(path: str) -> bool:
    """Whether ``path`` (not empty) is the CA bundle the environment names."""
    environ = os.environ
    return path == environ.get("REQUESTS_CA_BUNDLE") or path == environ.get("CURL_CA_BUNDLE")


def plan_for(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    tls: str,
    options: RequestOptions | None,
) -> Plan:
    """The engine's plan for a prepared request."""
    model = _convert.request_from_prepared(prepared)
    key = engine.key_for(model, tls, prepared)
    plan = engine.lookup(model, key, options, body_is_stream=_convert.body_is_stream(prepared))
    if model.method in ("HEAD", "POST") and plan.get_key is None:
        # The same request as a GET: what a HEAD updates, where a POST's response to
        # its own URI is kept (RFC 9111 §4, §4.3.5).
        as_get = prepared.copy()
        as_get.method, as_get.body = "GET", None
        plan.get_key = engine.key_for(replace(model, method="GET", body=None), tls, as_get)
    return plan


def stored_answer(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    *,
    stream: bool,
    connection: Any,
) -> requests.Response | None:
    """The response if the plan is a fresh hit that needs nothing of ``send``: no
    background refresh (it needs the network) and no redirect (``send`` follows it)."""
    action = engine.served_alone(plan)
    if action is None:
        return None
    return _serve(engine, prepared, plan, action, stream, None, connection)


def cached_send(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    *,
    stream: bool,
    network: Network,
    connection: Any,
) -> requests.Response:
    """Perform the plan: serve, revalidate, forward or answer 504; store what may be."""
    with engine.coalesce(plan) as plan:
        return _perform(engine, prepared, plan, stream, network, connection)


def _perform(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    stream: bool,
    network: Network,
    connection: Any,
) -> requests.Response:
    action = plan.action
    match action:
        case UseStored():
            served = _serve(engine, prepared, plan, action, stream, network, connection)
            if served is not None:
                return served
            forward = Forward("stored body unavailable", CacheStatus.MISS)
            plan = engine.replan(plan, forward)
            return _forward(engine, prepared, plan, forward, stream, network, connection)
        case GatewayTimeout():
            response = _convert.gateway_timeout(prepared, connection)
            return _annotate(engine, response, plan, CacheStatus.OFFLINE_MISS, None, False)
        case Revalidate():
            return _revalidate(engine, prepared, plan, action, stream, network, connection)
        case Forward():
            return _forward(engine, prepared, plan, action, stream, network, connection)
        case _:
            assert_never(action)


def _serve(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    action: UseStored,
    stream: bool,
    network: Network | None,
    connection: Any,
) -> requests.Response | None:
    ranged = action.byte_range
    pair = engine.open_stored(plan, action.entry, preload=not stream or ranged is not None)
    if pair is None:
        return None
    entry, body = pair
    head = entry.response
    if action.not_modified:  # the caller's own conditional matched (RFC 9111 §4.3.2)
        if not isinstance(body, bytes):
            body.close()
        head, body = not_modified_head(entry, engine.clock()), b""
    elif ranged is not None and isinstance(body, bytes) and entry.status == PARTIAL:
        part = served_part(head, body, ranged)  # a range within a stored part (§3.3)
        if part is None:
            return None
        head, body = part
    elif ranged is not None and isinstance(body, bytes):  # bytes of it (RFC 9110 §14)
        head, body = byte_range_of(head, body, ranged)
    response = _convert.build_response(prepared, head, body, connection, action.hide_fields)
    _aged(response, entry, engine.clock())
    _report_damage(engine, plan, entry, response, body)
    if action.revalidate_in_background and network is not None:
        copy = prepared.copy()
        engine.revalidate_in_background(
            plan,
            entry,
            lambda background: _perform(engine, copy, background, False, network, connection),
        )
    return _annotate(engine, response, plan, action.status, entry, True)


def _forward(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    action: Forward,
    stream: bool,
    network: Network,
    connection: Any,
) -> requests.Response:
    if action.status is not CacheStatus.BYPASS:
        engine.count_miss()
    request_time = engine.clock()
    # What comes joins a stored part (§3.4), in memory: not for a caller who streams.
    completes = None if stream else action.completes
    sent = prepared
    if completes is not None:
        sent = _convert.with_request_headers(prepared, completes.headers)
    try:
        response = network(sent)
    except NETWORK_ERRORS as exc:
        if action.stale is not None and engine.stale_instead(plan, action.stale, exc):
            stale = _stale(engine, prepared, plan, action.stale, connection)
            if stale is not None:
                return stale
        raise
    if completes is not None:
        response.request = prepared  # the caller's request, as the caller made it
        joined = join(engine, plan, completes, response) if response.status_code == 206 else None
        rest = bool(completes.headers)  # asked for the rest: only the complete 200 will do
        if joined is not None and (not rest or joined[0].status == 200):
            served = response
            if rest:
                served = _convert.build_response(prepared, joined[0], joined[1], connection)
            entry = keep(engine, plan, joined, request_time, served)
            return _annotate(engine, served, plan, action.status, entry, False)
        if rest and response.status_code in (206, 416):  # not the rest of the part: whole
            response.close()
            engine.refetch(plan, "the rest the origin sent does not join the stored part")
            whole = replace(action, completes=None)
            return _forward(engine, prepared, plan, whole, stream, network, connection)
    return _handle_response(
        engine,
        prepared,
        plan,
        response,
        request_time,
        stream=stream,
        status=action.status,
        may_store=action.may_store,
        stale=action.stale,
        connection=connection,
    )


def _revalidate(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    action: Revalidate,
    stream: bool,
    network: Network,
    connection: Any,
) -> requests.Response:
    conditional = _convert.with_request_headers(prepared, action.conditional_headers)
    request_time = engine.clock()
    try:
        response = network(conditional)
    except NETWORK_ERRORS as exc:
        if engine.stale_instead(plan, action.entry, exc):
            stale = _stale(engine, prepared, plan, action.entry, connection)
            if stale is not None:
                return stale
        raise
    if response.status_code != 304:
        return _handle_response(
            engine,
            prepared,
            plan,
            response,
            request_time,
            stream=stream,
            status=CacheStatus.EXPIRED,
            stale=action.entry,
            may_store=action.may_store,
            connection=connection,
        )
    head = _convert.response_from_urllib3(response.raw, response.url or plan.request.url)
    outcome = engine.respond(plan, head, request_time, revalidated=action.entry)
    response.content  # noqa: B018 - a 304 has no body; reading it frees the connection
    response.close()  # for the next request, instead of closing it
    match outcome:
        case Freshen(entry=entry):
            engine.freshen(plan, entry)
        case Store() | DoNotStore():  # the 304 does not match what is stored
            engine.refetch(plan, outcome.reason)
            forward = Forward(outcome.reason, CacheStatus.EXPIRED, may_store=action.may_store)
            return _forward(engine, prepared, plan, forward, stream, network, connection)
        case _:
            assert_never(outcome)
    pair = engine.open_stored(plan, entry, preload=not stream)
    if pair is None:
        forward = Forward("stored body unavailable after 304", CacheStatus.MISS)
        plan = engine.replan(plan, forward)
        return _forward(engine, prepared, plan, forward, stream, network, connection)
    stored, body = pair  # normally the head just written; a newer pair if rewritten since
    served = _convert.build_response(prepared, stored.response, body, connection)
    _aged(served, stored, engine.clock())
    _report_damage(engine, plan, stored, served, body)
    served.sent_request = conditional  # type: ignore[attr-defined]  # what hc -v shows
    return _annotate(engine, served, plan, CacheStatus.REVALIDATED, stored, True, revalidated=True)


def _handle_response(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    response: requests.Response,
    request_time: float,
    *,
    stream: bool,
    status: CacheStatus,
    may_store: bool,
    stale: Entry | None,
    connection: Any,
) -> requests.Response:
    """Decide on a full response from the origin; store it as its body is read."""
    if stale is not None and engine.stale_instead(plan, stale, status=response.status_code):
        served = _stale(engine, prepared, plan, stale, connection)
        if served is not None:
            response.close()
            return served
    head = _convert.response_from_urllib3(response.raw, response.url or plan.request.url)
    outcome = engine.respond(plan, head, request_time, may_store=may_store)
    match outcome:
        case Store(entry=entry, heuristic_fields=fields):
            if fields:
                response.headers.update(fields)  # the heuristic's fields, on the miss too
        case DoNotStore(heuristic_fields=fields):
            if fields:
                response.headers.update(fields)  # and on what is not stored
            return _annotate(engine, response, plan, status, None, False)
        case Freshen():
            return _annotate(engine, response, plan, status, None, False)
        case _:
            assert_never(outcome)
    # requests reads a redirect's body itself (to free the connection): store it whole.
    if stream and not response._content_consumed:
        if engine.refused_by_filter(plan, response):
            return _annotate(engine, response, plan, status, None, False)
        writer = engine.open_writer(plan, entry)
        if writer is not None:
            response.raw = TeeRaw(
                response.raw, writer, engine.guard, lambda stored: engine.body_done(plan, stored)
            )
        return _annotate(engine, response, plan, status, entry, False)
    body = response.content  # raises, as plain requests would, on a truncated body
    if not _convert.decoded_completely(response.raw):
        engine.not_stored(plan, "not stored: its content coding was cut short", level=WARNING)
    elif not engine.refused_by_filter(plan, response):
        saved = engine.save(plan, entry, body)
        if saved is not None:
            entry = saved
    return _annotate(engine, response, plan, status, entry, False)


def _report_damage(
    engine: CacheEngine,
    plan: Plan,
    entry: Entry,
    response: requests.Response,
    body: object,
) -> None:
    """A streamed stored body found damaged at its end raises ``DamagedBodyError``
    to the caller, and the engine removes the entry (one warning)."""
    if not isinstance(body, bytes):
        response.raw = StoredRaw(
            response.raw,
            lambda damage: engine.discard_damaged(plan, entry, damage),
            _damaged_body,
        )


def _stale(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    entry: Entry,
    connection: Any,
) -> requests.Response | None:
    """The stale entry served in place of a failure (stale-if-error, RFC 5861 §4)."""
    pair = engine.open_stored(plan, entry, preload=True)
    if pair is None:
        return None
    stored, body = pair
    response = _convert.build_response(prepared, stored.response, body, connection)
    _aged(response, stored, engine.clock())
    return _annotate(engine, response, plan, CacheStatus.STALE, stored, True)


def _aged(response: requests.Response, entry: Entry, now: float) -> None:
    """A response served from storage carries its current age (RFC 9111 §4, §5.1)."""
    age = age_of(entry, now)
    response.headers["Age"] = age
    response.raw.headers["Age"] = age


def _annotate(
    engine: CacheEngine,
    response: requests.Response,
    plan: Plan,
    status: CacheStatus,
    entry: Entry | None,
    from_cache: bool,
    *,
    revalidated: bool = False,
) -> requests.Response:
    _convert.annotate(
        response,
        status=status,
        key=entry.key if entry is not None else plan.key,
        entry=entry,
        from_cache=from_cache,
        revalidated=revalidated,
        now=engine.clock(),
    )
    response.cache_trace = plan.trace  # type: ignore[attr-defined]
    return response


def bypassed(response: requests.Response) -> requests.Response:
    """Mark a response the cache never saw (the user's own ``send`` answered it)."""
    if not hasattr(response, "from_cache"):
        _convert.annotate(
            response,
            status=CacheStatus.BYPASS,
            key=None,
            entry=None,
            from_cache=False,
            now=0.0,
        )
        response.cache_trace = None  # type: ignore[attr-defined]
    return response
