"""The caller's options: validated once, then resolved into ``Settings`` per request.

``CacheConfig`` holds the session-wide options of the contract; ``RequestOptions``
the per-request ones (``expire_after=``, ``only_if_cached=``, ``refresh=``,
``force_refresh=``), which the session hands to the driver through a context
variable so that they reach it across ``requests``' redirect handling too.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigurationError
from .heuristics import HeuristicLike, as_heuristic
from .keys import CREDENTIAL_HEADERS, DEFAULT_IGNORED_PARAMETERS, split_ignored
from .models import Request
from .policy.controller import Settings
from .policy.expiration import UNSET, ExpirationTime, UrlExpirations, resolve

DEFAULT_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class RequestOptions:
    """Per-request options (the contract's ``expire_after=`` and friends)."""

    expire_after: ExpirationTime = UNSET
    only_if_cached: bool = False
    refresh: bool = False
    force_refresh: bool = False

    def __post_init__(self) -> None:
        expire_after = self.expire_after
        if type(expire_after) is str and expire_after.strip().lower() == "default":
            # requests-cache's word for "not set here": the session's own settings apply.
            object.__setattr__(self, "expire_after", UNSET)


_request_options: contextvars.ContextVar[RequestOptions | None] = contextvars.ContextVar(
    "httpcache_request_options", default=None
)


class request_options:  # a class, not @contextmanager: cheaper per request
    """These options for the block: what ``send`` (and a redirect's) finds."""

    __slots__ = ("_options", "_token")

    def __init__(self, options: RequestOptions) -> None:
        self._options = options

    def __enter__(self) -> None:
        self._token = _request_options.set(self._options)

    def __exit__(self, *exc: object) -> None:
        _request_options.reset(self._token)


def current_request_options() -> RequestOptions | None:
    return _request_options.get()


def _allowance(value: bool | float | int | str | None, name: str) -> float:
    """stale_if_error / stale_while_revalidate: True (any), False/None (none), seconds."""
    if value is True:
        return math.inf
    if value is None or value is False:
        return 0.0
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    problem = f"{name} must be a bool, seconds or a duration, not {value!r}"
    if isinstance(value, int | float):  # a negative number
        raise ConfigurationError(problem)
    try:
        expiration = resolve(value)  # durations such as "10m" are welcome too
    except ConfigurationError as exc:
        raise ConfigurationError(f"{problem} ({exc})") from None
    if expiration is None or expiration.lifetime is None:
        raise ConfigurationError(problem)
    return expiration.lifetime


def check_match_headers(value: object, name: str = "match_headers") -> None:
    """``match_headers`` is True, False or header names (a lone string is refused: it
    would be read as one name per character)."""
    if isinstance(value, bool):
        return
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Collection)
        or not all(isinstance(item, str) for item in value)
    ):
        raise ConfigurationError(
            f"{name} must be True, False or a list of header names, not {value!r}"
        )


def check_allowance(value: object, name: str) -> None:
    """``stale_if_error`` / ``stale_while_revalidate`` as ``_allowance`` reads them."""
    _allowance(value, name)  # type: ignore[arg-type]  # it refuses what it cannot read


