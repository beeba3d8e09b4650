"""``CacheControlAdapter``: the driver. The one place that does I/O for the cache.

For each request it asks the controller what to do (``policy.controller.decide``),
performs that (serve from storage, forward, revalidate, answer 504), then asks what
to do with the origin's response (``on_response``) and performs that too (store,
freshen, invalidate, serve stale). Storage failures never reach the caller: the
``StorageGuard`` logs them and the request goes to the network.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from . import _convert
from ._coalesce import Flights
from ._guard import StorageGuard
from ._tee import TeeRaw
from .caches.base import BaseCache
from .caches.memory import DictCache
from .config import CacheConfig, current_request_options
from .heuristics import BaseHeuristic
from .keys import create_key, normalize_url, redact_request
from .models import Entry, Request
from .policy import controller
from .policy.actions import (
    CacheStatus,
    DoNotStore,
    Forward,
    Freshen,
    GatewayTimeout,
    Invalidate,
    Revalidate,
    Store,
    UseStored,
)
from .policy.controller import Exchange, Settings

logger = logging.getLogger("httpcache")


@dataclass(frozen=True, slots=True)
class _Lookup:
    """A lookup already made for a prepared request (see ``stored_answer``)."""

    request: requests.PreparedRequest
    model: Request
    settings: Settings
    key: str
    action: Any
    landed: int  # ``_FLIGHTS.landed`` before the lookup


_last_lookup: contextvars.ContextVar[_Lookup | None] = contextvars.ContextVar(
    "httpcache_last_lookup", default=None
)

#: One registry per process: concurrent identical misses coalesce across sessions
#: that share a cache object.
_FLIGHTS = Flights()
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout)


class CacheControlAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that caches. Mount it on any prefix, or use ``CacheControl()``.

    ``cache`` is any ``httpcache.caches`` backend (default: a new ``DictCache``).
    The keyword options are those of ``CachedSession`` (see ``CacheConfig``);
    ``cacheable_methods`` is CacheControl's name for ``allowable_methods``.
    """

    def __init__(
        self,
        cache: BaseCache | None = None,
        cache_etags: bool = True,
        controller_class: Any = None,
        serializer: Any = None,
        heuristic: BaseHeuristic | None = None,
        cacheable_methods: Any = None,
        *args: Any,
        config: CacheConfig | None = None,
        clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cache: BaseCache = DictCache() if cache is None else cache
        if config is None:
            config = CacheConfig(
                heuristic=heuristic,
                cache_etags=cache_etags,
                allowable_methods=tuple(cacheable_methods or ("GET",)),
            )
        self.config = config
        self.clock = clock
        self.guard = StorageGuard(type(self.cache).__name__)
        self._background: set[threading.Thread] = set()
        self._configure_cache()

    def _configure_cache(self) -> None:
        from .keys import normalize_url

        params = self.config.ignored_params
        self.cache.url_normalizer = lambda url: normalize_url(url, params, redact=True)

    # ---- keys ----------------------------------------------------------------------

    def cache_key(self, prepared: requests.PreparedRequest, request: Request | None = None) -> str:
        config = self.config
        if config.key_fn is not None:
            return config.key_fn(
                prepared,
                ignored_parameters=config.ignored,
                match_headers=config.match_headers,
            )
        return create_key(
            request or _convert.request_from_prepared(prepared),
            ignored_parameters=config.ignored,
            match_headers=config.match_headers,
            body_methods=config.body_methods,
        )

    # ---- the driver ------------------------------------------------------------------

    def stored_answer(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        model: Request | None = None,
        key: str | None = None,
    ) -> requests.Response | None:
        """The response if it can be served from storage alone (a fresh hit), else None.

        Used by ``CachedSession`` to answer hits before requests' network-only work;
        the lookup is remembered so that ``send`` of the same request does not repeat it.
        ``model`` and ``key``, when given, are those of an identical request prepared
        before under the same configuration (the session remembers them).
        """
        if model is None:
            model = _convert.request_from_prepared(request)
        settings = self.config.settings_for(model, current_request_options())
        if key is None:
            key = self.cache_key(request, model)
        landed = _FLIGHTS.landed
        action = self._decide(model, key, settings)
        if (
            isinstance(action, UseStored)
            and not action.revalidate_in_background  # needs send()'s network settings
            and not _is_redirect(action.entry.response.status)  # requests follows those
        ):
            response = self._serve(request, action, key, settings, {}, preload=not stream)
            if response is not None:
                return response
            action = Forward("stored body unavailable", CacheStatus.MISS)
        _last_lookup.set(_Lookup(request, model, settings, key, action, landed))
        return None

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        remembered = _last_lookup.get()
        if remembered is not None and remembered.request is request:
            _last_lookup.set(None)
            model, settings, key = remembered.model, remembered.settings, remembered.key
            action, landed = remembered.action, remembered.landed
        else:
            model = _convert.request_from_prepared(request)
            settings = self.config.settings_for(model, current_request_options())
            key = self.cache_key(request, model)
            landed = _FLIGHTS.landed
            action = self._decide(model, key, settings)
        land: Callable[[], None] | None = None
        if _coalescible(action):
            # Concurrent identical misses: one leader fetches, the others wait for it.
            flight, leader = _FLIGHTS.join_or_lead((id(self.cache), key))
            if not leader:
                flight.wait(self.config.coalesce_timeout)
            # Look again if the entry may have been stored since the first lookup: by
            # the leader waited for, or by a fetch that landed before this one led.
            if not leader or _FLIGHTS.landed != landed:
                action = self._decide(model, key, settings)
            if leader and _coalescible(action):
                land = flight.land
            elif leader:
                flight.land()
        return self._perform(request, model, key, settings, action, stream, kwargs, land)

    def _perform(
        self,
        request: requests.PreparedRequest,
        model: Request,
        key: str,
        settings: Settings,
        action: Any,
        stream: bool,
        kwargs: dict[str, Any],
        land: Callable[[], None] | None,
    ) -> requests.Response:
        if isinstance(action, UseStored):
            served = self._serve(request, action, key, settings, kwargs, preload=not stream)
            if served is not None:
                return served
            action = Forward("stored body unavailable", CacheStatus.MISS)
        if isinstance(action, GatewayTimeout):
            logger.debug("%s %s: 504, %s", model.method, self._loggable(model.url), action.reason)
            response = _convert.gateway_timeout(request, self)
            return _convert.annotate(
                response,
                status=CacheStatus.OFFLINE_MISS,
                key=key,
                entry=None,
                from_cache=False,
                now=self.clock(),
            )
        if isinstance(action, Revalidate):
            return self._revalidate(request, model, key, settings, action, stream, kwargs)
        return self._forward(request, model, key, settings, action, stream, kwargs, land)

    def _decide(self, model: Request, key: str, settings: Settings) -> Any:
        if settings.expiration is not None and settings.expiration.do_not_cache:
            entries: list[Entry] = []
        elif model.method not in settings.cacheable_methods:
            entries = []
        else:
            entries = self.guard.call("look up", lambda: self.cache.find(key), [])
        action = controller.decide(model, entries, self.clock(), settings)
        logger.debug(
            "%s %s: %s (%s)",
            model.method,
            self._loggable(model.url),
            type(action).__name__,
            action.reason,
        )
        return action

    # ---- serving from storage -----------------------------------------------------

    def _serve(
        self,
        request: requests.PreparedRequest,
        action: UseStored,
        key: str,
        settings: Settings,
        kwargs: dict[str, Any],
        preload: bool = False,
    ) -> requests.Response | None:
        """The stored response, or None if it vanished since the lookup.

        Head and body are read as one pair: if the entry was rewritten since the
        lookup, the newer pair is served whole, never an old head with a new body.
        With ``preload`` (not streaming) the body is read into the response now.
        """
        pair = self.guard.call(
            "read an entry", lambda: self.cache.open_entry(action.entry.key), None
        )
        if pair is None:
            return None
        entry, body = pair
        if preload:
            body = self.guard.call("read a body", lambda: _read_all(body), None)
            if body is None:
                return None
        self.guard.call("count a hit", lambda: self.cache.record_lookup(hit=True), None, minor=True)
        response = _convert.build_response(request, entry.response, body, self, action.hide_fields)
        if action.revalidate_in_background:
            self._start_background_revalidation(request, entry, key, settings, kwargs)
        return _convert.annotate(
            response,
            status=action.status,
            key=entry.key,
            entry=entry,
            from_cache=True,
            now=self.clock(),
        )

    # ---- going to the origin ------------------------------------------------------------

    def _forward(
        self,
        request: requests.PreparedRequest,
        model: Request,
        key: str,
        settings: Settings,
        action: Forward,
        stream: bool,
        kwargs: dict[str, Any],
        land: Callable[[], None] | None,
    ) -> requests.Response:
        land = land or _nothing
        if action.status is not CacheStatus.BYPASS:
            self.guard.call(
                "count a miss", lambda: self.cache.record_lookup(hit=False), None, minor=True
            )
        request_time = self.clock()
        try:
            response = super().send(request, stream=True, **kwargs)
        except NETWORK_ERRORS as exc:
            land()
            if action.stale is not None:
                stale = self._stale_instead(request, model, key, settings, action.stale, exc)
                if stale is not None:
                    return stale
            raise
        except BaseException:
            land()
            raise
        return self._handle_response(
            request,
            model,
            key,
            settings,
            response,
            request_time,
            stream=stream,
            status=action.status,
            may_store=action.may_store,
            stale=action.stale,
            land=land,
        )

    def _revalidate(
        self,
        request: requests.PreparedRequest,
        model: Request,
        key: str,
        settings: Settings,
        action: Revalidate,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        conditional = _convert.with_request_headers(request, action.conditional_headers)
        request_time = self.clock()
        try:
            response = super().send(conditional, stream=True, **kwargs)
        except NETWORK_ERRORS as exc:
            stale = self._stale_instead(request, model, key, settings, action.entry, exc)
            if stale is not None:
                return stale
            raise
        if response.status_code != 304:
            return self._handle_response(
                request,
                model,
                key,
                settings,
                response,
                request_time,
                stream=stream,
                status=CacheStatus.EXPIRED,
                stale=action.entry,
                may_store=action.may_store,
            )
        decision = self._on_response(model, key, settings, response, request_time, action.entry)
        freshen = decision.first(Freshen)
        response.content  # noqa: B018 - a 304 has no body; reading it frees the connection
        response.close()  # for the next request, instead of closing it
        if not isinstance(freshen, Freshen):
            # The 304 does not match what is stored: fetch the full response.
            reason = getattr(decision.first(DoNotStore), "reason", "304 unusable")
            logger.debug(
                "%s %s: %s; fetching in full", model.method, self._loggable(model.url), reason
            )
            forward = Forward(reason, CacheStatus.EXPIRED, may_store=action.may_store)
            return self._forward(request, model, key, settings, forward, stream, kwargs, None)
        entry = freshen.entry
        self.guard.call("update a head", lambda: self.cache.update_head(entry), None)
        logger.debug("%s %s: %s", model.method, self._loggable(model.url), freshen.reason)
        pair = self.guard.call("read an entry", lambda: self.cache.open_entry(entry.key), None)
        if pair is None:
            forward = Forward("stored body unavailable after 304", CacheStatus.MISS)
            return self._forward(request, model, key, settings, forward, stream, kwargs, None)
        entry, body = pair  # normally the head just written; a newer pair if rewritten since
        served = _convert.build_response(request, entry.response, body, self)
        return _convert.annotate(
            served,
            status=CacheStatus.REVALIDATED,
            key=entry.key,
            entry=entry,
            from_cache=True,
            revalidated=True,
            now=self.clock(),
        )

    def _on_response(
        self,
        model: Request,
        key: str,
        settings: Settings,
        response: requests.Response,
        request_time: float,
        revalidated: Entry | None = None,
        may_store: bool = True,
    ) -> Any:
        exchange = Exchange(
            request=model,
            response=_convert.response_from_urllib3(response.raw, response.url or model.url),
            request_time=request_time,
            response_time=self.clock(),
        )
        decision = controller.on_response(
            exchange,
            primary_key=key,
            stored_request=redact_request(model, self.config.ignored),
            settings=settings,
            may_store=may_store,
            revalidated=revalidated,
        )
        invalidate = decision.first(Invalidate)
        if isinstance(invalidate, Invalidate):
            count = self.guard.call(
                "invalidate", lambda: self.cache.delete(urls=invalidate.urls), 0
            )
            logger.debug(
                "%s: invalidated %d entries (%s)",
                self._loggable(model.url),
                count,
                invalidate.reason,
            )
        return decision

    def _handle_response(
        self,
        request: requests.PreparedRequest,
        model: Request,
        key: str,
        settings: Settings,
        response: requests.Response,
        request_time: float,
        *,
        stream: bool,
        status: CacheStatus,
        may_store: bool = True,
        stale: Entry | None = None,
        land: Callable[[], None] = lambda: None,
    ) -> requests.Response:
        """Decide on a full response from the origin; store it as its body is read."""
        if stale is not None and response.status_code in controller.ERROR_STATUSES:
            served = self._stale_instead(request, model, key, settings, stale, response)
            if served is not None:
                land()
                return served
        decision = self._on_response(model, key, settings, response, request_time, None, may_store)
        store = decision.first(Store)
        if not isinstance(store, Store):
            land()
            reason = getattr(decision.first(DoNotStore), "reason", "")
            logger.debug("%s %s: not stored (%s)", model.method, self._loggable(model.url), reason)
            return _convert.annotate(
                response, status=status, key=key, entry=None, from_cache=False, now=self.clock()
            )
        filter_fn = self.config.filter_fn
        if stream:
            if filter_fn is not None and not filter_fn(response):
                land()
                logger.debug(
                    "%s %s: not stored (filter_fn)", model.method, self._loggable(model.url)
                )
                return _convert.annotate(
                    response, status=status, key=key, entry=None, from_cache=False, now=self.clock()
                )
            writer = self.guard.call(
                "start a write", lambda: self.cache.open_writer(store.entry), None
            )
            if writer is None:
                land()
            else:
                response.raw = TeeRaw(response.raw, writer, self.guard, lambda _stored: land())
            logger.debug(
                "%s %s: storing as read (%s)", model.method, self._loggable(model.url), store.reason
            )
            return _convert.annotate(
                response,
                status=status,
                key=store.entry.key,
                entry=store.entry,
                from_cache=False,
                now=self.clock(),
            )
        try:
            body = response.content  # raises, as plain requests would, on a truncated body
        except BaseException:
            land()
            raise
        entry = store.entry
        if not _convert.decoded_completely(response.raw):
            logger.warning(
                "%s %s: not stored: its content coding was cut short",
                model.method,
                self._loggable(model.url),
            )
        elif filter_fn is None or filter_fn(response):
            saved = self.guard.call("store", lambda: self.cache.save(store.entry, body), None)
            if saved is not None:
                entry = saved
                logger.debug(
                    "%s %s: stored (%s)", model.method, self._loggable(model.url), store.reason
                )
        land()
        return _convert.annotate(
            response, status=status, key=entry.key, entry=entry, from_cache=False, now=self.clock()
        )

    def _stale_instead(
        self,
        request: requests.PreparedRequest,
        model: Request,
        key: str,
        settings: Settings,
        entry: Entry,
        failure: object,
    ) -> requests.Response | None:
        reason = controller.stale_if_error_allows(entry, model, self.clock(), settings)
        if reason is None:
            return None
        if isinstance(failure, requests.Response):
            failure.close()
        logger.debug(
            "%s %s: serving stale (%s; %s)",
            model.method,
            self._loggable(model.url),
            reason,
            failure,
        )
        return self._serve(request, UseStored(entry, CacheStatus.STALE, reason), key, settings, {})

    # ---- stale-while-revalidate --------------------------------------------------------

    def _start_background_revalidation(
        self,
        request: requests.PreparedRequest,
        entry: Entry,
        key: str,
        settings: Settings,
        kwargs: dict[str, Any],
    ) -> None:
        flight, leader = _FLIGHTS.join_or_lead(("revalidate", id(self.cache), entry.key))
        if not leader:
            return
        model = _convert.request_from_prepared(request)
        conditional = controller.conditional_headers(entry, settings)
        action: Any = (
            Revalidate(entry, conditional, "stale-while-revalidate")
            if conditional
            else Forward("stale-while-revalidate", CacheStatus.EXPIRED)
        )

        def run() -> None:
            try:
                if isinstance(action, Revalidate):
                    self._revalidate(request.copy(), model, key, settings, action, False, kwargs)
                else:
                    self._forward(request.copy(), model, key, settings, action, False, kwargs, None)
            except Exception as exc:  # a background refresh has no caller to tell
                logger.warning(
                    "background revalidation of %s failed: %s", self._loggable(model.url), exc
                )
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

    def _loggable(self, url: str) -> _RedactedURL:
        """The URL as logs show it: ignored parameters and user info redacted, as stored."""
        return _RedactedURL(url, self.config.ignored)

    def close(self) -> None:
        super().close()


class _RedactedURL:
    """Formats a URL with its secrets redacted, only when a log line is really written."""

    __slots__ = ("ignored", "url")

    def __init__(self, url: str, ignored: tuple[str, ...]) -> None:
        self.url, self.ignored = url, ignored

    def __str__(self) -> str:
        return normalize_url(self.url, self.ignored, redact=True)


def _nothing() -> None:
    return None


def _read_all(body: Any) -> bytes:
    """A stored body read whole (the stream closed), for a response that is not streamed."""
    if isinstance(body, bytes):
        return body
    try:
        return body.read()
    finally:
        body.close()


def _is_redirect(status: int) -> bool:
    return status in (301, 302, 303, 307, 308)


def _coalescible(action: object) -> bool:
    """A plain miss that may be stored: worth making concurrent callers wait for."""
    return isinstance(action, Forward) and action.status is CacheStatus.MISS and action.may_store
