"""Running a command at the boundary: failures become one line and an exit status.

Shared by the typer app (``cli.HcGroup``) and the fast path (``fast.py``), and
free of typer so that the fast path stays light.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import CliError, translate
from .exit_codes import ExitStatus


def guarded(call: Callable[[], object]) -> int:
    """Run ``call``; any exception becomes one line on stderr and an exit status."""
    with warnings_on_stderr():
        try:
            result = call()
            return result if isinstance(result, int) else 0
        except KeyboardInterrupt:
            return ExitStatus.ERROR_CTRL_C
        except Exception as exc:  # the boundary: nothing escapes as a traceback
            return report(exc)


def report(exc: BaseException) -> int:
    """Print the one line for ``exc``; return its exit status."""
    known = translate(exc)
    if known is None:
        known = CliError(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in hc; please report it with the command you ran",
            ExitStatus.ERROR_INTERNAL,
        )
    print_error(known)
    return known.status


def print_error(error: CliError) -> None:
    if error.message:  # a broken pipe has nothing to say
        print(error.line(), file=sys.stderr)


class _StderrHandler(logging.Handler):
    """The library's warnings (a storage outage ...) as one ``hc: warning:`` line each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"hc: warning: {record.getMessage()}", file=sys.stderr)
        except Exception:  # a logging handler must not raise
            self.handleError(record)


@contextmanager
def warnings_on_stderr() -> Iterator[None]:
    logger = logging.getLogger("httpcache")
    handler = _StderrHandler(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
