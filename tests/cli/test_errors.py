"""Every error: one line on stderr with a hint, a documented exit status, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from httpcache_cli import fetching
from httpcache_cli.exit_codes import ExitStatus, for_http_status
from tests.cli.conftest import Invoke
from tests.support.origin import Origin, Reply


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_line(stderr: str, *words: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("hc: error: ")
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["get", "ftp://example.org/"], 64, ["unsupported URL scheme", "(hint: "]),
        (["get", "http://"], 64, ["bad URL", "(hint: "]),
        (["get", "http://host:99999/"], 64, ["bad URL"]),
        (["get", "--expire-after", "soon", "x.test"], 64, ["duration", "(hint: "]),
        (["--expire-after", "3x", "stats"], 64, ["duration"]),
        (["--heuristic", "sometimes", "get", "x.test"], 64, ["unknown heuristic", "(hint: "]),
        (["--heuristic", "expires-after=", "get", "x.test"], 64, ["unknown heuristic"]),
        (["--heuristic", "expires-after=zz", "get", "x.test"], 64, ["duration"]),
        (["get", "-H", "no colon", "x.test"], 64, ["bad header", "-H 'Name: value'"]),
        (["get", "--param", "novalue", "x.test"], 64, ["bad query parameter"]),
        (["get", "x.test", "novalue"], 64, ["bad request item", "(hint: "]),
        (["get", "x.test", "=value"], 64, ["bad request item", "no name"]),
        (["post", "x.test", "n:={nope"], 64, ["not valid JSON"]),
        (["post", "x.test", "f@/no/such/file"], 64, ["cannot read"]),
        (["post", "--form", "x.test", "n:=1"], 64, ["cannot carry"]),
        (["post", "--json", "--form", "x.test"], 64, ["contradict"]),
        (["get", "-p", "hx", "x.test"], 64, ["--print", "'x'"]),
        (["get", "--pretty", "loud", "x.test"], 64, ["--pretty"]),
        (["get", "--style", "nope", "x.test"], 64, ["--style"]),
        (["get", "--timeout", "inf", "x.test"], 64, ["--timeout", "out of range"]),
        (["get", "--timeout", "nan", "x.test"], 64, ["--timeout"]),
        (["get", "--timeout", "1e308", "x.test"], 64, ["--timeout"]),
        (["get", "--max-redirects", "-1", "x.test"], 64, ["--max-redirects"]),
        (["get", "--expire-after", "1000000w", "x.test"], 64, ["--expire-after"]),
        (["--expire-after", "1000000w", "get", "x.test"], 64, ["--expire-after"]),
        (["--heuristic", "expires-after=1000000w", "get", "x.test"], 64, ["--heuristic"]),
        (["get", "-c", "x.test"], 64, ["--continue needs -o"]),
        (["get", "--verify", "/no/such/ca.pem", "x.test"], 64, ["--verify", "CA bundle"]),
        (["get", "-k", "--verify", "yes", "x.test"], 64, ["contradict"]),
        (["get", "--cert", "/no/such.pem", "x.test"], 64, ["--cert"]),
        (["get", "-A", "bearer", "x.test"], 64, ["--auth-type without --auth"]),
        (["get", "-a", "u:p", "-A", "kerberos", "x.test"], 64, ["--auth-type"]),
        (["request", "PO ST", "x.test"], 64, ["bad method"]),
        (["request", "POST", "x.test", "--raw", "a", "b=1"], 64, ["both give the body"]),
        (["request", "POST", "x.test", "--json", "--raw", "{nope"], 64, ["not valid JSON"]),
        (["get", "--no-cache", "--refresh", "x.test"], 64, ["contradict"]),
        (["get", "--nope", "x.test"], 64, ["No such option", "(hint: see 'hc get --help')"]),
        (["get"], 64, ["Missing argument"]),
        (["nope"], 64, ["No such command"]),
        (["--backend", "nope", "stats"], 64, ["nope"]),
        (["get", "--timeout", "0", "x.test"], 64, ["--timeout"]),
        (["--cache-name", "a/b", "stats"], 64, ["bad cache name"]),
        (["cache", "inspect", "abcdef"], 66, ["no cached entry", "hc cache ls"]),
        (["cache", "rm", "http://x.test/nothing"], 66, ["no cached entry"]),
        (
            ["--backend", "redis", "--redis-url", "redis://127.0.0.1:{port}/0", "stats"],
            69,
            ["Redis"],
        ),
        (["--backend", "redis", "--redis-url", "nope://x", "stats"], 64, ["bad Redis URL"]),
    ],
)
def test_usage_and_cache_errors(hc: Invoke, args: list[str], status: int, words: list[str]) -> None:
    args = [a.replace("{port}", str(closed_port())) for a in args]
    result = hc(*args)
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    assert_one_line(result.stderr, *words)


def test_connection_refused(hc: Invoke) -> None:
    result = hc("get", f"http://127.0.0.1:{closed_port()}/")
    assert result.exit_code == ExitStatus.ERROR
    assert_one_line(result.stderr, "connection refused", "--offline")


def test_unknown_host(hc: Invoke) -> None:
    result = hc("get", "http://no-such-host.invalid/")
    assert result.exit_code == ExitStatus.ERROR
    assert_one_line(result.stderr, "no-such-host.invalid")


def test_unwritable_cache_folder(hc: Invoke, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/x", Reply(200, {}, b""))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = hc("--cache-dir", str(blocker / "cache"), "get", url)
    assert result.exit_code == ExitStatus.ERROR_CANNOT_WRITE
    assert_one_line(result.stderr, "cache folder", "--cache-dir")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = hc("--cache-dir", str(locked), "get", url)
    if result.exit_code == 0:  # root may write anywhere
        pytest.skip("running as root: permissions are not enforced")
    assert result.exit_code == ExitStatus.ERROR_CANNOT_WRITE


def test_cache_folder_is_created_private(hc: Invoke, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/p", Reply(200, {"Cache-Control": "max-age=60"}, b""))
    folder = tmp_path / "deep" / "cache"
    assert hc("--cache-dir", str(folder), "get", url).exit_code == 0
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700


def test_damaged_database(hc: Invoke, origin: Origin, cache_dir: Path) -> None:
    cache_dir.mkdir(mode=0o700)
    (cache_dir / "http_cache.sqlite").write_bytes(b"this is not a database" * 100)
    listing = hc("cache", "ls")
    moved_aside = listing.exit_code == 0  # the backend set the file aside, started anew
    if moved_aside:
        assert listing.stderr.startswith("hc: warning: ")
        assert len(listing.stderr.splitlines()) == 1
        assert "moved aside" in listing.stderr
    else:
        assert listing.exit_code == ExitStatus.ERROR_STORAGE
        assert_one_line(listing.stderr, "the cache failed", "hc cache clear")
    # Fetching works: on the new cache, or through the network with a warning.
    url = origin.route("/d", Reply(200, {"Cache-Control": "max-age=60"}, b"live"))
    fetched = hc("get", url)
    assert fetched.exit_code == 0
    assert fetched.stdout_bytes == b"live"
    assert fetched.stderr == "" if moved_aside else fetched.stderr.startswith("hc: warning: ")
    assert "Traceback" not in fetched.stderr


def test_internal_error_is_one_line(
    hc: Invoke, origin: Origin, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(fetching, "_deliver", broken)
    url = origin.route("/boom", Reply(200, {}, b""))
    result = hc("get", url)
    assert result.exit_code == ExitStatus.ERROR_INTERNAL
    assert_one_line(result.stderr, "internal error: RuntimeError: boom", "report")


def test_ctrl_c(hc: Invoke, origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fetching, "_deliver", interrupted)
    url = origin.route("/int", Reply(200, {}, b""))
    result = hc("get", url)
    assert result.exit_code == ExitStatus.ERROR_CTRL_C
    assert "Traceback" not in result.output


def test_statuses_are_distinct() -> None:
    values = [int(s) for s in ExitStatus]
    assert len(values) == len(set(values))
    assert (ExitStatus.ERROR_TIMEOUT, ExitStatus.ERROR_CTRL_C) == (2, 130)  # httpie's numbers
    assert for_http_status(302) == 3
    assert for_http_status(302, followed=True) == 0
    assert for_http_status(418) == 4
    assert for_http_status(500) == 5
    assert for_http_status(204) == 0
