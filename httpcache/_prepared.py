"""Remembered preparations of plain requests, for ``CacheMixin``'s early hit.

``Session.prepare_request`` costs more than a whole hit. For plain inputs (strings
and numbers; no body, files, cookies or hooks of the request's own; no cookies in
the session's jar; no auth but a (user, password) pair) requests' own
``prepare_request`` is a pure function of the values in ``_signature``, which takes
every such input it reads, the netrc lookup included. ``CacheMixin`` uses the memo
only when ``prepare_request`` is requests' own (not overridden by a class or the
instance): an override may read anything (a base URL, a clock, a nonce).
"""

from __future__ import annotations

from typing import Any

import requests
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

from . import _convert
from .engine import CacheEngine
from .models import Request

#: Preparations remembered per session; forgotten all at once when full.
PREPARED_MEMO_SIZE = 1024


class PreparedMemo:
    """One session's remembered preparations, by the inputs that made them."""

    def __init__(self) -> None:
        self._prepared: dict[tuple[Any, ...], Prepared] = {}

    def find(
        self,
        session: requests.Session,
        method: str,
        url: Any,
        params: Any,
        headers: Any,
        auth: Any,
    ) -> Prepared | None:
        """The remembered preparation of a request with these inputs, made if new;
        None for inputs that are not plain (the caller prepares in full)."""
        jar = session.cookies
        if type(jar) is not RequestsCookieJar or jar._cookies or type(url) is not str:  # type: ignore[attr-defined]
            return None
        session_auth = session.auth
        netrc = None
        if session.trust_env and not auth and not session_auth:
            netrc = get_netrc_auth(url)  # as prepare_request does, each time
        try:
            signature = (
                method,
                url,
                _freeze(params or {}),
                _freeze(headers),
                _freeze_auth(auth),
                _freeze(session.headers),
                _freeze(session.params),
                _freeze_auth(session_auth),
                session.trust_env,
                netrc,
            )
            memo = self._prepared.get(signature)
        except (_NotPlain, TypeError, ValueError):
            return None
        if memo is None:
            request = requests.Request(
                method=method.upper(), url=url, headers=headers, params=params or {}, auth=auth
            )
            template = None
            if session.trust_env and not auth and not session_auth:
                template = _prepared_with(session, request, netrc)
            if template is None:
                template = session.prepare_request(request)
            memo = Prepared(template)
            if len(self._prepared) >= PREPARED_MEMO_SIZE:
                self._prepared.clear()
            self._prepared[signature] = memo
        return memo


def _prepared_with(
    session: requests.Session, request: requests.Request, netrc: Any
) -> requests.PreparedRequest | None:
    """``session.prepare_request(request)`` with the netrc credentials just looked up
    (it would look them up again: two file lookups per new request). requests' own
    ``prepare_request`` (the caller checked) runs on ``_SessionView``, where
    ``trust_env`` is False, with ``request.auth`` what its lookup would give. None
    if that ``prepare_request`` reads more of a session than the view has."""
    own, request.auth = request.auth, netrc
    try:
        return requests.Session.prepare_request(_SessionView(session), request)  # type: ignore[arg-type]
    except AttributeError:
        request.auth = own
        return None


class _SessionView:
    """The settings of a session that requests' ``prepare_request`` reads."""

    __slots__ = ("auth", "cookies", "headers", "hooks", "params", "trust_env")

    def __init__(self, session: requests.Session) -> None:
        self.auth = session.auth
        self.cookies = session.cookies
        self.headers = session.headers
        self.hooks = session.hooks
        self.params = session.params
        self.trust_env = False  # netrc is already looked up


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
        kind = type(item)
        if type(name) is not str:
            name = _scalar(name)
        if kind is str:  # what _scalar gives for a str, without the call
            frozen.append((name, item))
        elif kind is list or kind is tuple:
            frozen.append((name, ("seq", tuple(_scalar(v) for v in item))))
        else:
            frozen.append((name, _scalar(item)))
    return tag, tuple(frozen)


def _freeze_auth(auth: Any) -> Any:
    if auth is None:
        return None
    if type(auth) is tuple and len(auth) == 2:
        return "basic", _scalar(auth[0]), _scalar(auth[1])
    raise _NotPlain  # an auth object may add anything, a nonce or a hook


class Prepared:
    """A request prepared once by ``prepare_request``; copies of it stand for new ones."""

    __slots__ = ("_derived", "template")

    def __init__(self, template: requests.PreparedRequest) -> None:
        self.template = template
        self._derived: tuple[Any, str, Request, str] | None = None

    def prepare(self, session_hooks: dict[str, list[Any]]) -> requests.PreparedRequest:
        """A copy of the template with the session's hooks of now, as requests merges them."""
        prepared = self.template.copy()
        prepared.hooks = default_hooks()
        if any(session_hooks.values()):
            prepared.prepare_hooks(merge_hooks(default_hooks(), session_hooks))
        return prepared

    def model_and_key(self, engine: CacheEngine, tls: str) -> tuple[Request, str]:
        """The request model and its key under the engine's configuration of now."""
        config = engine.config
        derived = self._derived
        if derived is None or derived[0] is not config or derived[1] != tls:
            model = _convert.request_from_prepared(self.template)
            key = engine.key_for(model, tls, self.template)
            derived = self._derived = (config, tls, model, key)
        return derived[2], derived[3]
