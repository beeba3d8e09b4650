"""A fresh hit answered without ``requests``: the second half of the fast path.

``hc get URL`` served from the cache needs the request as requests would prepare
it (for the key, Vary and ``-v``), one lookup and the stored response; importing
``requests`` and urllib3 costs more than all of that. So for the commands it is
sure about, ``serve`` builds the prepared request as ``CachedSession`` would
(``Prepared``), looks it up with the library's own key, settings and controller,
and, for a fresh hit only, hands ``fetching``'s output code a response with the
attributes it reads of a ``requests.Response``. Output is produced by the same
functions as on the full path, so it is the same bytes.

Anything else returns None before any output and the full path runs: another
backend, a body or query items, ``--auth``, ``--verify``/``-k``/``--cert`` (both
part of the key), ``--continue``, ``--refresh``/``--force-refresh``/``--no-cache``, a URL
requests would rewrite, non-printable header values, a netrc file (requests may
add credentials from it), a compression module that changes requests' default
Accept-Encoding, a stale entry, a miss, a redirect, a body in several chunks, a
storage error. ``tests/cli/test_hit.py`` checks the prepared request and the key
against requests' and the output against the full path's.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from httpcache.caches.base import BaseCache
    from httpcache.models import Entry
    from httpcache.policy.actions import CacheStatus

    from .config import CacheOptions
    from .fetching import Fetch
    from .inputs import RequestInput


#: requests' default request fields (``requests.utils.default_headers``), in order;
#: ``CacheOptions.open_session`` sets the User-Agent.
ACCEPT_ENCODING = "gzip, deflate"
DEFAULT_HEADERS = (
    ("User-Agent", ""),
    ("Accept-Encoding", ACCEPT_ENCODING),
    ("Accept", "*/*"),
    ("Connection", "keep-alive"),
)
#: Modules whose presence makes urllib3 add ``br`` or ``zstd`` to Accept-Encoding
#: (``zstandard`` in older urllib3 2.x): any of them present, the fast path steps aside.
COMPRESSION_MODULES = (
    "brotlicffi",
    "brotli",
    "backports.zstd",
    "compression.zstd",
    "zstandard",
)
#: requests reads credentials from these (``requests.utils.get_netrc_auth``).
NETRC_FILES = ("~/.netrc", "~/_netrc")
#: Fields a stored body no longer has on the wire (``_convert.FRAMING_FIELDS``).
FRAMING_FIELDS = ("content-encoding", "content-length", "transfer-encoding")

# A URL that urllib3's parse_url and requests' requote_uri leave as it is (only an
# empty path becomes "/"): lower-case scheme and host, a port without leading zero,
# and path and query of characters neither of them changes; no %, no fragment, no
# user info, no dot segments (checked apart).
_PCHARS = r"A-Za-z0-9\-._~!$&'()*+,;=:@/"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_URL = re.compile(
    rf"(?P<origin>https?://{_LABEL}(?:\.{_LABEL})*(?::(?P<port>[1-9][0-9]{{0,4}}))?)"
    rf"(?P<path>/[{_PCHARS}]*)?(?P<query>\?[{_PCHARS}?]+)?\Z"
)
_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")


@dataclass(frozen=True)
class Prepared:
    """The parts of requests' ``PreparedRequest`` that hc reads (``output.request_head``)."""

    method: str
    url: str
    headers: dict[str, str]

    @property
    def path_url(self) -> str:
        """As ``PreparedRequest.path_url``: the path (``/`` if empty) and query."""
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def prepared_url(url: str) -> str | None:
    """The URL as requests prepares it, or None if it might change it otherwise."""
    match = _URL.match(url)
    if match is None:
        return None
    path = match["path"] or ""
    if any(segment in (".", "..") for segment in path.split("/")):
        return None  # urllib3 removes dot segments
    if match["port"] and int(match["port"]) > 65535:
        return None
    return match["origin"] + (path or "/") + (match["query"] or "")


def default_accept_encoding() -> str | None:
    """requests' default Accept-Encoding, or None when it may not be the plain one."""
    from importlib.util import find_spec

    for name in COMPRESSION_MODULES:
        try:
            if find_spec(name) is not None:
                return None
        except ModuleNotFoundError:  # its parent package is missing: not importable
            continue
        except Exception:  # anything odd: not sure
            return None
    return ACCEPT_ENCODING


def netrc_present() -> bool:
    """Whether requests would read a netrc file (and maybe add Authorization)."""
    netrc = os.environ.get("NETRC")
    locations = (netrc,) if netrc is not None else NETRC_FILES
    return any(os.path.exists(os.path.expanduser(path)) for path in locations)


def prepare(request: RequestInput, user_agent: str) -> Prepared | None:
    """The request as ``CachedSession.request`` would prepare it, or None if unsure.

    requests merges the session's fields with the caller's (``merge_setting``): a
    caller's name replaces the session's in place (its spelling wins), a new one is
    appended, and a name set to None is removed.
    """
    if request.has_body or request.params:
        return None
    url = prepared_url(request.url)
    if url is None or netrc_present():
        return None
    accept_encoding = default_accept_encoding()
    if accept_encoding is None:
        return None
    merged: dict[str, tuple[str, str | None]] = {}
    for name, value in DEFAULT_HEADERS:
        if name == "User-Agent":
            value = user_agent
        merged[name.lower()] = (name, value)
    for name, given in request.headers.items():
        if not _PRINTABLE.match(name) or (given is not None and not _PRINTABLE.match(given)):
            return None
        merged[name.lower()] = (name, given)
    headers = {name: value for name, value in merged.values() if value is not None}
    return Prepared(request.method, url, headers)


