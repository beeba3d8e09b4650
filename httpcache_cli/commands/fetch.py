"""``hc get`` (``fetch``), ``head``, ``post``, ``put``, ``patch``, ``delete``, ``request``.

Every one takes ``URL [REQUEST_ITEM]...`` and the options of ``spec.FETCH`` (which
the fast path parses too); their signatures are built from that table, so the
commands cannot drift apart. The work is ``fetching.run``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import options_of
from ..fetching import AUTH_TYPES, make_fetch, run
from ..spec import COMMAND_OPTIONS, FETCH, PRETTY

#: Choices as enums, so that help, the man page and the completions list them.
Pretty = StrEnum("Pretty", {name: name for name in PRETTY})  # type: ignore[misc]
AuthType = StrEnum("AuthType", {name: name for name in AUTH_TYPES})  # type: ignore[misc]

#: Option types other than a flag (bool) or text (str | None), and their defaults.
_TYPES: dict[str, tuple[Any, Any]] = {
    "header": (list[str] | None, None),
    "param": (list[str] | None, None),
    "output": (Path | None, None),
    "cert": (Path | None, None),
    "cert_key": (Path | None, None),
    "timeout": (float | None, None),
    "max_redirects": (int, 30),
    "pretty": (Pretty | None, None),
    "auth_type": (AuthType | None, None),
}
#: Only ``--help`` asks for help here: ``-h`` prints the response headers (as in httpie).
CONTEXT = {"help_option_names": ["--help"]}

ITEMS_HELP = (
    "Request items, as httpie takes them: Header:value, param==value, field=value "
    "(JSON unless --form), field:=json, field=@file, field@file (upload), @file (the body)."
)


def _option(name: str) -> Any:
    spec = FETCH[name]
    extra: dict[str, Any] = {}
    if spec.metavar is not None:
        extra["metavar"] = spec.metavar
    if name in ("output", "cert", "cert_key"):
        extra["dir_okay"] = False
    return typer.Option(*spec.names, help=spec.help, **extra)


def _parameter(name: str) -> inspect.Parameter:
    spec = FETCH[name]
    kind, default = (bool, False) if spec.flag else _TYPES.get(name, (str | None, None))
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[kind, _option(name)],
        default=default,
    )


URL = inspect.Parameter(
    "url",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="The URL; http:// is assumed when it has no scheme.",
            show_default=False,
        ),
    ],
)
ITEMS = inspect.Parameter(
    "items",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        list[str] | None,
        typer.Argument(metavar="REQUEST_ITEM", help=ITEMS_HELP, show_default=False),
    ],
    default=None,
)
METHOD = inspect.Parameter(
    "method",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        str,
        typer.Argument(
            metavar="METHOD", help="The method: GET, POST, PUT, DELETE ...", show_default=False
        ),
    ],
)
CTX = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def command(method: str | None, options: str, doc: str) -> Callable[..., None]:
    """A command sending ``method`` (None: the METHOD argument), with the options of
    ``COMMAND_OPTIONS[options]``."""

    def run_command(ctx: typer.Context, **values: Any) -> None:
        chosen = values.pop("method") if method is None else method
        status = run(options_of(ctx), make_fetch(chosen, values))
        if status:
            raise typer.Exit(int(status))

    head = [CTX, *([METHOD] if method is None else []), URL, ITEMS]
    params = head + [_parameter(name) for name in COMMAND_OPTIONS[options]]
    run_command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run_command.__doc__ = doc
    run_command.__name__ = (method or "request").lower()
    return run_command


get = command("GET", "get", "GET a URL through the cache; the body goes to stdout (or -o FILE).")
head = command("HEAD", "head", "HEAD a URL through the cache; the status line and headers print.")
post = command("POST", "get", "POST to a URL: data items as JSON (or --form), or a raw body.")
put = command("PUT", "get", "PUT to a URL: data items as JSON (or --form), or a raw body.")
patch = command("PATCH", "get", "PATCH a URL: data items as JSON (or --form), or a raw body.")
delete = command("DELETE", "get", "DELETE a URL (stored responses for it are invalidated).")
request = command(
    None,
    "request",
    "Send any METHOD through the cache (GET and HEAD are cached; unsafe methods invalidate).",
)

# Shared with hc explain, which takes some of the same options.
Url = URL.annotation
Header = Annotated[list[str] | None, _option("header")]
Param = Annotated[list[str] | None, _option("param")]
ExpireAfter = Annotated[str | None, _option("expire_after")]
Refresh = Annotated[bool, _option("refresh")]
ForceRefresh = Annotated[bool, _option("force_refresh")]
Timeout = Annotated[float | None, _option("timeout")]
