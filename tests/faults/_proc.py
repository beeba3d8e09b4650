"""Helpers of the fault battery: stores described so a child process can open them,
an origin whose bodies can be checked, child processes with bounded waits, and a
tracer that kills its own process at the N-th line run in the storage code.

Children never share objects with the parent: each opens the store from its
``Store`` description, as a separate program would.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

import httpcache.caches
from httpcache.caches.base import BaseCache
from tests.support.origin import Origin, Reply, Seen

#: Where the storage code lives: the tracer counts lines run in these files only.
CACHES_DIR = os.path.dirname(os.path.abspath(httpcache.caches.__file__)) + os.sep
#: Modules a forked child needs; the fork server imports them once.
PRELOAD = ["tests.faults._proc", "httpcache.caches.sqlite", "httpcache.caches.file"]
PRELOAD += ["httpcache.caches.separate_body", "httpcache.caches.redis", "httpcache.session"]

SPAWN = multiprocessing.get_context("spawn")


def fast_context() -> Any:
    """A context whose children start in milliseconds: forked from a server that has
    imported httpcache once (spawn where there is no fork server)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return SPAWN
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


# ---- stores ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """A backend and where it keeps its data; ``open()`` builds a cache on it."""

    backend: str  # a name of httpcache.caches.BACKENDS, or "redis-cluster"
    location: str = ""  # a path, or a Redis URL
    namespace: str = "faults"
    max_size: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def open(self) -> BaseCache:
        options: dict[str, Any] = dict(self.options)
        if self.max_size is not None:
            options["max_size"] = self.max_size
        if self.backend == "memory":
            return httpcache.caches.DictCache(**options)
        if self.backend == "sqlite":
            return httpcache.caches.SQLiteCache(self.location, **options)
        if self.backend == "filesystem":
            return httpcache.caches.FileCache(self.location, **options)
        if self.backend == "separate-body":
            return httpcache.caches.SeparateBodyFileCache(self.location, **options)
        cluster = self.backend == "redis-cluster"
        return httpcache.caches.RedisCache(
            url=self.location, namespace=self.namespace, cluster=cluster, **options
        )

    @property
    def folder(self) -> Path:
        """The folder holding a file backend's or SQLite's files."""
        path = Path(self.location)
        return path.parent if self.backend == "sqlite" else path

    @property
    def sqlite_path(self) -> Path:
        return Path(self.location + ("" if Path(self.location).suffix else ".sqlite"))


