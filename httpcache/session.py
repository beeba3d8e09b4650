"""The two public faces of the cache: requests-cache's and CacheControl's.

``CachedSession``/``CacheMixin`` build a ``CacheConfig`` from keyword options and
mount one ``CacheControlAdapter`` on ``http://`` and ``https://``; ``CacheControl()``
mounts the same adapter on a session you already have. ``install_cache`` and its
companions patch ``requests`` so that ``requests.get`` and friends cache too.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks, dispatch_hook
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

from . import _convert
from .adapter import CacheControlAdapter
from .caches import BaseCache, make_backend
from .config import CacheConfig, RequestOptions, current_request_options, request_options
from .heuristics import BaseHeuristic
from .policy.expiration import DO_NOT_CACHE, UNSET, ExpirationTime

#: Options of ``CacheConfig`` a session accepts as keywords (the contract's list).
CONFIG_OPTIONS = frozenset(CacheConfig.__dataclass_fields__) - {"_resolved"}
#: Keywords passed on to the backend.
BACKEND_OPTIONS = frozenset({"max_size", "use_cache_dir", "connection", "url", "namespace"})

_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "httpcache_disabled", default=False
)


class CacheMixin:
    """Adds caching to any ``requests.Session`` subclass: ``class S(CacheMixin, Session)``."""

    def __init__(
        self,
        cache_name: str = "http_cache",
        backend: str | BaseCache = "sqlite",
        **kwargs: Any,
    ) -> None:
        config_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in CONFIG_OPTIONS}
        backend_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in BACKEND_OPTIONS}
        self.cache: BaseCache = make_backend(backend, cache_name, **backend_kwargs)
        config = CacheConfig(**config_kwargs)
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self._adapter = CacheControlAdapter(self.cache, config=config)
        self._prepared: dict[tuple[Any, ...], _Prepared] = {}
        self.mount("http://", self._adapter)  # type: ignore[attr-defined]
        self.mount("https://", self._adapter)  # type: ignore[attr-defined]

    # ---- options -------------------------------------------------------------------

    @property
    def settings(self) -> _LiveSettings:
        """The session's options; assigning to one (``settings.expire_after = 60``) applies it."""
        return _LiveSettings(self._adapter)

    @property
    def expire_after(self) -> ExpirationTime:
        return self._adapter.config.expire_after

    @expire_after.setter
    def expire_after(self, value: ExpirationTime) -> None:
        self.settings.expire_after = value

    # ---- requests ------------------------------------------------------------------

    def request(  # type: ignore[override]
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

        A fresh stored response is served before requests looks up proxies and
        certificates in the environment (work only a network request needs); every
        input that can change the answer (URL, params, headers, auth, cookies) has
        been merged into the prepared request by then.
        """
        options = _effective(RequestOptions(expire_after, only_if_cached, refresh, force_refresh))
        plain = hooks is None and not data and json is None and not files and not cookies
        memo = self._prepare_plain(method, url, params, headers, auth) if plain else None
        if memo is not None:
            prepared = memo.prepare(self.hooks)  # type: ignore[attr-defined]
        else:
            prepared = self.prepare_request(  # type: ignore[attr-defined]
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
        with request_options(options):
            if self.get_adapter(prepared.url) is self._adapter:  # type: ignore[attr-defined]
                stream_flag = self.stream if stream is None else stream  # type: ignore[attr-defined]
                model, key = memo.lookup(self._adapter) if memo is not None else (None, None)
                hit = self._adapter.stored_answer(prepared, stream_flag, model, key)
                if hit is not None:
                    hook_kwargs = {
                        "timeout": timeout,
                        "stream": stream_flag,
                        "verify": verify,
                        "cert": cert,
                        "proxies": proxies,
                    }
                    hit = dispatch_hook("response", prepared.hooks, hit, **hook_kwargs)
                    if not stream_flag:
                        hit.content  # noqa: B018 - read the body, as Session.send does
                    return hit
            settings = self.merge_environment_settings(  # type: ignore[attr-defined]
                prepared.url, proxies or {}, stream, verify, cert
            )
            return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects, **settings)

    def _prepare_plain(
        self, method: str, url: Any, params: Any, headers: Any, auth: Any
    ) -> _Prepared | None:
        """The remembered preparation of a request with these inputs, made if new.

        Only for plain inputs (strings and numbers; no body, files, cookies or
        hooks of the request's own; no cookies in the session's jar; no auth but a
        (user, password) pair), whose preparation is a pure function of the values
        in the signature below, which takes every such input of ``prepare_request``,
        the netrc lookup included. Anything else returns None: prepared in full.
        """
        jar = self.cookies  # type: ignore[attr-defined]
        if type(jar) is not RequestsCookieJar or jar._cookies or type(url) is not str:
            return None
        session_auth = self.auth  # type: ignore[attr-defined]
        netrc = None
        if self.trust_env and not auth and not session_auth:  # type: ignore[attr-defined]
            netrc = get_netrc_auth(url)  # as prepare_request does, each time
        try:
            signature = (
                method,
                url,
                _freeze(params or {}),
                _freeze(headers),
                _freeze_auth(auth),
                _freeze(self.headers),  # type: ignore[attr-defined]
                _freeze(self.params),  # type: ignore[attr-defined]
                _freeze_auth(session_auth),
                self.trust_env,  # type: ignore[attr-defined]
                netrc,
            )
            memo = self._prepared.get(signature)
        except (_NotPlain, TypeError, ValueError):
            return None
        if memo is None:
            template = self.prepare_request(  # type: ignore[attr-defined]
                requests.Request(
                    method=method.upper(), url=url, headers=headers, params=params or {}, auth=auth
                )
            )
            memo = _Prepared(template)
            if len(self._prepared) >= PREPARED_MEMO_SIZE:
                self._prepared.clear()
            self._prepared[signature] = memo
        return memo

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        *,
        expire_after: ExpirationTime = UNSET,
        only_if_cached: bool = False,
        refresh: bool = False,
        force_refresh: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        options = RequestOptions(expire_after, only_if_cached, refresh, force_refresh)
        inherited = current_request_options()
        if inherited is not None and options == RequestOptions():
            options = inherited  # called by request() or for a redirect: keep its options
        with request_options(_effective(options)):
            return super().send(request, **kwargs)  # type: ignore[misc]

    @contextmanager
    def cache_disabled(self) -> Iterator[None]:
        """Neither read nor write the cache inside this block (this thread or task)."""
        token = _disabled.set(True)
        try:
            yield
        finally:
            _disabled.reset(token)

    # ---- the cache -------------------------------------------------------------------

    def remove_expired_responses(self) -> int:
        """requests-cache's name for ``session.cache.remove_expired()``."""
        return self.cache.remove_expired()

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for stale-while-revalidate refreshes started by this session."""
        self._adapter.wait_for_background(timeout)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(cache={self.cache!r}, config={self._adapter.config!r})>"


#: Preparations remembered per session (see ``_prepare_plain``); forgotten all at once.
PREPARED_MEMO_SIZE = 1024


class _NotPlain(Exception):
    """An input the fast preparation does not handle: prepare the request in full."""


_TAGGED = frozenset({int, float, bool, bytes, type(None)})


def _scalar(value: Any) -> Any:
    """A hashable stand-in that tells apart values that compare equal (1, 1.0, True)."""
    kind = type(value)
    if kind is str:
        return value
    if kind in _TAGGED:
        return (kind.__name__, value)
    raise _NotPlain


def _freeze(value: Any) -> Any:
    """Headers or params as a hashable value that keeps their order, types and case."""
    if value is None:
        return None
    kind = type(value)
    if kind is dict or kind is CaseInsensitiveDict:
        tag, items = "map", value.items()
    elif kind is list or kind is tuple:
        tag, items = "seq", value
    else:
        raise _NotPlain
    frozen = []
    for name, item in items:
        if type(item) is list or type(item) is tuple:
            frozen.append((_scalar(name), ("seq", tuple(_scalar(v) for v in item))))
        else:
            frozen.append((_scalar(name), _scalar(item)))
    return tag, tuple(frozen)


def _freeze_auth(auth: Any) -> Any:
    if auth is None:
        return None
    if type(auth) is tuple and len(auth) == 2:
        return "basic", _scalar(auth[0]), _scalar(auth[1])
    raise _NotPlain  # an auth object may add anything, a nonce or a hook


class _Prepared:
    """A request prepared once by ``prepare_request``; copies of it stand for new ones."""

    __slots__ = ("_derived", "template")

    def __init__(self, template: requests.PreparedRequest) -> None:
        self.template = template
        self._derived: tuple[Any, Any, Any] | None = None

    def prepare(self, session_hooks: dict[str, list[Any]]) -> requests.PreparedRequest:
        """A copy of the template with the session's hooks of now, as requests merges them."""
        prepared = self.template.copy()
        prepared.hooks = default_hooks()
        if any(session_hooks.values()):
            prepared.prepare_hooks(merge_hooks(default_hooks(), session_hooks))
        return prepared

    def lookup(self, adapter: CacheControlAdapter) -> tuple[Any, str | None]:
        """The request model and cache key under the adapter's current configuration."""
        config = adapter.config
        derived = self._derived
        if derived is None or derived[0] is not config:
            model = _convert.request_from_prepared(self.template)
            key = None if config.key_fn is not None else adapter.cache_key(self.template, model)
            derived = self._derived = (config, model, key)
        return derived[1], derived[2]


def _effective(options: RequestOptions) -> RequestOptions:
    if _disabled.get():
        return RequestOptions(expire_after=DO_NOT_CACHE)
    return options


class _LiveSettings:
    """Reads and writes a session's ``CacheConfig`` attribute by attribute."""

    def __init__(self, adapter: CacheControlAdapter) -> None:
        object.__setattr__(self, "_adapter", adapter)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter.config, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in CONFIG_OPTIONS:
            raise AttributeError(f"unknown cache option {name!r}")
        adapter = self._adapter
        adapter.config = adapter.config.with_changes(**{name: value})
        adapter._configure_cache()

    def __repr__(self) -> str:
        return repr(self._adapter.config)


class CachedSession(CacheMixin, requests.Session):
    """A ``requests.Session`` that caches.

    ``CachedSession(cache_name="http_cache", backend="sqlite", **options)``; see the
    README for the options. ``backend`` is a name (``memory``, ``sqlite``,
    ``filesystem``, ``separate-body``, ``redis``) or a cache instance.
    """


def CacheControl(
    sess: requests.Session,
    cache: BaseCache | None = None,
    heuristic: BaseHeuristic | None = None,
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
