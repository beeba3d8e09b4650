"""Fixtures of the hc tests: an in-process runner (typer's CliRunner) and the real
``hc`` program, both on a cache in a temporary folder (never the user's cache)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer.testing
from typer.main import get_command
from typer.testing import CliRunner, Result

from httpcache_cli import config
from httpcache_cli.app import app
from tests.support.origin import Origin

Invoke = Callable[..., Result]
_COMMAND = get_command(app)


@pytest.fixture(autouse=True, scope="session")
def _one_command_tree() -> Iterator[None]:
    """Build the click tree of the app once, not at every CliRunner call (typer takes
    tens of milliseconds to build it; a process of hc builds it once too)."""
    original = typer.testing._get_command
    typer.testing._get_command = lambda typer_app: (
        _COMMAND if typer_app is app else original(typer_app)
    )
    yield
    typer.testing._get_command = original


def hc_command() -> list[str]:
    """The installed ``hc`` of this environment (or ``python -m httpcache_cli``)."""
    local = Path(sys.executable).parent / "hc"
    if local.exists():
        return [str(local)]
    found = shutil.which("hc")
    return [found] if found else [sys.executable, "-m", "httpcache_cli"]


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HC_") and k != "NO_COLOR"}
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HC_* settings of the person running the tests; fresh memory caches."""
    for variable in config.ENV.values():
        monkeypatch.delenv(variable, raising=False)
    config._MEMORY.clear()
    yield
    config._MEMORY.clear()


@pytest.fixture(scope="session")
def _shared_origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


@pytest.fixture
def origin(_shared_origin: Origin) -> Origin:
    """The origin of tests/support, started once for these tests (stopping one takes
    half a second); routes and the request log are emptied for each test."""
    _shared_origin.routes.clear()
    with _shared_origin._lock:
        _shared_origin.log.clear()
    return _shared_origin


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def hc(cache_dir: Path) -> Invoke:
    """``hc(*args)``: run the app in this process with ``--cache-dir`` set."""
    runner = CliRunner()

    def invoke(
        *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return runner.invoke(app, ["--cache-dir", str(cache_dir), *args], input=input, env=env)

    return invoke


@pytest.fixture
def hc_run(cache_dir: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """``hc_run(*args)``: the real program in a subprocess, on the test's cache."""

    def run(
        *args: str, env: dict[str, str] | None = None, **kwargs: object
    ) -> subprocess.CompletedProcess[bytes]:
        environment = clean_environment(HC_CACHE_DIR=str(cache_dir), **(env or {}))
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run([*hc_command(), *args], env=environment, **kwargs)  # type: ignore[call-overload]

    return run
