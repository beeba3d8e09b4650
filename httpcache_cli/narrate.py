"""The cache's decisions in plain words, with the RFC sections that make them.

The decisions themselves come from the library's engine: the trace of a real
request (``response.cache_trace``), or of a lookup alone (``hc explain --offline``),
each step with its reason and sections. This module only words them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .output import human_duration


@dataclass
class Step:
    """One decision: ``phase`` is lookup, response or note; ``decision`` the library's
    action name (UseStored, Forward, Revalidate, GatewayTimeout, Store, DoNotStore,
    Freshen, Invalidate, ServeStale, Refetch) or Warning/Log."""

    phase: str
    decision: str
    reason: str
    status: str = ""
    text: str = ""
    rfc: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "decision": self.decision,
            "reason": self.reason,
            "text": self.text,
            "rfc": self.rfc,
        }


# ---- the library's trace -> steps ---------------------------------------------------------


def steps_from_trace(trace: Iterable[Any] | None) -> list[Step]:
    """The engine's trace (``response.cache_trace`` or ``plan.trace``) -> steps.

    A note that is not a decision (``Note``) becomes a ``Log`` step, shown with -v.
    """
    steps: list[Step] = []
    for traced in trace or ():
        decision = "Log" if traced.decision == "Note" else traced.decision
        steps.append(
            Step(traced.phase, decision, traced.reason, status=traced.status, rfc=list(traced.rfc))
        )
    return _without_repeats(steps)


def _without_repeats(steps: list[Step]) -> list[Step]:
    """Drop a step equal to the one before (a miss is looked up again after coalescing)."""
    kept: list[Step] = []
    for step in steps:
        if kept and (kept[-1].phase, kept[-1].decision, kept[-1].reason) == (
            step.phase,
            step.decision,
            step.reason,
        ):
            continue
        kept.append(step)
    return kept


# ---- wording -----------------------------------------------------------------------------


@dataclass
class Context:
    """What the wording may refer to besides the steps."""

    offline: bool = False
    expire_after: str | None = None  # the caller's, request or global, if any
    expire_after_flag: str = "--expire-after"
    origin_headers: Any = None  # the response's fields as the server sent them
    stored_headers: Any = None  # the fields as stored (a heuristic may have added Expires)
    heuristic: str | None = None


_SECTION = re.compile(r"(RFC \d+ )?§\s?\d+(?:\.\d+)*")


def word(steps: list[Step], context: Context) -> list[Step]:
    """Fill each step's ``text`` and ``rfc``; return the steps."""
    for step in steps:
        text, refs = _describe(step, context)
        step.text = text
        step.rfc = [*step.rfc, *(ref for ref in refs if ref not in step.rfc)]
    return steps


#: The library's option names in its reasons, in the words of someone using hc (who
#: sets hc's flags, never these names).
PLAIN_WORDS = (
    (re.compile(r"is not in allowable_codes"), "is not one hc stores (RFC 9110 §15.1)"),
    (re.compile(r"is not a cached method"), "is not a method hc caches"),
    (re.compile(r"expire_after is DO_NOT_CACHE"), "--expire-after says not to store it"),
    (re.compile(r"\bonly_if_cached\b"), "--offline (only-if-cached)"),
    (re.compile(r"\bforce_refresh\b"), "--force-refresh"),
    (re.compile(r"\bexpire_after\b"), "--expire-after"),
    (re.compile(r"\bstale_if_error\b"), "stale-if-error"),
    (re.compile(r"\bstale_while_revalidate\b"), "stale-while-revalidate"),
    (re.compile(r"\bfilter_fn\b"), "the response filter"),
)


def plain_reason(reason: str) -> str:
    """A library reason with its option names put as hc's user knows them."""
    for pattern, words in PLAIN_WORDS:
        reason = pattern.sub(words, reason)
    return reason


def _describe(step: Step, ctx: Context) -> tuple[str, list[str]]:
    low = step.reason.lower()  # the library's words, matched below
    reason = plain_reason(step.reason)
    would = ctx.offline
    match step.decision:
        case "UseStored" if "stale" in low:
            verb = "would be served" if would else "was served"
            return (
                f"A stale stored response {verb}, as allowed here: {reason}.",
                _refs(reason, ["RFC 9111 §4.2.4", "RFC 5861 §3"]),
            )
        case "UseStored":
            verb = "hc get would serve it" if would else "It was served"
            return (
                f"The stored response is fresh ({reason.removeprefix('fresh: ')}). {verb} "
                "from the cache "
                "without contacting the server.",
                _refs(reason, ["RFC 9111 §4.2", "RFC 9111 §4.2.3"]),
            )
        case "Forward":
            return _forward(reason, low, would)
        case "Revalidate":
            verb = "hc get would ask" if would else "hc asked"
            return (
                f"The stored response may not be used as it is ({reason}). {verb} the "
                "server whether it is still valid, with a conditional request "
                "(If-None-Match / If-Modified-Since from its validators).",
                _refs(reason, ["RFC 9111 §4.3.1"]),
            )
        case "GatewayTimeout":
            return (
                f"Only the cache may answer (only-if-cached), and {reason.split(', ', 1)[-1]}: "
                "the answer is 504 Gateway Timeout.",
                _refs(reason, ["RFC 9111 §5.2.1.7"]),
            )
        case "Store":
            return _store(reason, ctx)
        case "DoNotStore":
            return (f"The response was not stored: {reason}.", _refs(reason, ["RFC 9111 §3"]))
        case "Freshen":
            return (
                "The server answered 304 Not Modified: the stored response is still valid; "
                "its headers were updated from the 304 and it was served from the cache.",
                _refs(reason, ["RFC 9111 §4.3.3", "RFC 9111 §4.3.4"]),
            )
        case "Refetch":
            return (
                f"The 304 could not be used ({reason}), so the response was fetched in full.",
                _refs(reason, ["RFC 9111 §4.3.4"]),
            )
        case "Invalidate":
            return (
                f"An unsafe method changes the resource, so stored responses for it were "
                f"removed ({reason}).",
                _refs(reason, ["RFC 9111 §4.4"]),
            )
        case "ServeStale":
            return (
                f"The server failed, and a stale stored response was served instead ({reason}).",
                _refs(reason, ["RFC 5861 §4", "RFC 9111 §4.2.4"]),
            )
        case "Warning":
            return (f"Warning: {reason}", [])
    return (reason, [])


