"""The installed ``hc`` as people run it: a real process against a local server."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cli.conftest import clean_environment, hc_command
from tests.support.origin import Origin, Reply, Seen

Run = Callable[..., subprocess.CompletedProcess[bytes]]
CACHEABLE = {"Cache-Control": "max-age=3600", "ETag": '"p"'}
BIG = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB, not text


def no_traceback(done: subprocess.CompletedProcess[bytes]) -> str:
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    return stderr


def test_download_with_output(hc_run: Run, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/big.bin", Reply(200, CACHEABLE, BIG))
    target = tmp_path / "big.bin"
    done = hc_run("get", "-o", str(target), url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    assert target.read_bytes() == BIG
    again = tmp_path / "again.bin"
    assert hc_run("get", "-o", str(again), url).returncode == 0  # from the cache
    assert again.read_bytes() == BIG
    assert origin.hits("/big.bin") == 1


def test_stdout_redirected_to_a_file_is_byte_for_byte(
    hc_run: Run, origin: Origin, tmp_path: Path
) -> None:
    url = origin.route("/pipe.bin", Reply(200, CACHEABLE, BIG))
    for name in ("miss.bin", "hit.bin"):
        with open(tmp_path / name, "wb") as sink:
            done = hc_run("get", url, stdout=sink, capture_output=False, stderr=subprocess.PIPE)
        assert done.returncode == 0
        assert (tmp_path / name).read_bytes() == BIG
    assert origin.hits("/pipe.bin") == 1


def test_offline_hit_after_the_server_is_gone(hc_run: Run) -> None:
    server = Origin()  # its own server: this test stops it
    url = server.route("/gone", Reply(200, CACHEABLE, b"still here"))
    other = server.url("/never-fetched")
    assert hc_run("get", url).returncode == 0
    server.close()
    offline = hc_run("get", "--offline", url)
    assert offline.returncode == 0
    assert offline.stdout == b"still here"
    assert hc_run("get", url).stdout == b"still here"  # fresh: no need of the server
    missing = hc_run("get", "--offline", other)
    assert missing.returncode == 7
    assert "not in the cache" in no_traceback(missing)
    refused = hc_run("get", other)
    assert refused.returncode == 1
    assert "connection refused" in no_traceback(refused)


def test_head_and_verbose(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/hv", Reply(200, CACHEABLE, b"x"))
    head = hc_run("head", url)
    assert head.stdout.startswith(b"HTTP/1.1 200 OK\n")
    verbose = hc_run("get", "-v", url)
    assert verbose.stdout == b"x"
    assert b"Cache-Status: httpcache; fwd=uri-miss" in verbose.stderr
    assert b"Cache-Status: httpcache; hit" in hc_run("get", "-v", url).stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_error_cases_and_exit_codes(hc_run: Run, origin: Origin, tmp_path: Path) -> None:
    release = threading.Event()

    def slow(_seen: Seen) -> Reply:
        release.wait(5)
        return Reply(200, {}, b"")

    slow_url = origin.route("/slow", slow)
    missing_url = origin.route("/missing", Reply(404, {}, b"no"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (["get", "ftp://example.org/"], 64),
        (["get", "--expire-after", "whenever", missing_url], 64),
        (["inspect", "0123456789abcdef"], 66),
        (["--backend", "redis", "--redis-url", f"redis://127.0.0.1:{closed_port()}", "ls"], 64),
        (["--backend", "redis", "--redis-url", f"redis://127.0.0.1:{closed_port()}", "stats"], 69),
        (["--cache-dir", str(blocker / "sub"), "get", missing_url], 73),
        (["get", "--timeout", "0.3", slow_url], 2),
        (["get", "--offline", missing_url], 7),
        (["get", "--check-status", missing_url], 4),
        (["get", f"http://127.0.0.1:{closed_port()}/"], 1),
    ]
    try:  # side by side: each is a whole process
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda case: hc_run(*case[0]), cases))
        for (args, status), done in zip(cases, results, strict=True):
            stderr = no_traceback(done)
            assert done.returncode == status, (args, stderr)
            lines = stderr.strip().splitlines()
            assert len(lines) == 1, (args, stderr)
            assert lines[0].startswith(("hc: error: ", "hc: warning: HTTP 404")), stderr
    finally:
        release.set()


def test_broken_pipe_is_quiet(origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/long", Reply(200, CACHEABLE, BIG))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    proc = subprocess.Popen(
        [*hc_command(), "get", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(10)) == 10  # as `hc get URL | head -c 10`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(30) == 141
    assert stderr == ""


def test_python_dash_m(origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/m", Reply(200, CACHEABLE, b"module"))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    done = subprocess.run(
        [sys.executable, "-m", "httpcache_cli", "get", url], capture_output=True, env=env
    )
    assert done.stdout == b"module"
    version = subprocess.run(
        [sys.executable, "-m", "httpcache_cli", "--version"], capture_output=True, env=env
    )
    assert version.stdout.decode().startswith("hc ")


def test_a_hit_imports_neither_requests_nor_typer_nor_rich_nor_redis(
    origin: Origin, cache_dir: Path
) -> None:
    url = origin.route("/lean", Reply(200, CACHEABLE, b"lean"))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    command = [sys.executable, "-X", "importtime", "-m", "httpcache_cli", "get", url]
    subprocess.run(command, capture_output=True, env=env, check=True)  # stores
    hit = subprocess.run(command, capture_output=True, env=env, check=True)
    assert hit.stdout == b"lean"
    imported = imported_packages(hit.stderr)
    assert "httpcache" in imported and "sqlite3" in imported
    for heavy in ("requests", "urllib3", "rich", "redis", "typer", "pydantic", "click"):
        assert heavy not in imported, heavy
    miss = subprocess.run(  # the full path, for contrast: requests is there
        [*command[:-1], origin.route("/other", Reply(200, CACHEABLE, b"x"))],
        capture_output=True,
        env=env,
        check=True,
    )
    assert "requests" in imported_packages(miss.stderr)


def imported_packages(importtime: bytes) -> set[str]:
    """Top-level names of the packages ``python -X importtime`` reports."""
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in importtime.decode().splitlines()
        if line.startswith("import time:")
    }


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run hc with stdout and stderr on a pseudo-terminal; return what it showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*hc_command(), *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(30)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(
    origin: Origin, cache_dir: Path, tmp_path: Path
) -> None:
    url = origin.route("/colour", Reply(200, CACHEABLE, b"x"))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir), TERM="xterm-256color")
    coloured = run_on_a_terminal(["get", "-v", url], env)
    assert "\x1b[" in coloured
    assert "Cache-Status" in coloured
    plain = run_on_a_terminal(["get", "-v", url], {**env, "NO_COLOR": "1"})
    assert "Cache-Status" in plain
    assert "\x1b[" not in plain.replace("\x1b[?25l", "").replace("\x1b[?25h", "")
    piped = subprocess.run([*hc_command(), "get", "-v", url], capture_output=True, env=env)
    assert b"\x1b[" not in piped.stderr


def test_progress_bar_on_a_terminal(origin: Origin, cache_dir: Path, tmp_path: Path) -> None:
    url = origin.route("/bar.bin", Reply(200, CACHEABLE, BIG))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir), TERM="xterm-256color")
    shown = run_on_a_terminal(["get", "-o", str(tmp_path / "bar.bin"), url], env)
    assert "bar.bin" in shown
    assert "MB" in shown
    assert (tmp_path / "bar.bin").read_bytes() == BIG


def test_binary_body_is_not_dumped_on_a_terminal(origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/raw.bin", Reply(200, CACHEABLE, b"\x00\x01\x02" * 100))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    shown = run_on_a_terminal(["get", url], env)
    assert "binary body" in shown
    assert "\x00" not in shown


@pytest.mark.parametrize("args", [["get", "--help"], []])
def test_help(args: list[str], cache_dir: Path) -> None:
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    done = subprocess.run([*hc_command(), *args], capture_output=True, env=env)
    assert done.returncode == 0
    assert b"Usage: hc" in done.stdout


def test_ctrl_c_exits_130_quietly(origin: Origin, cache_dir: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(_seen: Seen) -> Reply:
        started.set()
        release.wait(10)
        return Reply(200, {}, b"")

    url = origin.route("/wait", slow)
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    proc = subprocess.Popen([*hc_command(), "get", url], stderr=subprocess.PIPE, env=env)
    try:
        assert started.wait(30)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        release.set()
    assert proc.stderr is not None
    assert "Traceback" not in proc.stderr.read().decode()