def served_head(entry: Entry, now: float) -> Any:
    """The stored head as the full path serves it (with its current ``Age``, RFC 9111
    §5.1, where the library's controller adds one)."""
    try:
        from httpcache.policy.controller import served_head as library_served_head
    except ImportError:  # a library whose served heads are the stored ones
        return entry.response
    return library_served_head(entry, now)


class _Raw:
    """What hc reads of ``response.raw``: the HTTP version and the header fields."""

    def __init__(self, version: int, headers: Any) -> None:
        self.version = version
        self.headers = headers


class StoredResponse:
    """A stored response with the attributes hc's output reads of ``requests.Response``
    and those the session adds (``_convert.build_response`` and ``annotate``)."""

    def __init__(
        self,
        request: Prepared,
        entry: Entry,
        body: bytes,
        status: CacheStatus,
        hide_fields: tuple[str, ...],
        now: float,
    ) -> None:
        head = served_head(entry, now)
        headers = head.headers.without(*hide_fields) if hide_fields else head.headers
        self.request = request
        self.status_code = head.status
        self.reason = head.reason
        self.headers = headers  # case-insensitive; items() joins repeated fields
        self.raw = _Raw(head.version, headers.without(*FRAMING_FIELDS))
        self.url = request.url or head.url
        self.from_cache = True
        self.cache_status = status
        self.cache_key = entry.key
        self.revalidated = False
        self.created_at = datetime.fromtimestamp(entry.created_at, UTC)
        self.expires = None if entry.expires is None else datetime.fromtimestamp(entry.expires, UTC)
        self.is_expired = entry.is_expired_at(now)
        self._body = body

    def iter_content(self, chunk_size: int = 1) -> Any:
        body = self._body
        for start in range(0, len(body), chunk_size):
            yield body[start : start + chunk_size]

    def close(self) -> None:
        self._body = b""


@dataclass(frozen=True)
class Lookup:
    """The fast path's request, its model and key (what the tests compare)."""

    prepared: Prepared
    model: Any  # httpcache.models.Request
    key: str
    settings: Any  # httpcache.policy.controller.Settings
    config: Any  # httpcache.config.CacheConfig
    options: Any  # httpcache.config.RequestOptions


def lookup_for(options: CacheOptions, fetch: Fetch) -> Lookup | None:
    """Request, key and settings as ``CachedSession`` would make them, or None."""
    from httpcache import __version__
    from httpcache.config import CacheConfig, RequestOptions
    from httpcache.keys import create_key
    from httpcache.models import Headers, Request
    from httpcache.policy.expiration import UNSET

    from .config import make_heuristic

    if fetch.refresh or fetch.force_refresh or fetch.no_cache or fetch.resume:
        return None
    if fetch.auth is not None or not fetch.tls_is_default:
        return None  # credentials and TLS settings are part of the key: the full path's
    prepared = prepare(fetch.request, f"hc/{__version__}")
    if prepared is None:
        return None
    # As CacheOptions.open_session configures the session, and fetching._send a request.
    session_options: dict[str, Any] = {"heuristic": make_heuristic(options.heuristic)}
    if options.expire_after is not None:
        session_options["expire_after"] = options.expire_after
    config = CacheConfig(**session_options)
    expire_after = UNSET if fetch.expire_after is None else fetch.expire_after
    model = Request(prepared.method, prepared.url, Headers(prepared.headers.items()), None)
    wanted = RequestOptions(expire_after, only_if_cached=fetch.offline)
    settings = config.settings_for(model, wanted)
    # The engine's key (CacheEngine.key_for) with requests' default TLS settings.
    key = create_key(model, ignored_parameters=config.ignored, match_headers=config.match_headers)
    return Lookup(prepared, model, key, settings, config, wanted)


def serve(options: CacheOptions, fetch: Fetch) -> int | None:
    """Deliver a fresh stored response and return the exit status, or None (no output
    yet) when the full path must answer."""
    if options.backend != "sqlite":
        return None
    try:
        fetch.check(options)
        options.check()
        found = lookup_for(options, fetch)
        if found is None:
            return None
        cache = options.open_cache()
    except Exception:  # the full path meets it again and reports it
        return None
    try:
        response = _fresh_hit(cache, found)
        if response is None:
            return None
        from . import fetching

        try:
            return fetching._deliver(response, fetch)
        finally:
            response.close()
    finally:
        cache.close()


def _fresh_hit(cache: BaseCache, found: Lookup) -> StoredResponse | None:
    """The stored response if the engine's plan is a fresh hit served whole from memory
    (one chunk; several are streamed by the full path), else None."""
    from httpcache.engine import CacheEngine

    engine = CacheEngine(cache, found.config)
    plan = engine.lookup(found.model, found.key, found.options)
    action = engine.served_alone(plan)
    if action is None:
        return None
    pair = engine.open_stored(plan, action.entry, preload=False, count=False)
    if pair is None:
        return None
    entry, stream = pair
    if not isinstance(stream, io.BytesIO):  # several chunks: streamed by the full path
        stream.close()
        return None
    engine.count_hit()
    return StoredResponse(
        found.prepared, entry, stream.getvalue(), action.status, action.hide_fields, engine.clock()
    )
