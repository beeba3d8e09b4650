"""``CacheControlAdapter``: CacheControl's face of the cache, a caching ``HTTPAdapter``.

Mount it on any prefix, or let ``CacheControl(session)`` mount it. It is glue: the
engine decides and stores (``engine.py``), ``_glue.cached_send`` performs a plan
with ``HTTPAdapter.send`` as the network. ``CachedSession`` does not use it: its
cache acts in ``Session.send``, in front of whatever adapter is mounted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from . import _convert, _glue
from ._views import EngineRequestKeys
from .caches.base import BaseCache
from .caches.memory import DictCache
from .config import CacheConfig, current_request_options
from .engine import CacheEngine
from .heuristics import HeuristicLike


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
        heuristic: HeuristicLike | None = None,
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
        # CacheControl keeps permanent redirects, so that they are followed from the cache.
        config = config.with_changes(permanent_redirects=True)
        self.engine = CacheEngine(self.cache, config, clock)
        self.cache.request_keys = EngineRequestKeys(self.engine)

    @property  # type: ignore[override]  # HTTPAdapter's own ``config`` is an unused dict
    def config(self) -> CacheConfig:
        return self.engine.config

    @config.setter
    def config(self, value: CacheConfig | dict[str, Any]) -> None:
        # HTTPAdapter.__init__ sets ``config = {}``, a field requests never reads.
        if isinstance(value, CacheConfig):
            self.engine.configure(value)

    @property
    def clock(self) -> Callable[[], float]:
        return self.engine.clock

    @property
    def heuristic(self) -> Any:
        """The heuristic given (CacheControl's attribute), or None."""
        return self.engine.config.heuristic

    @property
    def cacheable_methods(self) -> tuple[str, ...]:
        """The methods whose responses are kept (CacheControl's attribute)."""
        return tuple(self.engine.config.allowable_methods)

    def cache_key(self, prepared: requests.PreparedRequest, **send_kwargs: Any) -> str:
        """The primary key this adapter stores ``prepared`` under."""
        tls = _glue.tls_of(send_kwargs.get("verify", True), send_kwargs.get("cert"))
        return self.engine.key_for(_convert.request_from_prepared(prepared), tls, prepared)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        tls = _glue.tls_of(kwargs.get("verify", True), kwargs.get("cert"))
        plan = _glue.plan_for(self.engine, request, tls, current_request_options())

        sent: list[requests.PreparedRequest] = []

        def network(prepared: requests.PreparedRequest) -> requests.Response:
            sent.append(prepared)
            return HTTPAdapter.send(self, prepared, stream=True, **kwargs)  # the transport

        response = _glue.cached_send(
            self.engine, request, plan, stream=stream, network=network, connection=self
        )
        if getattr(response, "revalidated", False) and sent:
            # As CacheControl's: a response revalidated with a 304 carries the request
            # sent, with the conditional fields the cache added (RFC 9111 §4.3.1).
            response.request = sent[-1]
        return response

    def close(self) -> None:
        """Close the connection pools, and the cache (``session.close()`` calls this),
        once a stale-while-revalidate refresh still running has stored its answer."""
        self.engine.wait_for_background(self.engine.config.coalesce_timeout)
        super().close()
        self.cache.close()

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for stale-while-revalidate refreshes in progress (useful in tests)."""
        self.engine.wait_for_background(timeout)