@dataclass(frozen=True)
class CacheConfig:
    """Session-wide options, validated at construction."""

    expire_after: ExpirationTime = UNSET
    urls_expire_after: Mapping[str, ExpirationTime] | None = None
    cache_control: bool = True
    allowable_methods: Collection[str] = DEFAULT_METHODS
    allowable_codes: Collection[int] | None = None
    ignored_parameters: Iterable[str] | None = DEFAULT_IGNORED_PARAMETERS
    match_headers: bool | Collection[str] = False
    stale_if_error: bool | float | int | str | None = False
    stale_while_revalidate: bool | float | int | str | None = False
    heuristic: HeuristicLike | None = None
    cache_etags: bool = True
    filter_fn: Callable[[Any], bool] | None = None
    key_fn: Callable[..., str] | None = None
    shared: bool = False
    #: Keep 301 and 308 responses without freshness of their own (CacheControl's face).
    permanent_redirects: bool = False
    #: Revalidate every stored response before using it, fresh or not.
    always_revalidate: bool = False
    #: Serve what is stored, but write nothing: no new entry, no freshening, no removal.
    read_only: bool = False
    #: ``session.close()`` closes the cache too.
    autoclose: bool = True
    #: How long a concurrent identical request waits for the one already in flight.
    coalesce_timeout: float = 30.0
    _resolved: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        heuristic = as_heuristic(self.heuristic)  # refuses what has no update_headers
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"{name} must be True or False, not {getattr(self, name)!r}"
                )
        check_match_headers(self.match_headers)
        ignored = tuple(self.ignored_parameters or ())
        headers, params = split_ignored(ignored)
        resolved = self._resolved
        resolved["session_expiration"] = resolve(self.expire_after)
        resolved["url_expirations"] = UrlExpirations.build(self.urls_expire_after)
        resolved["ignored"] = ignored
        resolved["ignored_headers"] = headers
        resolved["ignored_params"] = params
        codes = None if self.allowable_codes is None else frozenset(self.allowable_codes)
        base = Settings(
            cache_control=self.cache_control,
            expiration=None,
            shared=self.shared,
            cacheable_methods=frozenset(m.upper() for m in self.allowable_methods),
            allowable_codes=codes,
            heuristic=heuristic,
            cache_etags=self.cache_etags,
            stale_if_error=_allowance(self.stale_if_error, "stale_if_error"),
            stale_while_revalidate=_allowance(
                self.stale_while_revalidate, "stale_while_revalidate"
            ),
            sensitive_headers=frozenset(headers) | frozenset(CREDENTIAL_HEADERS),
            permanent_redirects=self.permanent_redirects,
        )
        resolved["base_settings"] = base

    def with_changes(self, **changes: Any) -> CacheConfig:
        return replace(self, **changes)

    @property
    def ignored(self) -> tuple[str, ...]:
        ignored: tuple[str, ...] = self._resolved["ignored"]
        return ignored

    @property
    def ignored_params(self) -> frozenset[str]:
        params: frozenset[str] = self._resolved["ignored_params"]
        return params

    def settings_for(self, request: Request, options: RequestOptions | None) -> Settings:
        """Settings for one request: the caller's expiration by precedence, and flags."""
        base: Settings = self._resolved["base_settings"]
        if self.always_revalidate:
            base = replace(base, refresh=True)
        if request.method not in base.cacheable_methods and _overridden_to(request, base):
            # A method override naming a cached method (``X-HTTP-Method-Override: GET``
            # on a POST): cached as that method is, keyed by the request as sent.
            base = replace(base, cacheable_methods=base.cacheable_methods | {request.method})
        expiration = None
        if options is not None and options.expire_after is not UNSET:
            expiration = resolve(options.expire_after)
        if expiration is None:
            expiration = self._resolved["url_expirations"].for_url(request.url)
        if expiration is None:
            expiration = self._resolved["session_expiration"]
        if options is None:
            return replace(base, expiration=expiration) if expiration else base
        if (
            expiration is None
            and options.only_if_cached is False
            and options.refresh is False
            and options.force_refresh is False
        ):
            return base  # what the replace below would copy, field for field
        return replace(
            base,
            expiration=expiration,
            only_if_cached=options.only_if_cached,
            refresh=options.refresh or base.refresh,
            force_refresh=options.force_refresh,
        )


#: The on/off options added for requests-cache's users, checked to be booleans.
_FLAGS = ("always_revalidate", "read_only", "autoclose")
#: Request header fields that name the method a request stands for (a POST that is
#: really a GET, for servers or proxies that limit methods).
METHOD_OVERRIDE_HEADERS = ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")


def _overridden_to(request: Request, settings: Settings) -> bool:
    """Whether a method override field names a method the cache keeps."""
    headers = request.headers
    return any(
        headers.get(name, "").strip().upper() in settings.cacheable_methods
        for name in METHOD_OVERRIDE_HEADERS
        if name in headers
    )
