"""Global options after the command: ``hc get --cache-dir D URL`` as ``hc --cache-dir D get URL``.

Both the fast path and the typer app read the command line through ``hoist``, so
they agree. An option the command itself has (``--expire-after`` of get, explain
...) stays with the command; nothing after ``--`` moves.
"""

from __future__ import annotations

from .spec import GLOBAL

#: Commands with an --expire-after of their own (per request), which wins there.
OWN_EXPIRE_AFTER = frozenset(
    {"get", "fetch", "head", "post", "put", "patch", "delete", "request", "explain"}
)


def hoist(argv: list[str]) -> list[str]:
    """``argv`` with the global options found after the command moved before it."""
    by_name = {name: spec for spec in GLOBAL.values() for name in spec.names}
    i = 0
    while i < len(argv):  # the leading global options, up to the command word
        name, eq, _ = argv[i].partition("=")
        if name in by_name:
            i += 1 if eq or by_name[name].flag else 2
            continue
        break
    if i >= len(argv) or argv[i].startswith("-"):
        return argv  # no command word (help, version, an unknown option): leave it be
    command = argv[i]
    before, after = argv[:i], argv[i:]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(after):
        token = after[j]
        if token == "--":
            kept += after[j:]
            break
        name, eq, _ = token.partition("=")
        spec = by_name.get(name)
        own = name == "--expire-after" and command in OWN_EXPIRE_AFTER
        if spec is None or own or j == 0:
            kept.append(token)
            j += 1
            continue
        if eq or spec.flag:
            moved.append(token)
            j += 1
        elif j + 1 < len(after):
            moved += after[j : j + 2]
            j += 2
        else:
            kept.append(token)  # no value: typer says so
            j += 1
    return [*before, *moved, *kept]
