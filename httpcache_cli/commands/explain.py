"""``hc explain URL``: why a response was or was not stored, or served from the cache.

Online, it makes the request and reads the engine's trace of it from the response
(each decision with its reason). With ``--offline`` it contacts nobody: it asks the
engine to look up the request (storage and the pure policy, nothing sent) and reads
that trace: what ``hc get`` would do with what is stored now.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import inputs, narrate, output
from ..config import CacheOptions, check_duration, options_of
from ..views import Section, show
from .cache import entry_summary, state
from .fetch import ExpireAfter, ForceRefresh, Header, Param, Refresh, Timeout, Url

if TYPE_CHECKING:
    from httpcache import CachedSession, Entry


def explain(
    ctx: typer.Context,
    url: Url,
    method: Annotated[
        str, typer.Option("-X", "--method", metavar="METHOD", help="The request method.")
    ] = "GET",
    header: Header = None,
    param: Param = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Contact nobody: say what hc get would do with what is stored now."
        ),
    ] = False,
    expire_after: ExpireAfter = None,
    refresh: Refresh = False,
    force_refresh: ForceRefresh = False,
    timeout: Timeout = None,
    verbose: Annotated[
        bool,
        typer.Option("-v", "--verbose", help="Also show every other record the library logged."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Fetch URL (or, with --offline, only look) and say why the cache did what it did."""
    options = options_of(ctx)
    request = inputs.build(method, url, header, param)
    check_duration(expire_after, "--expire-after")
    session = options.open_session()
    try:
        if offline:
            report = _look(session, request, expire_after, refresh, force_refresh)
        else:
            report = _fetch(session, request, expire_after, refresh, force_refresh, timeout)
    finally:
        # a stale-while-revalidate refresh uses the cache: it ends before the cache closes
        session.wait_for_background()
        session.close()
        session.cache.close()
    context = narrate.Context(
        offline=offline,
        expire_after=expire_after if expire_after is not None else options.expire_after,
        expire_after_flag="--expire-after" if expire_after is not None else "hc --expire-after",
        origin_headers=report.get("origin_headers"),
        stored_headers=report["entry"].response.headers if report.get("entry") else None,
        heuristic=options.heuristic,
    )
    steps = narrate.word(report["steps"], context)
    if not verbose:
        steps = [s for s in steps if s.decision != "Log"]
    if as_json:
        print(json.dumps(_as_json(report, steps, options), indent=2))
        return
    show(_sections(report, steps, options))


# ---- the two ways to find out -----------------------------------------------------------


def _fetch(
    session: CachedSession,
    request: inputs.RequestInput,
    expire_after: str | None,
    refresh: bool,
    force_refresh: bool,
    timeout: float | None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"refresh": refresh, "force_refresh": force_refresh}
    if expire_after is not None:
        kwargs["expire_after"] = expire_after
    response = session.request(
        request.method,
        request.url,
        headers=request.headers,
        params=request.params,
        timeout=timeout,
        allow_redirects=False,
        **kwargs,
    )
    key = getattr(response, "cache_key", None)
    entry = session.cache.get(key) if key else None
    steps = narrate.steps_from_trace(getattr(response, "cache_trace", None))
    stored = any(step.decision == "Store" for step in steps) and not any(
        step.decision == "DoNotStore" for step in steps
    )
    return {
        "method": request.method,
        "url": response.url,
        "offline": False,
        "status": response.status_code,
        "reason": response.reason or "",
        "cache_status": str(response.cache_status),
        "from_cache": bool(response.from_cache),
        "stored": entry is not None and not response.from_cache and stored,
        "cache_status_field": output.cache_status(
            response, refresh=refresh, force_refresh=force_refresh
        ),
        "key": key,
        "entry": entry,
        # as the server sent them (a heuristic's Expires is added to response.headers)
        "origin_headers": _received_headers(response),
        "steps": steps,
    }