def files_under(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative path -> bytes)."""
    found = {}
    for top, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(top, name)
            with contextlib.suppress(FileNotFoundError):
                found[os.path.relpath(path, folder)] = os.lstat(path).st_size
    return found


def held_locks(folder: Path) -> list[str]:
    """Lock files under ``folder/.locks`` that some process holds (flock)."""
    held = []
    for path in sorted((folder / ".locks").glob("*.lock")):
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(path.name)
            finally:
                os.close(fd)
    return held


# ---- an origin whose every body can be checked -------------------------------------------


def body_for(path: str, version: int, size: int) -> bytes:
    """Version ``version`` of the body of ``path``: ``size`` bytes, none of them zero."""
    seed = f"<{path} v{version}>".encode()
    return (seed * (size // len(seed) + 1))[:size]


def check_response(path: str, size: int, status: int, headers: Any, body: bytes) -> str | None:
    """What is wrong with a response to ``path``, or None: it must be a body the origin
    sent, whole, with the version its headers name."""
    version = headers.get("X-Version")
    if status != 200 or version is None:
        return f"{path}: status {status}, X-Version {version!r}"
    expected = body_for(path, int(version), size)
    if body != expected:
        return f"{path} v{version}: {len(body)} bytes, {len(expected)} expected ({body[:40]!r})"
    return None


@dataclass
class Versioned:
    """An origin route: each full (200) response is a new version; a conditional request
    for the current version gets 304."""

    path: str
    size: int
    cache_control: str = "max-age=600"
    version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, seen: Seen) -> Reply:
        with self.lock:
            current = f'"{self.path}-{self.version}"'
            if self.version and seen.headers.get("if-none-match") == current:
                headers = {"ETag": current, "X-Version": str(self.version)}
                headers["Cache-Control"] = self.cache_control
                return Reply(304, headers)
            self.version += 1
            version = self.version
        headers = {"ETag": f'"{self.path}-{version}"', "X-Version": str(version)}
        headers["Cache-Control"] = self.cache_control
        headers["Content-Type"] = "application/octet-stream"
        return Reply(200, headers, body_for(self.path, version, self.size))


def serve_versioned(origin: Origin, path: str, size: int, cache_control: str = "max-age=600"):
    route = Versioned(path, size, cache_control)
    origin.route(path, route)
    return route


# ---- child processes -------------------------------------------------------------------


def run_children(
    context: Any, target: Callable[..., None], argsets: list[tuple[Any, ...]], timeout: float
) -> list[Any]:
    """Run ``target(*args, conn)`` in one child per argument tuple; return what each
    sends on ``conn``. A child that does not answer within ``timeout`` seconds (all
    together) is killed and reported as ``"timeout"``."""
    started = []
    for args in argsets:
        parent_end, child_end = context.Pipe()
        child = context.Process(target=target, args=(*args, child_end), daemon=True)
        child.start()
        child_end.close()
        started.append((parent_end, child))
    deadline = time.monotonic() + timeout
    replies: list[Any] = []
    try:
        for parent_end, child in started:
            left = max(0.0, deadline - time.monotonic())
            if parent_end.poll(left):
                try:
                    replies.append(parent_end.recv())
                except EOFError:
                    replies.append(f"exited with {child.join(5) or child.exitcode}")
            else:
                replies.append("timeout")
    finally:
        for _, child in started:
            child.join(max(0.0, deadline - time.monotonic()) + 1)
            if child.is_alive():
                child.kill()
                child.join(5)
    return replies


def report_errors(conn: Connection, work: Callable[[], Any]) -> None:
    """Child side: send ``work()``'s result, or the traceback of what it raised."""
    try:
        result = work()
    except BaseException:
        conn.send(("crash", traceback.format_exc()))
    else:
        conn.send(result)
    finally:
        conn.close()


class KillAt:
    """A trace function that sends SIGKILL to this process at the ``kill_at``-th line
    run in the storage code (``httpcache/caches``). It also notes at which line the
    first ``commit`` began, so a dry run tells where the commit part of a write is."""

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at
        self.lines = 0
        self.commit_at: int | None = None

    def __enter__(self) -> KillAt:
        sys.settrace(self._call)
        return self

    def __exit__(self, *_: object) -> None:
        sys.settrace(None)

    def _call(self, frame: FrameType, event: str, arg: object) -> Any:
        if not frame.f_code.co_filename.startswith(CACHES_DIR):
            return None
        if self.commit_at is None and frame.f_code.co_name == "commit":
            self.commit_at = self.lines
        return self._line

    def _line(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.lines += 1
            if self.lines == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return self._line


def spread(start: int, stop: int, count: int) -> list[int]:
    """``count`` points evenly spread over ``[start, stop]`` (fewer if the range is short)."""
    if stop <= start or count <= 1:
        return [max(start, 1)]
    return sorted({max(1, start + (stop - start) * i // (count - 1)) for i in range(count)})


# ---- a tiny file system ------------------------------------------------------------------


@contextlib.contextmanager
def tiny_tmpfs(size: int) -> Iterator[Path | None]:
    """A fresh tmpfs of ``size`` bytes (a full disk, a read-only remount), or None where
    this machine does not let us mount one."""
    folder = Path(tempfile.mkdtemp(prefix="httpcache-tmpfs-"))
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
            capture_output=True,
            timeout=10,
            check=False,
        )
        mounted = result.returncode == 0
    except (OSError, subprocess.SubprocessError):
        mounted = False
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=10)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def remount(folder: Path, mode: str) -> None:
    """Remount a ``tiny_tmpfs`` read-only (``"ro"``) or writable again (``"rw"``)."""
    subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(folder)], check=True, capture_output=True, timeout=10
    )
