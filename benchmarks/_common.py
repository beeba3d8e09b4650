"""What every benchmark shares: a local origin in its own process, tables, results."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@contextmanager
def origin_process(size: int = 1024) -> Iterator[str]:
    """Start ``benchmarks._origin`` on a free port; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._origin", str(size)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def origin_count(base: str, path: str) -> int:
    with urllib.request.urlopen(f"{base}/_count{path}", timeout=10) as reply:
        return int(reply.read())


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_results(name: str, data: object) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "data": data}
    path.write_text(json.dumps(stamped, indent=2))
    return path


def origin_sum(base: str, prefix: str) -> int:
    """Requests received by every path that starts with ``prefix``."""
    with urllib.request.urlopen(f"{base}/_sum{prefix}", timeout=10) as reply:
        return int(reply.read())


def origin_304(base: str, prefix: str) -> int:
    """Of those, how many were answered 304 Not Modified."""
    with urllib.request.urlopen(f"{base}/_304{prefix}", timeout=10) as reply:
        return int(reply.read())


# ---- a private Redis ------------------------------------------------------------------


def _free_port() -> int:
    import socket

    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 6379:
            return port


@contextmanager
def redis_server() -> Iterator[str | None]:
    """A private ``redis-server`` on a free loopback port (never 6379); its URL.

    Yields None when ``redis-server`` or the ``redis`` client is not installed.
    """
    import shutil
    import tempfile

    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if binary is None or redis is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder]
        proc = subprocess.Popen(
            [*args, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
            deadline = time.monotonic() + 15
            while True:
                try:
                    if client.ping():
                        break
                except redis.RedisError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                time.sleep(0.02)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait(10)


@contextmanager
def workplace(size: int, redis: bool = True) -> Iterator[tuple[Path, str, str | None]]:
    """A temporary folder, an origin serving ``size`` bytes and, with ``redis``, a
    private Redis: yields the folder, the origin's base URL and Redis's URL (None
    without Redis)."""
    with (
        tempfile.TemporaryDirectory() as folder,
        origin_process(size) as base,
        redis_server() if redis else nullcontext() as redis_url,
    ):
        yield Path(folder), base, redis_url


def getter(
    session: Any, url: str, body: bytes, name: str, headers: dict[str, str] | None = None
) -> Callable[[], None]:
    """A call that GETs ``url`` through ``session`` and checks the body."""

    def call() -> None:
        if session.get(url, headers=headers).content != body:
            raise AssertionError(f"{name}: wrong body")

    return call


# ---- results ------------------------------------------------------------------------------


@dataclass
class Goal:
    """One goal of the issue: what it asks, whether it was met, and by how much."""

    text: str
    met: bool | None  # None: not measured (a library or a tool is missing)
    detail: str = ""


@dataclass
class Result:
    """What one scenario reports: a table, its goals, and the raw numbers."""

    name: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    goals: list[Goal] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.goals:
            lines.append("")
            for goal in self.goals:
                verdict = {True: "met", False: "NOT met", None: "not measured"}[goal.met]
                detail = f" ({goal.detail})" if goal.detail else ""
                lines.append(f"- {goal.text}: **{verdict}**{detail}")
        lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)

    def text(self) -> str:
        out = [self.title, table(self.headers, self.rows)]
        for goal in self.goals:
            verdict = {True: "met", False: "NOT MET", None: "not measured"}[goal.met]
            out.append(f"  goal: {goal.text}: {verdict} {goal.detail}".rstrip())
        out.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "headers": self.headers,
            "rows": self.rows,
            "goals": [goal.__dict__ for goal in self.goals],
            "notes": self.notes,
            "data": self.data,
        }


class BenchmarkError(AssertionError):
    """A check failed: a hit that was not one, a wrong body, an error."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchmarkError(message)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_us(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e6:.0f} µs"