def _received_headers(response: Any) -> Any:
    raw_headers = getattr(getattr(response, "raw", None), "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "get") and not response.from_cache:
        return raw_headers
    return response.headers


def _look(
    session: CachedSession,
    request: inputs.RequestInput,
    expire_after: str | None,
    refresh: bool,
    force_refresh: bool,
) -> dict[str, Any]:
    import requests

    from httpcache import RequestOptions, _glue
    from httpcache.policy.expiration import UNSET

    prepared = session.prepare_request(
        requests.Request(
            request.method, request.url, headers=request.headers, params=request.params
        )
    )
    wanted = RequestOptions(
        expire_after=UNSET if expire_after is None else expire_after,
        refresh=refresh,
        force_refresh=force_refresh,
    )
    tls = _glue.tls_of(session.verify, session.cert)
    plan = _glue.plan_for(session.engine, prepared, tls, wanted)
    entry = plan.entry
    return {
        "method": plan.request.method,
        "url": plan.request.url,
        "offline": True,
        "status": None,
        "reason": "",
        "cache_status": str(getattr(plan.action, "status", "")),
        "from_cache": session.engine.served_alone(plan) is not None,
        "stored": False,
        "cache_status_field": None,
        "key": entry.key if entry is not None else plan.key,
        "entry": entry,
        "origin_headers": None,
        "steps": narrate.steps_from_trace(plan.trace),
    }


# ---- what to show ---------------------------------------------------------------------------


def _verdict(report: dict[str, Any]) -> tuple[str, str]:
    """A headline and its style (good, warn, bad)."""
    status = report["cache_status"]
    if report["offline"]:
        decision = report["steps"][0].decision
        return {
            "UseStored": ("hc get would serve it from the cache", "good"),
            "Revalidate": ("stored, but hc get would revalidate it with the server first", "warn"),
        }.get(decision, ("hc get would fetch it from the server", "bad"))
    if status in ("hit", "stale"):
        return f"served from the cache ({status})", "good"
    if status == "revalidated":
        return "revalidated with the server (304 Not Modified), served from the cache", "good"
    stored = "stored" if report["stored"] else "not stored"
    return f"fetched from the server ({status}); {stored}", "warn" if report["stored"] else "bad"


def _sections(
    report: dict[str, Any], steps: list[narrate.Step], options: CacheOptions
) -> list[Section]:
    verdict, style = _verdict(report)
    if report["status"] is not None:
        head = (
            f"{report['method']} {report['url']} -> {report['status']} {report['reason']}".rstrip()
        )
    else:
        head = f"{report['method']} {report['url']} (offline: nothing was sent)"
    summary = [("", verdict)]
    if report["cache_status_field"]:
        summary.append(("", f"Cache-Status: {report['cache_status_field']}"))
    summary.append(("", f"cache: {options.location()}"))
    sections = [Section(head, summary, style)]
    for phase, title in (("lookup", "Lookup"), ("response", "Response"), ("note", "Notes")):
        items = [("", _with_refs(s)) for s in steps if s.phase == phase]
        if items:
            sections.append(Section(title, items))
    sections.append(Section("Now", [("", line) for line in _now_lines(report.get("entry"))]))
    return sections


def _with_refs(step: narrate.Step) -> str:
    return f"{step.text} [{cite(step.rfc)}]" if step.rfc else step.text


def cite(refs: list[str]) -> str:
    """``RFC 9111 §4.2, §4.2.3; RFC 5861 §3``."""
    by_rfc: dict[str, list[str]] = {}
    for ref in refs:
        rfc, _, section = ref.partition(" §")
        by_rfc.setdefault(rfc, []).append("§" + section)
    return "; ".join(f"{rfc} {', '.join(sections)}" for rfc, sections in by_rfc.items())


def _now_lines(entry: Entry | None) -> list[str]:
    if entry is None:
        return ["Nothing is stored for this request."]
    now = output.now()
    lines = [
        f"Stored under key {entry.key[:12]} ({output.human_size(entry.size)}), "
        f"{output.human_duration(now - entry.created_at)} ago."
    ]
    validator = entry.response.headers.get("etag") or entry.response.headers.get("last-modified")
    if entry.expires is None:
        lines.append("It never expires: hc get serves it from the cache.")
    elif state(entry, now) == "fresh":
        lines.append(
            f"Fresh for {output.human_duration(entry.expires - now)} more "
            f"(until {output.iso(entry.expires)}): until then hc get serves it without "
            "contacting the server."
        )
    else:
        lines.append(f"Stale since {output.human_duration(now - entry.expires)} ago.")
    if validator:
        lines.append(f"Once stale, it is revalidated with its validator ({validator}).")
    else:
        lines.append("It has no validator: once stale, it is fetched again in full.")
    return lines


def _as_json(
    report: dict[str, Any], steps: list[narrate.Step], options: CacheOptions
) -> dict[str, Any]:
    entry = report.get("entry")
    verdict, _ = _verdict(report)
    return {
        "method": report["method"],
        "url": report["url"],
        "offline": report["offline"],
        "status": report["status"],
        "cache_status": report["cache_status"],
        "cache_status_field": report["cache_status_field"],
        "from_cache": report["from_cache"],
        "stored": report["stored"],
        "key": report["key"],
        "verdict": verdict,
        "steps": [step.as_dict() for step in steps],
        "entry": entry_summary(entry, output.now()) if entry is not None else None,
        "cache": options.location(),
    }
