"""requests glue for a stored part (RFC 9111 §3.4): the rest fetched, the two joined.

``_glue`` sends the plan's ``Forward`` with ``completes`` set as a request for the rest
of the stored part only; a 206 to it comes here. When it joins the part (the same
strong validator, together every byte) the caller gets the complete 200, which is
stored in place of the part; otherwise ``joined_response`` returns None and the
whole response is fetched as the caller asked for it.
"""

from __future__ import annotations

from typing import Any

import requests

from . import _convert
from .engine import CacheEngine, Plan
from .models import Entry
from .policy import partials
from .policy.actions import Store
from .policy.partials import Completion


def joined_response(
    engine: CacheEngine,
    prepared: requests.PreparedRequest,
    plan: Plan,
    completion: Completion,
    response: requests.Response,
    request_time: float,
    connection: Any,
) -> tuple[requests.Response, Entry | None] | None:
    """The complete response made of the stored part and the origin's 206 for the
    rest, stored when it may be (with the entry it is stored as); None when the two
    do not join."""
    head = _convert.response_from_urllib3(response.raw, response.url or plan.request.url)
    if not partials.joinable(completion.part.response, head):
        return None
    rest = response.content
    if not _convert.decoded_completely(response.raw):
        return None
    pair = engine.open_stored(plan, completion.part, preload=True, count=False)
    if pair is None:
        return None
    stored, stored_body = pair
    if not isinstance(stored_body, bytes) or not partials.joinable(stored.response, head):
        return None
    made = partials.joined(stored.response, stored_body, head, rest)
    if made is None:
        return None
    complete, body = made
    plan.trace.add("response", "Note", "the stored part and the rest joined (RFC 9111 §3.4)")
    outcome = engine.respond(plan, complete, request_time)
    served = _convert.build_response(prepared, complete, body, connection)
    if not isinstance(outcome, Store):
        return served, None
    served.headers.update(outcome.heuristic_fields)
    filter_fn = engine.config.filter_fn
    if filter_fn is not None and not filter_fn(served):
        engine.not_stored(plan, "filter_fn said no")
        return served, None
    saved = engine.save(plan, outcome.entry, body)
    if saved is not None and saved.key != stored.key:
        engine.drop(plan, stored.key, "the stored part is in the complete response now")
    return served, saved
