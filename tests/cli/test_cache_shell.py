"""The cache from the shell, run as the installed ``hc``: a listing that fits the
terminal, URLs as typed, globs, short prefixes, compact, escaped server strings."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import clean_environment, hc_command
from tests.support.origin import Origin, Reply

Run = Callable[..., subprocess.CompletedProcess[bytes]]
CACHEABLE = {"Cache-Control": "max-age=3600", "ETag": '"c"'}
LONG_PATH = "/catalogue/2024/departments/engineering/reports/quarterly/summary-final.json"


def on_terminal(args: list[str], env: dict[str, str], columns: int = 80) -> str:
    """Run hc on a pseudo-terminal ``columns`` wide; return what it showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [*hc_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": str(columns), "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(30)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def visible(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.fixture
def env(cache_dir: Path) -> dict[str, str]:
    return clean_environment(HC_CACHE_DIR=str(cache_dir))


@pytest.fixture
def filled(hc_run: Run, origin: Origin) -> list[str]:
    urls = [
        origin.route(LONG_PATH, Reply(200, CACHEABLE, b"x" * 12345)) + "?view=full&lang=en",
        origin.route("/api/users", Reply(200, CACHEABLE, b"[]")),
        origin.route("/api/items", Reply(200, CACHEABLE, b"[]")),
        origin.route("/static/app.js", Reply(200, CACHEABLE, b"js")),
    ]
    for url in urls:
        assert hc_run("get", url).returncode == 0
    return urls


# ---- 7. the listing -----------------------------------------------------------------------------


def test_listing_fits_80_columns_one_line_per_entry(
    filled: list[str], env: dict[str, str], origin: Origin
) -> None:
    shown = visible(on_terminal(["cache", "ls"], env)).strip("\n").splitlines()
    header, *rows, caption = shown
    assert header.split() == ["KEY", "URL", "STATUS", "SIZE", "EXPIRES"]  # all GET
    assert len(rows) == 4 and caption.strip() == "4 entries"
    assert all(len(line) <= 80 for line in shown), shown
    long_row = next(row for row in rows if "12.3 kB" in row)
    port = origin.base.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}/\u2026" in long_row  # the host, then the elided middle
    assert "summary-final.json?\u2026" in long_row  # the end of the path kept
    wide = visible(on_terminal(["cache", "ls", "--wide"], env, columns=200))
    assert "STATE" in wide and "AGE" in wide
    assert filled[0].split("?")[0].removeprefix("http://") in wide


def test_url_filter_matches_the_url_as_typed(
    hc_run: Run, filled: list[str], origin: Origin
) -> None:
    typed = origin.base.removeprefix("http://") + LONG_PATH + "?lang=en&view=full"
    listed = hc_run("cache", "ls", "--url", typed)
    assert listed.returncode == 0
    rows = listed.stdout.decode().splitlines()[1:]
    assert len(rows) == 1 and "summary-final.json" in rows[0]
    reordered = origin.url(LONG_PATH + "?view=full&lang=en").upper().replace("HTTP://", "http://")
    assert hc_run("cache", "ls", "--url", reordered).stdout.decode().count("summary") == 0
    same_case = origin.url(LONG_PATH).replace("127.0.0.1", "127.0.0.1") + "?view=full&lang=en"
    assert hc_run("cache", "ls", "--url", same_case).stdout.decode().count("summary") == 1
    globbed = hc_run("cache", "ls", "--url", "*/api/*").stdout.decode()
    assert globbed.count("/api/") == 2


def test_rm_takes_globs_and_short_prefixes_say_so(
    hc_run: Run, filled: list[str], origin: Origin
) -> None:
    removed = hc_run("cache", "rm", origin.base + "/api/*")
    assert removed.returncode == 0
    assert removed.stdout == b"removed 2 entries\n"
    left = hc_run("cache", "ls").stdout.decode()
    assert "/api/" not in left and "app.js" in left
    nothing = hc_run("cache", "rm", origin.base + "/none/*")
    assert nothing.returncode == 66
    short = hc_run("cache", "inspect", "ab")
    assert short.returncode == 64
    assert short.stderr.decode().startswith("hc: error: key prefix 'ab' is too short")
    assert len(short.stderr.splitlines()) == 1
    one = hc_run("cache", "rm", origin.url("/static/app.js"))
    assert one.stdout == b"removed 1 entry\n"


# ---- 8. compact, a damaged store, a read-only cache ---------------------------------------------


def test_compact_gives_space_back(hc_run: Run, origin: Origin, cache_dir: Path) -> None:
    for index in range(40):
        url = origin.route(f"/bulk/{index}", Reply(200, CACHEABLE, os.urandom(64 * 1024)))
        assert hc_run("get", url).returncode == 0
    assert hc_run("cache", "clear", "--yes").returncode == 0
    database = cache_dir / "http_cache.sqlite"
    before = database.stat().st_size
    done = hc_run("cache", "compact")
    assert done.returncode == 0, done.stderr
    after = database.stat().st_size
    if done.stdout.startswith(b"gave back "):  # the backend compacts (SQLite's VACUUM)
        assert after < before
    else:  # a backend without compaction gives nothing back and changes nothing
        assert done.stdout == b"nothing to give back\n"
        assert after == before
    assert hc_run("cache", "ls").returncode == 0


def test_clear_works_on_a_damaged_store(hc_run: Run, origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/d", Reply(200, CACHEABLE, b"d"))
    assert hc_run("get", url).returncode == 0
    database = cache_dir / "http_cache.sqlite"
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    assert tables
    data = bytearray(database.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page is garbage now
    database.write_bytes(bytes(data))
    cleared = hc_run("cache", "clear", "--yes")
    assert "Traceback" not in cleared.stderr.decode()
    assert cleared.returncode == 0, cleared.stderr
    assert hc_run("get", url).stdout == b"d"


def read_only_runner(
    cache_dir: Path, env: dict[str, str]
) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """hc with the cache's files and folder read-only for it (as root: without the
    capability that overrides file modes, so the modes apply as to anyone)."""
    import shutil

    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is needed to drop root's override of file modes")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    for path in [cache_dir, *cache_dir.iterdir()]:
        path.chmod(0o500 if path.is_dir() else 0o400)

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*prefix, *hc_command(), *args], capture_output=True, env=env)

    return run


@pytest.fixture
def writable_again(cache_dir: Path) -> Iterator[None]:
    yield
    for path in [cache_dir, *cache_dir.iterdir()]:
        path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.mark.usefixtures("writable_again")
def test_a_read_only_cache_serves_hits(
    hc_run: Run, origin: Origin, cache_dir: Path, env: dict[str, str]
) -> None:
    url = origin.route("/ro", Reply(200, CACHEABLE, b"ro"))
    assert hc_run("get", url).returncode == 0
    run = read_only_runner(cache_dir, env)
    assert run("get", "-o", str(cache_dir / "probe"), url).returncode != 0  # truly read-only
    served = run("get", url)
    assert served.stdout == b"ro", served.stderr
    assert served.stderr == b"", served.stderr
    assert origin.hits("/ro") == 1


@pytest.mark.usefixtures("writable_again")
def test_a_read_only_cache_can_be_listed(
    hc_run: Run, origin: Origin, cache_dir: Path, env: dict[str, str]
) -> None:
    url = origin.route("/ro", Reply(200, CACHEABLE, b"ro"))
    assert hc_run("get", url).returncode == 0
    listed = read_only_runner(cache_dir, env)("cache", "ls")
    assert listed.returncode == 0, listed.stderr
    assert url.removeprefix("http://") in listed.stdout.decode()


# ---- 6. server strings are escaped; extreme values are one-line errors --------------------------


def test_control_characters_from_the_server_are_escaped(
    hc_run: Run, origin: Origin, env: dict[str, str]
) -> None:
    evil = {**CACHEABLE, "X-Evil": "a\x1b]0;owned\x07b\x1b[2J", "Location": "/x\x1b[31m"}
    url = origin.route("/evil", Reply(301, evil, b"body"))
    head = hc_run("get", "-h", url).stdout.decode()
    assert "X-Evil: a\\x1b]0;owned\\x07b\\x1b[2J" in head
    assert "\x1b" not in head and "\x07" not in head
    verbose = hc_run("get", "-v", url).stderr.decode()
    assert "\\x1b]0;owned" in verbose and "\x1b" not in verbose
    listing = hc_run("cache", "inspect", url).stdout.decode()
    assert "\\x1b]0;owned" in listing and "\x1b" not in listing
    shown = on_terminal(["get", url], env)  # the status line for a 301 on a terminal
    assert "owned" not in shown.replace("\\x1b]0;owned", "")
    assert "\x07" not in shown and "\x1b]0" not in shown


@pytest.mark.parametrize(
    "args",
    [
        ["get", "--timeout", "inf", "x.test"],
        ["get", "--timeout", "1e400", "x.test"],
        ["get", "--expire-after", "1000000w", "x.test"],
        ["--expire-after", "99999999999d", "cache", "ls"],
        ["get", "--timeout", "-5", "x.test"],
        ["--heuristic", "expires-after=1000000w", "get", "x.test"],
    ],
    ids=" ".join,
)
def test_extreme_values_are_one_line_errors(args: list[str], hc_run: Run) -> None:
    done = hc_run(*args)
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert done.returncode != 70, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("hc: error: ")
