"""The typer app: global options and commands, driving the same classes as the library.

``HcGroup`` runs typer without its error handling and does its own: every failure
is one line on stderr and an ``ExitStatus``, no traceback ever reaches a user.
``app.main`` (the console script) imports this module only when the fast path
(``fast.py``) leaves the command line to typer.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from httpcache.caches import BACKENDS

from . import config
from .commands import cache, explain, fetch
from .errors import CliError, plain_usage
from .exit_codes import ExitStatus
from .runner import guarded, print_error
from .spec import GLOBAL

Backend = StrEnum("Backend", {name: name for name in BACKENDS})  # type: ignore[misc]
DEFAULT_BACKEND = Backend(config.DEFAULT_BACKEND)

HELP = (
    "An HTTP client with an RFC 9111 cache, and an inspector of that cache.\n\n"
    "Fetch like curl or httpie (hc get URL > file), look inside the cache like a "
    "database shell (hc cache ls), ask why a response was or was not stored "
    "(hc explain URL). The cache is SQLite in the user's cache folder unless "
    "--backend says otherwise."
)


def _plain_help_labels() -> None:
    """Help shows METAVARs, not Python types (``<bool>``, ``<list[str]>``), and the
    usage line ``URL``, not ``{URL}``: hc's help is for people, not for typer."""
    from typer import core

    def option_label(self: Any, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        described = getattr(self, "type_descriptor", None)
        if self.metavar is None and described is not None and described.is_choice:
            return "|".join(str(getattr(c, "value", c)) for c in described.choices or ())
        return str(self.metavar or self.name.upper())

    def usage_name(self: Any) -> str:
        name = str(self.display_name_raw)
        if not self.required and not name.startswith("["):
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")

    core.TyperOption.display_type_rich = option_label  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


_plain_help_labels()


class HcGroup(TyperGroup):
    """The root command: runs typer without its own error handling, then does ours."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from .argv import hoist

        argv = hoist(list(sys.argv[1:] if args is None else args))

        def call() -> Any:
            return _click_errors(
                lambda: super(HcGroup, self).main(
                    args=argv,
                    prog_name=prog_name or "hc",
                    complete_var=complete_var,
                    standalone_mode=False,
                    **extra,
                ),
                argv,
            )

        status = guarded(call)
        if standalone_mode:
            sys.exit(status)
        return status


def _click_errors(call: Any, argv: list[str]) -> int:
    """typer's own exceptions (usage errors, aborted prompts) as one line and a status."""
    from typer._click import exceptions as click_errors

    try:
        result = call()
        return result if isinstance(result, int) else 0
    except click_errors.NoArgsIsHelpError as exc:
        if exc.format_message().strip():  # rich has printed it already
            typer.echo(exc.format_message())
        return ExitStatus.SUCCESS
    except click_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "hc"
        message = plain_usage(exc.format_message(), argv, dict(os.environ))
        print_error(CliError(message, f"see '{where} --help'"))
        return ExitStatus.ERROR_USAGE
    except click_errors.ClickException as exc:
        print_error(CliError(exc.format_message(), "see 'hc --help'"))
        return ExitStatus.ERROR_USAGE
    except typer.Abort:
        print("hc: aborted", file=sys.stderr)
        return ExitStatus.ERROR


app = typer.Typer(
    name="hc",
    cls=HcGroup,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from httpcache import __version__

        from . import DISTRIBUTION

        typer.echo(f"hc {__version__} ({DISTRIBUTION})")
        raise typer.Exit()


def _global(name: str, **extra: Any) -> Any:
    """A global option from ``spec.GLOBAL``, with its environment variable."""
    spec = GLOBAL[name]
    if spec.metavar is not None and name != "backend":  # typer shows the backend choices
        extra["metavar"] = spec.metavar
    return typer.Option(*spec.names, envvar=config.ENV[name], help=spec.help, **extra)


@app.callback()
def main_options(
    ctx: typer.Context,
    backend: Annotated[Backend, _global("backend")] = DEFAULT_BACKEND,
    cache_name: Annotated[str, _global("cache_name")] = config.DEFAULT_CACHE_NAME,
    cache_dir: Annotated[str | None, _global("cache_dir", show_default=False)] = None,
    redis_url: Annotated[str, _global("redis_url")] = config.DEFAULT_REDIS_URL,
    heuristic: Annotated[str | None, _global("heuristic")] = None,
    expire_after: Annotated[str | None, _global("expire_after")] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """An HTTP client with an RFC 9111 cache, and an inspector of that cache."""
    from typer._click.core import ParameterSource

    from_env = frozenset(
        name for name in config.ENV if ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT
    )
    options = config.CacheOptions(
        from_env=from_env,
        backend=str(backend.value),
        cache_name=cache_name,
        cache_dir=cache_dir,
        redis_url=redis_url,
        heuristic=heuristic,
        expire_after=expire_after,
    )
    options.check()
    ctx.meta[config.META_KEY] = options


# ---- commands -------------------------------------------------------------------------

FETCH_CONTEXT = fetch.CONTEXT
app.command("get", context_settings=FETCH_CONTEXT)(fetch.get)
app.command("fetch", help="Same as get.", context_settings=FETCH_CONTEXT)(fetch.get)
app.command("head", context_settings=FETCH_CONTEXT)(fetch.head)
for _name in ("post", "put", "patch", "delete"):
    app.command(_name, context_settings=FETCH_CONTEXT)(getattr(fetch, _name))
app.command("request", context_settings=FETCH_CONTEXT)(fetch.request)
app.command("explain")(explain.explain)

cache_app = typer.Typer(
    name="cache",
    help="Look inside the cache: ls, inspect, rm, clear, stats, remove-expired, compact.",
    no_args_is_help=True,
)
cache_app.command("ls")(cache.ls)
cache_app.command("inspect")(cache.inspect)
cache_app.command("rm")(cache.rm)
cache_app.command("clear")(cache.clear)
cache_app.command("stats")(cache.stats)
cache_app.command("remove-expired")(cache.remove_expired)
cache_app.command("compact")(cache.compact)
app.add_typer(cache_app, name="cache")

# The cache commands people reach for most, at the top level too.
app.command("inspect", help="Same as cache inspect.")(cache.inspect)
app.command("clear", help="Same as cache clear.")(cache.clear)
app.command("stats", help="Same as cache stats.")(cache.stats)
app.command("remove-expired", help="Same as cache remove-expired.")(cache.remove_expired)
app.command("purge-expired", help="Same as cache remove-expired.")(cache.remove_expired)
