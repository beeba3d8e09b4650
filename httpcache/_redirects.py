"""Redirect aliases: a URL that redirected is a hit for the final response.

When the caller sets the lifetime (``expire_after``, or ``cache_control=False``),
``CachedSession`` keeps each redirect it followed to a stored response, for as long
as that response is kept, even where its status alone would not be stored (a 302,
not in ``allowable_codes``). The next request for the first URL is then served the
stored redirect and follows it to the stored response, without the network.

Without a lifetime of the caller's, redirects are stored as RFC 9111 says (a 301 or
308 with freshness of its own, ...), and nothing is added here. The alias drops
``Vary``: which variant is served is the final response's matter.
"""

from __future__ import annotations

from dataclasses import replace

import requests

from . import _convert
from .config import current_request_options
from .engine import CacheEngine
from .keys import redact_request
from .models import Entry
from .policy.freshness import response_directives


def remember(
    engine: CacheEngine, history: list[requests.Response], final: requests.Response
) -> int:
    """Store the redirects of ``history`` that lead to the stored ``final``; how many."""
    config = engine.config
    if config.read_only or not history:
        return 0
    target = _stored(engine, getattr(final, "cache_key", None))
    if target is None:
        return 0
    saved = 0
    for hop in history:
        if getattr(hop, "from_cache", True) or not hop.is_redirect or hop.request is None:
            continue
        model = _convert.request_from_prepared(hop.request)
        settings = config.settings_for(model, current_request_options())
        head = _convert.response_from_urllib3(hop.raw, hop.url or model.url)
        if (
            not settings.caller_sets_lifetime
            or model.method not in settings.cacheable_methods
            or (settings.expiration is not None and settings.expiration.do_not_cache)
            or (settings.cache_control and response_directives(head).no_store)
        ):
            continue
        key = getattr(hop, "cache_key", None)
        if not key or _stored(engine, key) is not None:
            continue  # stored already, as what it is
        now = engine.clock()
        stored_request = redact_request(model, config.ignored)
        alias = Entry(
            key=key,
            primary_key=key,
            request=stored_request,
            response=replace(head, headers=head.headers.without("vary"), url=stored_request.url),
            request_time=now,
            response_time=now,
            created_at=now,
            expires=target.expires,
            stale_until=target.stale_until,
            expiry_from_caller=True,
        )
        if _save(engine, alias, hop.content or b""):
            saved += 1
    return saved


def _save(engine: CacheEngine, entry: Entry, body: bytes) -> bool:
    cache = engine.cache
    return engine.guard.call("store", lambda: cache.save(entry, body), None) is not None


def _stored(engine: CacheEngine, key: str | None) -> Entry | None:
    if not key:
        return None
    cache = engine.cache
    return engine.guard.call("read an entry", lambda: cache.read_entry(key), None)
