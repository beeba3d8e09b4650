"""The fast path parses ``hc get URL ...`` exactly as typer does, or leaves it to typer."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from httpcache_cli import fast, fetching, hit, spec
from httpcache_cli.app import app
from httpcache_cli.commands import fetch as fetch_command

URL = "http://127.0.0.1:9/x"


def params_of(command: Any) -> dict[str, Any]:
    return {p.name: p for p in command.params}


def test_the_typer_options_are_the_spec() -> None:
    root = get_command(app)
    root_params = params_of(root)
    for name, option in spec.GLOBAL.items():
        assert tuple(root_params[name].opts) == option.names
        assert root_params[name].help == option.help
    for command, names in spec.COMMAND_OPTIONS.items():
        params = params_of(root.commands[command])
        declared = {n for n, p in params.items() if type(p).__name__ == "TyperOption"}
        assert declared == set(names), command
        for name in names:
            assert tuple(params[name].opts) == spec.FETCH[name].names
            assert bool(params[name].is_flag) == spec.FETCH[name].flag
            assert bool(params[name].multiple) == spec.FETCH[name].multiple
    for alias, method in spec.FAST_COMMANDS.items():
        assert alias in root.commands
        assert method in ("GET", "HEAD")


CASES = [
    ["get", URL],
    ["fetch", URL],
    ["head", URL],
    ["get", "-v", "-i", URL],
    ["get", URL, "--refresh"],
    ["get", "--force-refresh", "--check-status", "-F", "--max-redirects", "3", URL],
    ["get", "--offline", URL],
    ["get", "--no-cache", "--timeout", "2.5", URL],
    ["get", "-H", "A: 1", "--header", "B: 2", "--header=C: 3", "--param", "y=2", URL, "x==1"],
    ["get", URL, "X-Item:1", "q==2", "-p", "Hhb", "--pretty", "format", "--style", "monokai"],
    ["get", "-h", URL],
    ["get", "-b", "--unsorted", URL],
    ["get", "-a", "me:pw", "-A", "basic", "--verify", "no", URL],
    ["get", "-k", URL],
    ["get", "-d", "-c", "-o", "f.bin", URL],
    ["get", URL, "--cache-dir", "/tmp/after", "--backend", "filesystem"],
    ["get", "-o", "out.bin", URL],
    ["get", "--output=-", URL],
    ["get", "--raw", "a=b", URL],
    ["get", "--json", "--raw", '{"a": 1}', URL],
    ["get", URL, "a=b", "n:=1"],
    ["get", "--form", URL, "a=b"],
    ["get", "--expire-after", "1d", URL],
    ["--backend", "memory", "--cache-name", "n", "get", URL],
    ["--cache-dir", "/tmp/x", "--redis-url", "redis://h:1/2", "--backend=redis", "get", URL],
    ["--heuristic", "one-day", "--expire-after", "2h", "head", "--expire-after", "1h", URL],
    ["get", URL.removeprefix("http://")],
]


def captured_by_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    seen: list[tuple[Any, Any]] = []
    monkeypatch.setattr(fetch_command, "run", lambda options, f: seen.append((options, f)) or 0)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return seen[0]


def captured_by_fast(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    seen: list[tuple[Any, Any]] = []
    monkeypatch.setattr(fetching, "run", lambda options, f: seen.append((options, f)) or 0)
    monkeypatch.setattr(hit, "serve", lambda options, f: None)  # no cache opened here
    assert fast.run(argv) == 0
    return seen[0]


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_same_as_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert captured_by_fast(argv, monkeypatch) == captured_by_typer(argv, monkeypatch)


def test_same_as_typer_with_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HC_BACKEND", "filesystem")
    monkeypatch.setenv("HC_CACHE_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("HC_HEURISTIC", "last-modified")
    argv = ["--cache-dir", "/tmp/flag", "get", URL]
    fast_options, _ = captured_by_fast(argv, monkeypatch)
    typer_options, _ = captured_by_typer(argv, monkeypatch)
    assert fast_options == typer_options
    assert fast_options.backend == "filesystem"
    assert fast_options.cache_dir == "/tmp/flag"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--version"],
        ["get", "--help"],
        ["get"],
        ["get", "-iv", URL],
        ["get", "-HA: 1", URL],
        ["get", "--", URL],
        ["get", "--timeout", "soon", URL],
        ["get", "--refresh=yes", URL],
        ["get", "-H"],
        ["head", "-d", URL],
        ["get", "--help", URL],
        ["post", URL],
        ["request", "GET", URL],
        ["cache", "ls"],
        ["explain", URL],
        ["--backend", "nope", "get", URL],
        ["--nope", "get", URL],
    ],
    ids=lambda argv: " ".join(argv) or "(nothing)",
)
def test_leaves_the_rest_to_typer(argv: list[str]) -> None:
    assert fast.run(argv) is None
