"""Generate ``man/hc.1`` and ``completions/hc.{bash,zsh,fish}`` from the typer app.

    python -m httpcache_cli.gen_docs           # write the four files
    python -m httpcache_cli.gen_docs --check   # exit 1 if any differs from the app

Everything comes from the app's command tree (commands, options, help, choices,
environment variables, see ``_docmodel``) and from ``ExitStatus``;
``tests/cli/test_docs.py`` fails when the files drift from the app. The
completions are static (no Python runs on TAB), so they are as fast as the shell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._completions import bash_completion, fish_completion, zsh_completion
from ._docmodel import model
from ._man import man_page

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {
    "man/hc.1": man_page,
    "completions/hc.bash": bash_completion,
    "completions/hc.zsh": zsh_completion,
    "completions/hc.fish": fish_completion,
}


def render_all() -> dict[str, str]:
    root = model()
    return {path: make(root) for path, make in OUTPUTS.items()}


def drifted(root: Path = ROOT) -> list[str]:
    """The generated files that differ from what the app generates now."""
    stale = []
    for path, text in render_all().items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m httpcache_cli.gen_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check for drift")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        for path in stale:
            print(f"{path} differs from the app: run python -m httpcache_cli.gen_docs")
        return 1 if stale else 0
    for path, text in render_all().items():
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
