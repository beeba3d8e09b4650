"""``hc``: the entry point (console script ``hc = httpcache_cli.app:main``).

``main`` first offers the command line to the fast path (``fast.py``: ``hc get URL``
and friends parsed without typer, so a cache hit starts quickly); anything else goes
to the typer app of ``cli.py``. ``app`` and ``HcGroup`` are importable from here too,
loaded on first use (``from httpcache_cli.app import app``).
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    """Run ``hc`` with ``sys.argv``; exit with its ``ExitStatus``."""
    try:
        from . import fast

        status = fast.run(sys.argv[1:])
        if status is None:
            from typer.main import get_command

            from .cli import app

            status = get_command(app).main(prog_name="hc", standalone_mode=False)
    except KeyboardInterrupt:  # between the commands' own handling and exit
        status = 130
    sys.exit(status)


def __getattr__(name: str) -> Any:
    if name in ("app", "HcGroup", "cache_app"):
        from . import cli

        return getattr(cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
