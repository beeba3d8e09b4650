"""``hc get`` (``fetch``), ``hc head``, ``hc request``: an HTTP client on the cache.

The options come from ``spec.FETCH`` (which the fast path parses too); the work is
``fetching.run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import options_of
from ..fetching import make_fetch, run
from ..spec import FETCH


def _option(name: str, **extra: Any) -> Any:
    spec = FETCH[name]
    if spec.metavar is not None:
        extra["metavar"] = spec.metavar
    return typer.Option(*spec.names, help=spec.help, **extra)


Url = Annotated[
    str,
    typer.Argument(help="The URL; http:// is assumed when it has no scheme.", show_default=False),
]
Header = Annotated[list[str] | None, _option("header")]
Param = Annotated[list[str] | None, _option("param")]
Data = Annotated[str | None, _option("data")]
Json = Annotated[str | None, _option("json")]
Output = Annotated[Path | None, _option("output", dir_okay=False)]
Include = Annotated[bool, _option("include")]
Verbose = Annotated[bool, _option("verbose")]
ExpireAfter = Annotated[str | None, _option("expire_after")]
Refresh = Annotated[bool, _option("refresh")]
ForceRefresh = Annotated[bool, _option("force_refresh")]
Offline = Annotated[bool, _option("offline")]
NoCache = Annotated[bool, _option("no_cache")]
Timeout = Annotated[float | None, _option("timeout", min=0.001)]
Follow = Annotated[bool, _option("follow")]
MaxRedirects = Annotated[int, _option("max_redirects", min=0)]
CheckStatus = Annotated[bool, _option("check_status")]


def get(
    ctx: typer.Context,
    url: Url,
    header: Header = None,
    param: Param = None,
    data: Data = None,
    json: Json = None,
    output: Output = None,
    include: Include = False,
    verbose: Verbose = False,
    expire_after: ExpireAfter = None,
    refresh: Refresh = False,
    force_refresh: ForceRefresh = False,
    offline: Offline = False,
    no_cache: NoCache = False,
    timeout: Timeout = None,
    follow: Follow = False,
    max_redirects: MaxRedirects = 30,
    check_status: CheckStatus = False,
) -> None:
    """GET a URL through the cache; the body goes to stdout (or -o FILE)."""
    _run(ctx, "GET", locals())


def head(
    ctx: typer.Context,
    url: Url,
    header: Header = None,
    param: Param = None,
    verbose: Verbose = False,
    expire_after: ExpireAfter = None,
    refresh: Refresh = False,
    force_refresh: ForceRefresh = False,
    offline: Offline = False,
    no_cache: NoCache = False,
    timeout: Timeout = None,
    follow: Follow = False,
    max_redirects: MaxRedirects = 30,
    check_status: CheckStatus = False,
) -> None:
    """HEAD a URL through the cache; the status line and headers go to stdout."""
    _run(ctx, "HEAD", locals())


def request(
    ctx: typer.Context,
    method: Annotated[
        str, typer.Argument(help="The method: GET, POST, PUT, DELETE ...", show_default=False)
    ],
    url: Url,
    header: Header = None,
    param: Param = None,
    data: Data = None,
    json: Json = None,
    output: Output = None,
    include: Include = False,
    verbose: Verbose = False,
    expire_after: ExpireAfter = None,
    refresh: Refresh = False,
    force_refresh: ForceRefresh = False,
    offline: Offline = False,
    no_cache: NoCache = False,
    timeout: Timeout = None,
    follow: Follow = False,
    max_redirects: MaxRedirects = 30,
    check_status: CheckStatus = False,
) -> None:
    """Send any METHOD through the cache (GET and HEAD are cached; unsafe methods invalidate)."""
    _run(ctx, method, locals())


def _run(ctx: typer.Context, method: str, values: dict[str, Any]) -> None:
    status = run(options_of(ctx), make_fetch(method, values))
    if status:
        raise typer.Exit(int(status))
