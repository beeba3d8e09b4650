"""requests glue for a stored part (RFC 9111 §3.4): what the origin sends, joined to it.

``_glue`` sends a plan's ``Forward`` with ``completes`` set: for a plain GET, as a
request for the rest of the stored part; for a range, as the caller made it. A 206
in answer that carries the part's strong validator is joined to the part here: the
union is stored (the complete 200 in place of the part, or a larger part), and the
caller gets the complete 200 or the origin's own 206. ``join`` returns None for
anything else, which ``_glue`` handles as it handles any response.
"""

from __future__ import annotations

import requests

from . import _convert
from .engine import CacheEngine, Plan
from .models import Entry, Response
from .policy import partials
from .policy.actions import Store
from .policy.partials import Completion


def join(
    engine: CacheEngine, plan: Plan, completion: Completion, response: requests.Response
) -> tuple[Response, bytes, Entry] | None:
    """The stored part and the origin's 206 as one (head, body), with the part as it
    was read; None when they do not join. Reads the 206's body only if they may."""
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
    plan.trace.add("response", "Note", "the stored part and the origin's 206 joined (§3.4)")
    return made[0], made[1], stored


def keep(
    engine: CacheEngine,
    plan: Plan,
    joined: tuple[Response, bytes, Entry],
    request_time: float,
    served: requests.Response,
) -> Entry | None:
    """Store what was joined, in place of the part; the stored entry, or None."""
    head, body, part = joined
    outcome = engine.respond(plan, head, request_time)
    if not isinstance(outcome, Store):
        return None
    if served.status_code == head.status:
        served.headers.update(outcome.heuristic_fields)
    if engine.refused_by_filter(plan, served):
        return None
    saved = engine.save(plan, outcome.entry, body)
    if saved is not None and saved.key != part.key:
        engine.drop(plan, part.key, "the stored part is in the complete response now")
    return saved
