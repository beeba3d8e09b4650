"""The fast path: ``hc [GLOBAL OPTIONS] get|fetch|head URL [OPTIONS]`` without typer.

A cache hit should cost little more than Python, requests and the cache. typer
(which loads pydantic to check its parameters) costs more than the rest together,
so ``main`` first tries this small parser, which reads the same option table as
the typer commands (``spec.py``). Anything it does not recognize exactly (help,
another command, an unknown or malformed option, bundled short flags, ``--``)
returns None and typer takes over, with its full checks and messages.

Parsed, the command is first offered to ``hit.serve``, which answers a fresh hit
from the SQLite cache without importing ``requests``; anything else goes to
``fetching.run``, the full path through a ``CachedSession``.
"""

from __future__ import annotations

from typing import Any

from .spec import COMMAND_OPTIONS, FAST_COMMANDS, FETCH, GLOBAL, Spec


def parse(argv: list[str]) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
    """(global values, method, fetch values), or None to leave it to typer."""
    from .argv import hoist

    argv = hoist(argv)
    global_values: dict[str, Any] = {}
    rest = _options(argv, GLOBAL, global_values, stop_at_word=True)
    if rest is None or not rest or rest[0] not in FAST_COMMANDS:
        return None
    command = rest[0]
    allowed = COMMAND_OPTIONS["head" if command == "head" else "get"]
    values: dict[str, Any] = {}
    positional = _options(rest[1:], {k: FETCH[k] for k in allowed}, values, stop_at_word=False)
    if not positional:
        return None
    values["url"] = positional[0]
    if len(positional) > 1:
        values["items"] = positional[1:]
    if not _convert(values):
        return None
    return global_values, FAST_COMMANDS[command], values


def _options(
    argv: list[str], table: dict[str, Spec], values: dict[str, Any], stop_at_word: bool
) -> list[str] | None:
    """Read options into ``values``; return the words left, or None if unsure."""
    by_name = {name: key for key, spec in table.items() for name in spec.names}
    words: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "-" or not token.startswith("-"):
            if stop_at_word:
                return argv[i:]
            words.append(token)
            i += 1
            continue
        name, eq, inline = token.partition("=")
        key = by_name.get(name)
        if key is None or (eq and not name.startswith("--")):
            return None  # unknown, --help, bundled flags, -Hvalue ...: typer decides
        spec = table[key]
        if spec.flag:
            if eq:
                return None
            values[key] = True
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        elif i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        else:
            return None
        if spec.multiple:
            values.setdefault(key, []).append(value)
        else:
            values[key] = value
    return words


def _convert(values: dict[str, Any]) -> bool:
    """Typed values as typer would give them; False where typer would complain."""
    try:
        if "timeout" in values:
            values["timeout"] = float(values["timeout"])
        if "max_redirects" in values:
            values["max_redirects"] = int(values["max_redirects"])
    except ValueError:
        return False
    paths = [name for name in ("output", "cert", "cert_key") if name in values]
    if paths:
        from pathlib import Path

        for name in paths:
            values[name] = Path(values[name])
    return True


def run(argv: list[str]) -> int | None:
    """Run a fast-path command and return its exit status, or None for typer."""
    parsed = parse(argv)
    if parsed is None:
        return None
    global_values, method, values = parsed
    from dataclasses import replace

    from .config import from_environment

    environment = from_environment()
    options = replace(
        environment, **global_values, from_env=environment.from_env - set(global_values)
    )
    from httpcache.caches import BACKENDS

    if options.backend not in BACKENDS:
        return None  # typer's message lists the choices

    from . import hit
    from .fetching import make_fetch
    from .fetching import run as run_fetch
    from .runner import guarded

    def call() -> int:
        options.check()
        fetch = make_fetch(method, values)
        fetch.check(options)
        served = hit.serve(options, fetch)  # a fresh hit, without requests
        return run_fetch(options, fetch) if served is None else served

    return guarded(call)
