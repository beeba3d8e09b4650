"""The two public faces of the cache: requests-cache's and CacheControl's.

``CachedSession``/``CacheMixin`` cache in ``Session.send``: in front of whatever
transport adapter is mounted (the user's retrying adapter, a mock), which does the
network I/O. ``CacheControl()`` mounts a ``CacheControlAdapter`` on a session you
already have. Both drive one ``CacheEngine`` through ``_glue``. ``install_cache``
and its companions patch ``requests`` so that ``requests.get`` and friends cache too.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.hooks import default_hooks, dispatch_hook

from . import _glue, _redirects
from ._options import ALIASES, BACKEND_OPTIONS, CONFIG_OPTIONS, split_session_options
from ._prepared import PreparedMemo
from ._views import EngineRequestKeys
from .adapter import CacheControlAdapter
from .caches import BaseCache, make_backend
from .config import CacheConfig, RequestOptions, current_request_options, request_options
from .engine import CacheEngine, Plan
from .heuristics import HeuristicLike
from .policy.expiration import DO_NOT_CACHE, UNSET, ExpirationTime

__all__ = ["BACKEND_OPTIONS", "CONFIG_OPTIONS", "CacheControl", "CacheMixin", "CachedSession"]

_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "httpcache_disabled", default=False
)
#: ``request()``'s plan for the prepared request it is about to ``send``: the same
#: object, or the plan is not used (see ``CacheMixin.send``).
_handoff: contextvars.ContextVar[tuple[requests.PreparedRequest, str, Plan] | None] = (
    contextvars.ContextVar("httpcache_handoff", default=None)
)

#: requests' own methods that the early hit in ``CacheMixin.request`` stands in for.
#: It may run only while these are what would run: not overridden by another class
#: or the instance, not patched (requests-mock patches ``Session.send``).
_SKIPPED = ("request", "send", "prepare_request", "merge_environment_settings")
_NO_OPTIONS = RequestOptions()
_ORIGINALS = {name: vars(requests.Session)[name] for name in _SKIPPED}


class CacheMixin:
    """Adds caching to any ``requests.Session`` subclass: ``class S(CacheMixin, Session)``."""

    def __init__(
        self,
        cache_name: str = "http_cache",
        backend: str | BaseCache | type[BaseCache] | None = "sqlite",
        **kwargs: Any,
    ) -> None:
        options = split_session_options(cache_name, backend, kwargs)
        self.cache: BaseCache = make_backend(backend, options.cache_name, **options.backend)
        self.engine = CacheEngine(self.cache, CacheConfig(**options.config))
        self.cache.request_keys = EngineRequestKeys(self.engine)
        self._memo = PreparedMemo()
        super().__init__(**options.rest)

    @classmethod
    def wrap(cls, original_session: requests.Session, **kwargs: Any) -> Any:
        """A cached session that carries on ``original_session``'s settings (headers,
        auth, cookies, adapters, hooks, ...); ``kwargs`` are this class's options."""
        session: Any = cls(**kwargs)
        for name in (
            "adapters",
            "auth",
            "cert",
            "cookies",
            "headers",
            "hooks",
            "max_redirects",
            "params",
            "proxies",
            "stream",
            "trust_env",
            "verify",
        ):
            setattr(session, name, getattr(original_session, name))
        return session

    # ---- options -------------------------------------------------------------------

    @property
    def settings(self) -> _LiveSettings:
        """The session's options; assigning to one (``settings.expire_after = 60``) applies it."""
        return _LiveSettings(self.engine)

    @property
    def expire_after(self) -> ExpirationTime:
        return self.engine.config.expire_after

    @expire_after.setter
    def expire_after(self, value: ExpirationTime) -> None:
        self.settings.expire_after = value

    # ---- requests ------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: dict[str, str] | None = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
        *,
        expire_after: ExpirationTime = UNSET,
        only_if_cached: bool = False,
        refresh: bool = False,
        force_refresh: bool = False,
    ) -> requests.Response:
        """``requests.Session.request``, plus the per-request cache options.

        When nothing requests would run could change the answer (``_may_answer_early``),
        a fresh stored response is served before requests looks up proxies and
        certificates in the environment (work only a network request needs); every
        other request goes through requests' own ``request`` and the cache acts in
        ``send``.
        """
        options = _effective(RequestOptions(expire_after, only_if_cached, refresh, force_refresh))
        session: Any = self
        if not self._may_answer_early():
            with request_options(options):
                response = super().request(  # type: ignore[misc]
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    cookies=cookies,
                    files=files,
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=allow_redirects,
                    proxies=proxies,
                    hooks=hooks,
                    stream=stream,
                    verify=verify,
                    cert=cert,
                    json=json,
                )
            return _glue.bypassed(response)  # answered by a replaced send: not by the cache
        plain = hooks is None and not data and json is None and not files and not cookies
        memo = self._memo.find(session, method, url, params, headers, auth) if plain else None
        if memo is not None:
            prepared = memo.prepare(session.hooks)
        else:
            prepared = session.prepare_request(
                requests.Request(
                    method=method.upper(),
                    url=url,
                    headers=headers,
                    files=files,
                    data=data or {},
                    json=json,
                    params=params or {},
                    auth=auth,
                    cookies=cookies,
                    hooks=hooks,
                )
            )
        stream_flag = session.stream if stream is None else stream
        tls = _glue.tls_of(self._verify_for(verify), cert if cert is not None else session.cert)
        with request_options(options):
            if memo is not None:
                model, key = memo.model_and_key(self.engine, tls)
                plan = self.engine.lookup(model, key, options)
            else:
                plan = _glue.plan_for(self.engine, prepared, tls, options)
            hit = _glue.stored_answer(
                self.engine, prepared, plan, stream=stream_flag, connection=None
            )
            if hit is not None:
                hook_kwargs = {
                    "timeout": timeout,
                    "stream": stream_flag,
                    "verify": verify,
                    "cert": cert,
                    "proxies": proxies,
                }
                answered: requests.Response = dispatch_hook(
                    "response", prepared.hooks, hit, **hook_kwargs
                )
                return answered
            token = _handoff.set((prepared, tls, plan))
            try:
                settings = session.merge_environment_settings(
                    prepared.url, proxies or {}, stream, verify, cert
                )
                return session.send(  # type: ignore[no-any-return]
                    prepared, timeout=timeout, allow_redirects=allow_redirects, **settings
                )
            finally:
                _handoff.reset(token)

    def _may_answer_early(self) -> bool:
        """Whether the early hit skips nothing that could change the answer: requests'
        own ``request``, ``send``, ``prepare_request`` and ``merge_environment_settings``
        are what would run besides this mixin's (see ``_SKIPPED``)."""
        definers = _definers(type(self))
        if definers is None:
            return False
        instance = self.__dict__
        for name in _SKIPPED:
            if name in instance:
                return False
        return all(vars(owner).get(name) is _ORIGINALS[name] for owner, name in definers)

    def _verify_for(self, verify: Any) -> Any:
        """``verify`` as ``merge_environment_settings`` will resolve it (the key needs it
        before that runs): a CA bundle from the environment wins when trusted."""
        session: Any = self
        if session.trust_env and (verify is True or verify is None):
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            )
        return session.verify if verify is None else verify

    def send(
        self,
        request: requests.PreparedRequest,
        *,
        expire_after: ExpirationTime = UNSET,
        only_if_cached: bool = False,
        refresh: bool = False,
        force_refresh: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """``Session.send`` with the cache in front of the transport adapter.

        A stored answer goes through what ``Session.send`` does after its adapter
        answers: the response hooks, redirects (each hop looked up in turn), reading
        the body. A request to the origin is sent by the rest of ``Session.send``
        (other classes' overrides, the mounted adapter) without redirects, so each
        hop is stored as what it is.
        """
        options = RequestOptions(expire_after, only_if_cached, refresh, force_refresh)
        inherited = current_request_options()
        if inherited is not None and options == _NO_OPTIONS:
            options = inherited  # called by request() or for a redirect: keep its options
        options = _effective(options)
        session: Any = self
        allow_redirects = kwargs.pop("allow_redirects", True)
        kwargs.setdefault("stream", session.stream)
        kwargs.setdefault("verify", session.verify)
        kwargs.setdefault("cert", session.cert)
        stream = bool(kwargs["stream"])
        tls = _glue.tls_of(kwargs["verify"], kwargs["cert"])
        handed = _handoff.get()
        if handed is not None and handed[0] is request and handed[1] == tls:
            _handoff.set(None)
            plan = handed[2]
        else:
            plan = _glue.plan_for(self.engine, request, tls, options)
        send = super().send  # type: ignore[misc]

        def network(prepared: requests.PreparedRequest) -> requests.Response:
            quiet = prepared.copy()
            quiet.hooks = default_hooks()  # dispatched once, on the response returned
            response: requests.Response = send(
                quiet, **{**kwargs, "stream": True, "allow_redirects": False}
            )
            response.request = prepared
            return response

        with request_options(options):
            response = _glue.cached_send(
                self.engine,
                request,
                plan,
                stream=stream,
                network=network,
                connection=session.get_adapter(request.url),
            )
            response = dispatch_hook("response", request.hooks, response, **kwargs)
            if allow_redirects:
                history = list(session.resolve_redirects(response, request, **kwargs))
                if history:
                    history.insert(0, response)
                    response = history.pop()
                    response.history = history
                    _redirects.remember(self.engine, history, response)
            else:
                response._next = next(
                    session.resolve_redirects(response, request, yield_requests=True, **kwargs),
                    None,
                )
            if not stream:
                response.content  # noqa: B018 - read the body, as Session.send does
            return response

    @contextmanager
    def cache_disabled(self) -> Iterator[None]:
        """Neither read nor write the cache inside this block (this thread or task)."""
        token = _disabled.set(True)
        try:
            yield
        finally:
            _disabled.reset(token)

    # ---- the cache -------------------------------------------------------------------

    def remove_expired_responses(self, expire_after: ExpirationTime = UNSET) -> int:
        """requests-cache's name for ``session.cache.remove_expired()``; with
        ``expire_after``, what is left is then given that lifetime from now."""
        return self.cache.remove_expired_responses(expire_after)

    def close(self) -> None:
        """Close the transport adapters, and the cache unless ``autoclose=False``.

        A stale-while-revalidate refresh still running is waited for first (at most
        ``coalesce_timeout``): it stores into the cache being closed.
        """
        self.engine.wait_for_background(self.engine.config.coalesce_timeout)
        super().close()  # type: ignore[misc]
        if self.engine.config.autoclose:
            self.cache.close()

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for stale-while-revalidate refreshes started by this session."""
        self.engine.wait_for_background(timeout)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(cache={self.cache!r}, config={self.engine.config!r})>"


_DEFINERS: dict[type, tuple[tuple[type, str], ...] | None] = {}


def _definers(cls: type) -> tuple[tuple[type, str], ...] | None:
    """The classes whose ``_SKIPPED`` methods run besides ``CacheMixin``'s, if each is
    ``requests.Session`` (checked for patches at each call); None if another class
    overrides one of them (then the early hit never runs for ``cls``)."""
    try:
        return _DEFINERS[cls]
    except KeyError:
        pass
    mro = cls.__mro__
    found: list[tuple[type, str]] | None = []
    for name in _SKIPPED:
        owners = [klass for klass in mro if name in vars(klass)]
        if name in ("request", "send"):
            if not owners or owners[0] is not CacheMixin:
                found = None
                break
            owners = owners[1:]
        if not owners or owners[0] is not requests.Session:
            found = None
            break
        found.append((owners[0], name))  # type: ignore[union-attr]
    result = None if found is None else tuple(found)
    _DEFINERS[cls] = result
    return result


def _effective(options: RequestOptions) -> RequestOptions:
    if _disabled.get():
        return RequestOptions(expire_after=DO_NOT_CACHE)
    return options


class _LiveSettings:
    """Reads and writes a session's ``CacheConfig`` attribute by attribute."""

    def __init__(self, engine: CacheEngine) -> None:
        object.__setattr__(self, "_engine", engine)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine.config, ALIASES.get(name, name))

    def __setattr__(self, name: str, value: Any) -> None:
        name = ALIASES.get(name, name)
        if name not in CONFIG_OPTIONS:
            raise AttributeError(f"unknown cache option {name!r}")
        engine = self._engine
        engine.configure(engine.config.with_changes(**{name: value}))

    def __repr__(self) -> str:
        return repr(self._engine.config)


class CachedSession(CacheMixin, requests.Session):  # type: ignore[misc]  # adds keywords
    """A ``requests.Session`` that caches.

    ``CachedSession(cache_name="http_cache", backend="sqlite", **options)``; see the
    README for the options. ``backend`` is a name (``memory``, ``sqlite``,
    ``filesystem``, ``separate-body``, ``redis``) or a cache instance.
    """


def CacheControl(
    sess: requests.Session,
    cache: BaseCache | None = None,
    heuristic: HeuristicLike | None = None,
    cache_etags: bool = True,
    cacheable_methods: Any = None,
    controller_class: Any = None,
    serializer: Any = None,
    adapter_class: type[CacheControlAdapter] | None = None,
    **options: Any,
) -> requests.Session:
    """Mount a caching adapter on ``http://`` and ``https://`` of ``sess``; return it."""
    adapter_class = adapter_class or CacheControlAdapter
    config = CacheConfig(
        heuristic=heuristic,
        cache_etags=cache_etags,
        allowable_methods=tuple(cacheable_methods or ("GET",)),
        **options,
    )
    adapter = adapter_class(cache, config=config)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    return sess