def _forward(reason: str, low: str, would: bool) -> tuple[str, list[str]]:
    went = (
        "hc get would send the request to the server" if would else "the request went to the server"
    )
    if "no stored variant" in low:
        return (
            "Responses are stored for this URL, but none for these request headers (Vary), "
            f"so {went}.",
            _refs(reason, ["RFC 9111 §4.1"]),
        )
    if "no stored response" in low:
        return (f"Nothing is stored for this request, so {went}.", _refs(reason, ["RFC 9111 §4"]))
    if "no validator" in low:
        return (
            f"The stored response is stale ({reason}) and has neither ETag nor Last-Modified "
            f"to revalidate with, so {went} for a full response.",
            _refs(reason, ["RFC 9111 §4.2", "RFC 9111 §4.3.1"]),
        )
    if "force_refresh" in low:
        return (f"--force-refresh: the cache was not read; {went}.", _refs(reason, ["RFC 9111 §4"]))
    if "do_not_cache" in low:
        return (
            f"--no-cache: the cache was neither read nor written; {went}.",
            _refs(reason, []),
        )
    if "not a cached method" in low:
        return (
            f"The cache was bypassed: {reason} (hc caches GET and HEAD); {went}.",
            _refs(reason, ["RFC 9111 §2"]),
        )
    if "own" in low and "if-" in low:
        return (
            f"The cache was bypassed: {reason}, so the server answers that conditional "
            f"request itself; {went}.",
            _refs(reason, ["RFC 9111 §4.3.2"]),
        )
    if "request has" in low:
        return (
            f"The cache was bypassed: {reason} (ranges and preconditions are passed "
            f"through); {went}.",
            _refs(reason, ["RFC 9111 §3.3", "RFC 9111 §4.3.2"]),
        )
    return (f"{reason}; {went}.", _refs(reason, ["RFC 9111 §4"]))


def _store(reason: str, ctx: Context) -> tuple[str, list[str]]:
    refs = ["RFC 9111 §3"]
    sentences = [f"The response was stored: RFC 9111 §3 allows it ({reason})."]
    source, source_refs = lifetime_source(ctx)
    if source:
        sentences.append(source)
        refs += source_refs
    headers = ctx.stored_headers or ctx.origin_headers
    if headers is not None:
        validators = [
            f"{name} {headers.get(name)}" for name in ("ETag", "Last-Modified") if headers.get(name)
        ]
        if validators:
            sentences.append(
                f"It has a validator ({'; '.join(validators)}): once stale, hc revalidates it "
                "with a conditional request instead of fetching it again in full."
            )
            refs.append("RFC 9111 §4.3.1")
    return " ".join(sentences), _refs(reason, refs)


def lifetime_source(ctx: Context) -> tuple[str, list[str]]:
    """Which rule gave the stored response its freshness lifetime, in words."""
    if ctx.expire_after is not None:
        return (
            f"Its lifetime comes from {ctx.expire_after_flag} {ctx.expire_after}, which outranks "
            "the response's own headers (httpcache's precedence).",
            [],
        )
    original = ctx.origin_headers
    if original is None:
        return "", []
    from httpcache.policy.directives import parse_cache_control

    cc = parse_cache_control(_all(original, "cache-control"))
    age = original.get("age")
    aged = f", less the Age of {age}s it already had (§4.2.3)" if age else ""
    if cc.max_age is not None:
        return (
            f"Its freshness lifetime, {human_duration(cc.max_age)}, comes from "
            f"Cache-Control: max-age={cc.max_age}{aged}.",
            ["RFC 9111 §5.2.2.1", "RFC 9111 §4.2.1"],
        )
    if original.get("expires"):
        return (
            f"Its freshness lifetime comes from Expires: {original.get('expires')} "
            f"(measured from its Date){aged}.",
            ["RFC 9111 §5.3", "RFC 9111 §4.2.1"],
        )
    stored = ctx.stored_headers
    if stored is not None and stored.get("expires") and ctx.heuristic:
        basis = " and its Last-Modified" if original.get("last-modified") else ""
        return (
            f"It gives no explicit lifetime; the {ctx.heuristic} heuristic{basis} set one "
            f"(Expires: {stored.get('expires')}).",
            ["RFC 9111 §4.2.2"],
        )
    return (
        "It gives no explicit freshness lifetime, so it counts as stale at once and is "
        "kept only to be revalidated.",
        ["RFC 9111 §4.2.1", "RFC 9111 §4.3"],
    )


def _all(headers: Any, name: str) -> list[str]:
    if hasattr(headers, "get_all"):
        return headers.get_all(name)
    value = headers.get(name)
    return [value] if value else []


def _refs(reason: str, refs: list[str]) -> list[str]:
    """The given references, plus any § the library's reason cites itself."""
    cited = [
        m.group(0) if m.group(1) else "RFC 9111 " + m.group(0).replace(" ", "")
        for m in _SECTION.finditer(reason)
    ]
    found = []
    for ref in [*cited, *refs]:
        if ref not in found:
            found.append(ref)
    return found
