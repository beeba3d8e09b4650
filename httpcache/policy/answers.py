"""What the cache answers from storage, as pure functions of an entry and ``now``:
the head it serves (with ``Age``, RFC 9111 §4 and §5.1), and the caller's own
validation request (§4.3.2) with the 304 that answers it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from ..models import Entry, Headers, Request, Response
from .directives import DELTA_SECONDS_MAX
from .freshness import current_age, parse_http_date


def age_of(entry: Entry, now: float) -> str:
    """The ``Age`` a response served from ``entry`` carries: its current age in whole
    seconds, replacing any stored one (RFC 9111 §4, §5.1)."""
    return str(int(min(current_age(entry, now), DELTA_SECONDS_MAX)))


def served_head(entry: Entry, now: float) -> Response:
    """The stored head as served: with its ``Age`` (``age_of``)."""
    headers = entry.response.headers.updated([("Age", age_of(entry, now))])
    return replace(entry.response, headers=headers)


#: What a 304 carries of the stored response (RFC 9110 §15.4.5), and its Age.
NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "last-modified", "vary"}
)


def not_modified_head(entry: Entry, now: float) -> Response:
    """The 304 that answers a caller's matching conditional from ``entry`` (§4.3.2)."""
    served = served_head(entry, now)
    kept = [
        (name, value)
        for name, value in served.headers.fields()
        if name.lower() in NOT_MODIFIED_FIELDS or name.lower() == "age"
    ]
    return replace(served, status=304, reason="Not Modified", headers=Headers(kept))


def caller_condition_holds(request: Request, entry: Entry) -> bool:
    """Whether the caller's If-None-Match (weak comparison) or, without it, its
    If-Modified-Since says its copy is current (RFC 9111 §4.3.2, RFC 9110 §13.2.2)."""
    headers = request.headers
    if "if-none-match" in headers:
        return if_none_match_fails(headers.get_all("if-none-match"), entry.response.headers)
    if request.method.upper() not in ("GET", "HEAD"):
        return False  # RFC 9110 §13.1.3
    since = parse_http_date(headers.get("if-modified-since"))
    if since is None:
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    stored = entry.response.headers
    modified = parse_http_date(stored.get("last-modified"))
    if modified is None:
        modified = parse_http_date(stored.get("date"))
    if modified is None:
        modified = entry.response_time
    return modified <= since


_ENTITY_TAG = re.compile(r'(?:[Ww][/\\]?)?"[^"]*"|[^,\s]+')


def if_none_match_fails(lines: Sequence[str], stored: Headers) -> bool:
    """RFC 9110 §13.1.2: whether a stored response's ETag is among the listed ones
    (``*`` lists any), by weak comparison (§8.8.3.2): the opaque tags are equal, weak
    or not. A tag sent or stored without its quotes is read as if it had them."""
    etag = stored.get("etag")
    if etag is None:
        return False
    members = [m for line in lines for m in _ENTITY_TAG.findall(line)]
    if "*" in members:
        return True
    mine = etag.strip()
    return any(m == mine or _opaque_tag(m) == _opaque_tag(mine) for m in members)


def _opaque_tag(tag: str) -> str:
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        tag = tag[1:-1]
    return tag
