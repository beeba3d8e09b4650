"""What an httpie user types, run as the installed ``hc`` against the local origin.

Request items and the method commands, --print and its shortcuts, pretty JSON,
status lines, exit statuses, global options after the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import clean_environment, hc_command
from tests.cli.test_process import run_on_a_terminal
from tests.support.origin import Origin, Reply, Seen
from tests.support.without_redis import WITHOUT_REDIS

Run = Callable[..., subprocess.CompletedProcess[bytes]]
CACHEABLE = {"Cache-Control": "max-age=3600", "ETag": '"h"'}


def echo(seen: Seen) -> Reply:
    """The request as JSON, keys in a deliberately unsorted order."""
    data = {
        "method": seen.method,
        "query": seen.query,
        "content_type": seen.headers.get("content-type"),
        "accept": seen.headers.get("accept"),
        "body": seen.body.decode("utf-8", "replace"),
    }
    return Reply(200, {"Content-Type": "application/json"}, json.dumps(data).encode())


# ---- 1. request items and the method commands ----------------------------------------------


def test_data_items_are_a_json_object(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/items", echo)
    done = hc_run("post", url, "name=hc", "count:=3", "tags:=[1, 2]", "X-Trace:abc", "q==1")
    assert done.returncode == 0, done.stderr
    seen = origin.requests_to("/items")[0]
    assert seen.method == "POST"
    assert json.loads(seen.body) == {"name": "hc", "count": 3, "tags": [1, 2]}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"].startswith("application/json")
    assert seen.headers["x-trace"] == "abc"
    assert seen.query == "q=1"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_method_commands(method: str, hc_run: Run, origin: Origin) -> None:
    url = origin.route("/m", echo)
    done = hc_run(method, url, "a=1")
    assert done.returncode == 0, done.stderr
    seen = origin.requests_to("/m")[0]
    assert seen.method == method.upper()
    assert json.loads(seen.body) == {"a": "1"}


def test_form_upload_raw_file_and_dropped_header(
    hc_run: Run, origin: Origin, tmp_path: Path
) -> None:
    url = origin.route("/f", echo)
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"file content\n")
    assert hc_run("post", "--form", url, "a=1", "b=two words").returncode == 0
    assert hc_run("post", url, "a=1", f"doc@{upload}").returncode == 0
    assert hc_run("post", url, f"@{upload}", "Content-Type:text/plain").returncode == 0
    assert hc_run("get", url, "Accept:", "User-Agent:probe").returncode == 0
    form, multipart, raw, plain = origin.requests_to("/f")
    assert form.body == b"a=1&b=two+words"
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert multipart.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="doc"; filename="notes.txt"' in multipart.body
    assert b"file content\n" in multipart.body and b'name="a"' in multipart.body
    assert raw.body == b"file content\n"
    assert raw.headers["content-type"] == "text/plain"
    assert "accept" not in plain.headers
    assert plain.headers["user-agent"] == "probe"


def test_request_keeps_any_method(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/r", echo)
    assert hc_run("request", "PATCH", url, "x:=true").returncode == 0
    seen = origin.requests_to("/r")[0]
    assert (seen.method, json.loads(seen.body)) == ("PATCH", {"x": True})


# ---- 2. auth and TLS -------------------------------------------------------------------------


def test_basic_and_bearer_auth_reach_the_server(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/who", Reply(200, {}, b"you"))
    assert hc_run("get", "-a", "ann:s3cret", url).returncode == 0
    assert hc_run("get", "-A", "bearer", "-a", "tok3n", url).returncode == 0
    basic, bearer = origin.requests_to("/who")
    assert basic.headers["authorization"] == "Basic YW5uOnMzY3JldA=="
    assert bearer.headers["authorization"] == "Bearer tok3n"


def test_digest_auth_answers_the_challenge(hc_run: Run, origin: Origin) -> None:
    def guarded(seen: Seen) -> Reply:
        if seen.headers.get("authorization", "").startswith("Digest "):
            return Reply(200, {}, b"in")
        challenge = 'Digest realm="hc", nonce="n0nce", qop="auth"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    url = origin.route("/digest", guarded)
    done = hc_run("get", "-A", "digest", "-a", "ann:pw", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"in"
    answer = origin.requests_to("/digest")[-1].headers["authorization"]
    assert 'username="ann"' in answer and 'realm="hc"' in answer and "pw" not in answer


def test_credentials_never_reach_the_cache_in_clear(
    hc_run: Run, origin: Origin, cache_dir: Path
) -> None:
    url = origin.route("/private", Reply(200, CACHEABLE, b"for ann"))
    assert hc_run("get", "-a", "ann:s3cret", url).stdout == b"for ann"
    assert hc_run("get", "-a", "ann:s3cret", url).stdout == b"for ann"
    assert origin.hits("/private") == 1  # the same credentials: a hit
    assert hc_run("get", "-a", "bob:other", url).returncode == 0
    assert hc_run("get", url).returncode == 0
    assert origin.hits("/private") == 3  # other credentials, or none: not ann's entry
    stored = b"".join(p.read_bytes() for p in cache_dir.rglob("*") if p.is_file())
    assert stored, "nothing was stored"
    for secret in (b"s3cret", b"YW5uOnMzY3JldA", b"other", b"Ym9iOm90aGVy"):
        assert secret not in stored


def test_the_password_is_asked_for_on_a_terminal(origin: Origin, cache_dir: Path) -> None:
    import os
    import pty
    import select

    url = origin.route("/ask", Reply(200, {}, b"ok"))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    leader, follower = pty.openpty()
    command = [*hc_command(), "get", "-a", "ann", url]
    proc = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    while b"password for ann" not in shown:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, shown
        shown += os.read(leader, 1024)
    os.write(leader, b"typed-pw\n")
    assert proc.wait(30) == 0
    os.close(leader)
    assert origin.requests_to("/ask")[0].headers["authorization"] == "Basic YW5uOnR5cGVkLXB3"


def test_no_password_and_no_terminal_is_one_error(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/ask", Reply(200, {}, b"ok"))
    done = hc_run("get", "-a", "ann", url, stdin=subprocess.DEVNULL)
    assert done.returncode == 64
    assert done.stderr.decode().startswith("hc: error: --auth ann: no password")
    assert origin.hits("/ask") == 0


def test_netrc_credentials_as_requests_reads_them(
    hc_run: Run, origin: Origin, tmp_path: Path, cache_dir: Path
) -> None:
    url = origin.route("/netrc", Reply(200, CACHEABLE, b"n"))
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ann password n3trc-pw\n")
    netrc.chmod(0o600)
    assert hc_run("get", url, env={"NETRC": str(netrc)}).stdout == b"n"
    assert origin.requests_to("/netrc")[0].headers["authorization"] == "Basic YW5uOm4zdHJjLXB3"
    assert hc_run("get", "-a", "bob:x", url, env={"NETRC": str(netrc)}).returncode == 0
    assert origin.requests_to("/netrc")[1].headers["authorization"] == "Basic Ym9iOng="  # -a wins
    stored = b"".join(p.read_bytes() for p in cache_dir.rglob("*") if p.is_file())
    assert b"n3trc-pw" not in stored and b"YW5uOm4zdHJjLXB3" not in stored


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_origin(tmp_path: Path) -> Iterator[tuple[Origin, Path, tuple[Path, Path]]]:
    """An HTTPS origin with a self-signed certificate that asks for a client one."""
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    server_cert, server_key = make_certificate(tmp_path, "server")
    client = make_certificate(tmp_path, "client")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_cert, server_key)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(client[0])
    server = Origin()
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    try:
        yield server, server_cert, client
    finally:
        server.close()


def test_verify_insecure_and_client_certificates(
    hc_run: Run, tls_origin: tuple[Origin, Path, tuple[Path, Path]]
) -> None:
    server, ca, (cert, key) = tls_origin
    url = server.route("/tls", Reply(200, CACHEABLE, b"secure")).replace("http:", "https:")
    refused = hc_run("get", url)
    assert refused.returncode == 1
    assert refused.stderr.decode().startswith("hc: error: TLS failed")
    assert hc_run("get", "--verify", str(ca), url).stdout == b"secure"
    assert hc_run("get", "-k", url).stdout == b"secure"
    assert hc_run("get", "--verify", "no", url).stdout == b"secure"
    assert server.hits("/tls") == 2  # -k and --verify no share a key; the CA bundle has its own
    assert hc_run("get", "--verify", str(ca), url).stdout == b"secure"
    assert server.hits("/tls") == 2
    assert hc_run("get", url).returncode == 1  # an insecure entry never answers a checked request
    with_cert = hc_run("get", "--verify", str(ca), "--cert", str(cert), "--cert-key", str(key), url)
    assert with_cert.stdout == b"secure", with_cert.stderr
    assert server.hits("/tls") == 3  # a client certificate partitions the cache too


# ---- 3. output ---------------------------------------------------------------------------------

UNSORTED = b'{"zeta": 1, "alpha": {"b": 2, "a": [1, "\\u00e9"]}}'


def json_route(origin: Origin, path: str = "/json") -> str:
    headers = {**CACHEABLE, "Content-Type": "application/json"}
    return origin.route(path, Reply(200, headers, UNSORTED))


def test_print_letters_and_their_shortcuts(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/p", Reply(200, {**CACHEABLE, "X-Served": "yes"}, b"the body"))
    both = hc_run("post", "-p", "HBhb", url, "a=1").stdout.decode()
    request, response = both.split("\n\nHTTP/1.1 200 OK\n")
    assert request.startswith("POST /p HTTP/1.1\n") and request.endswith('\n{"a": "1"}')
    assert "X-Served: yes\n" in response and response.endswith("\n\nthe body")
    headers = hc_run("get", "-h", url).stdout.decode()
    assert headers.startswith("HTTP/1.1 200 OK\n") and "X-Served: yes" in headers
    assert "the body" not in headers
    assert hc_run("get", "-b", url).stdout == b"the body"
    assert hc_run("get", "-p", "b", url).stdout == b"the body"
    meta = hc_run("get", "-p", "m", url).stdout.decode()
    assert meta.startswith("Cache-Status: httpcache; hit;")
    assert b"Usage: hc get" in hc_run("get", "--help").stdout  # --help stays help


def test_json_is_byte_exact_in_a_pipe_and_formatted_when_asked(hc_run: Run, origin: Origin) -> None:
    url = json_route(origin)
    assert hc_run("get", url).stdout == UNSORTED
    formatted = hc_run("get", "--pretty", "format", url).stdout.decode()
    assert json.loads(formatted) == json.loads(UNSORTED)
    assert formatted.startswith('{\n    "alpha": {\n        "a": [')  # sorted, 4 spaces
    assert "é" in formatted  # not escaped
    unsorted = hc_run("get", "--pretty", "format", "--unsorted", url).stdout.decode()
    assert unsorted.startswith('{\n    "zeta": 1,')
    assert hc_run("get", "--pretty", "none", url).stdout == UNSORTED
    coloured = hc_run("get", "--pretty", "all", url).stdout.decode()
    assert "\x1b[" in coloured and '"alpha"' in coloured


def test_json_on_a_terminal_is_sorted_and_coloured(origin: Origin, cache_dir: Path) -> None:
    url = json_route(origin)
    env = clean_environment(HC_CACHE_DIR=str(cache_dir), TERM="xterm-256color")
    shown = run_on_a_terminal(["get", url], env)
    assert "\x1b[" in shown
    plain = strip_ansi(shown)
    assert plain.index('"alpha"') < plain.index('"zeta"')
    assert strip_ansi(run_on_a_terminal(["get", "--pretty", "none", url], env)).strip() == (
        UNSORTED.decode().replace("\\u00e9", "\\u00e9")
    )
    monokai = run_on_a_terminal(["get", "--style", "monokai", url], env)
    other = run_on_a_terminal(["get", "--style", "solarized-light", url], env)
    assert strip_ansi(monokai) == strip_ansi(other) and monokai != other
    no_colour = run_on_a_terminal(["get", url], {**env, "NO_COLOR": "1"})
    assert "\x1b[3" not in no_colour and '"alpha"' in no_colour


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r\n", "\n")


def test_status_line_on_a_terminal_for_errors_and_redirects(
    origin: Origin, cache_dir: Path
) -> None:
    missing = origin.route("/gone", Reply(404, {}, b"no such page"))
    origin.route("/final", Reply(200, {}, b"arrived"))
    moved = origin.route("/moved", Reply(302, {"Location": "/final"}, b""))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir), TERM="xterm-256color")
    shown = strip_ansi(run_on_a_terminal(["get", missing], env))
    assert "HTTP/1.1 404 Not Found" in shown and "no such page" in shown
    followed = strip_ansi(run_on_a_terminal(["get", "-F", moved], env))
    assert "HTTP/1.1 302 Found -> /final" in followed and "arrived" in followed
    ok = strip_ansi(run_on_a_terminal(["get", origin.url("/final")], env))
    assert "HTTP/1.1" not in ok  # a plain 200 prints its body only
    piped = subprocess.run([*hc_command(), "get", missing], capture_output=True, env=env)
    assert piped.stderr == b"" and piped.stdout == b"no such page"


# ---- 4 and 5. exit status and downloads ---------------------------------------------------------

PAYLOAD = bytes(range(256)) * 64  # 16 KiB


def ranged(seen: Seen, honour: bool = True) -> Reply:
    """PAYLOAD, or the part a ``Range: bytes=N-`` asks for (206), or 416 past its end."""
    headers = {"Content-Type": "application/octet-stream", "ETag": '"payload"'}
    asked = seen.headers.get("range", "")
    if honour and asked.startswith("bytes=") and asked.endswith("-"):
        start = int(asked[6:-1])
        if start >= len(PAYLOAD):
            return Reply(416, {"Content-Range": f"bytes */{len(PAYLOAD)}"}, b"")
        part = f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
        return Reply(206, {**headers, "Content-Range": part}, PAYLOAD[start:])
    return Reply(200, headers, PAYLOAD)


def test_output_and_download_never_save_an_error_body(
    hc_run: Run, origin: Origin, tmp_path: Path
) -> None:
    missing = origin.route("/missing.bin", Reply(404, {}, b"error page"))
    broken = origin.route("/broken.bin", Reply(500, {}, b"stack trace"))
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")
    done = hc_run("get", "-o", str(target), missing)
    assert done.returncode == 4
    assert done.stderr.decode().startswith("hc: error: HTTP 404 Not Found: nothing saved")
    assert len(done.stderr.splitlines()) == 1
    assert target.read_bytes() == b"precious"
    downloaded = hc_run("get", "-d", broken, cwd=tmp_path)
    assert downloaded.returncode == 5
    assert not (tmp_path / "broken.bin").exists()
    moved = origin.route("/moved.bin", Reply(301, {"Location": "/missing.bin"}, b""))
    assert hc_run("get", "-o", str(target), moved).returncode == 3
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["keep.bin"]


def test_download_names_the_file(hc_run: Run, origin: Origin, tmp_path: Path) -> None:
    named = {"Content-Disposition": 'attachment; filename="report 2024.csv"'}
    origin.route("/export", Reply(200, named, b"a,b\n"))
    origin.route("/files/data.bin", Reply(200, {}, b"data"))
    sneaky = {"Content-Disposition": 'attachment; filename="../../.bashrc\x1b"'}
    origin.route("/sneaky", Reply(200, sneaky, b"no"))
    for path in ("/export", "/files/data.bin", "/files/data.bin", "/sneaky"):
        done = hc_run("get", "--download", origin.url(path), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == b""
    assert (tmp_path / "report 2024.csv").read_bytes() == b"a,b\n"
    assert (tmp_path / "data.bin").read_bytes() == b"data"
    assert (tmp_path / "data.bin-1").read_bytes() == b"data"  # never over an existing file
    assert (tmp_path / "bashrc").read_bytes() == b"no"  # no folder, no hidden name


def test_continue_resumes_with_a_range_request(hc_run: Run, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/big.bin", ranged)
    target = tmp_path / "big.bin"
    target.write_bytes(PAYLOAD[:5000])
    done = hc_run("get", "-c", "-o", str(target), url)
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == PAYLOAD
    assert origin.requests_to("/big.bin")[-1].headers["range"] == "bytes=5000-"
    again = hc_run("get", "-c", "-o", str(target), url)
    assert again.returncode == 0
    assert "already complete" in again.stderr.decode()
    assert target.read_bytes() == PAYLOAD
    assert hc_run("get", url).stdout == PAYLOAD  # the cache kept no part for the whole


def test_continue_restarts_when_the_server_ignores_the_range(
    hc_run: Run, origin: Origin, tmp_path: Path
) -> None:
    url = origin.route("/whole.bin", lambda seen: ranged(seen, honour=False))
    target = tmp_path / "whole.bin"
    target.write_bytes(b"stale partial bytes")
    assert hc_run("get", "-c", "-o", str(target), url).returncode == 0
    assert target.read_bytes() == PAYLOAD


def test_refuses_to_write_over_the_cache(hc_run: Run, origin: Origin, cache_dir: Path) -> None:
    url = origin.route("/x", Reply(200, CACHEABLE, b"x"))
    assert hc_run("get", url).returncode == 0
    database = cache_dir / "http_cache.sqlite"
    before = database.read_bytes()
    for target in (database, cache_dir / "http_cache.sqlite-wal"):
        done = hc_run("get", "-o", str(target), url)
        assert done.returncode == 64
        assert "the cache's own file" in done.stderr.decode()
    assert database.read_bytes() == before
    named = origin.route("/http_cache.sqlite", Reply(200, {}, b"not a database"))
    downloaded = hc_run("get", "-d", named, cwd=cache_dir)
    assert downloaded.returncode == 64
    assert "the cache's own file" in downloaded.stderr.decode()
    assert database.read_bytes().startswith(b"SQLite format 3\0")
    assert not (cache_dir / "http_cache.sqlite-1").exists()
    assert hc_run("get", url).stdout == b"x" and origin.hits("/x") == 1
    folder = hc_run(
        "--backend", "filesystem", "get", "-o", str(cache_dir / "http_cache.filesystem" / "f"), url
    )
    assert folder.returncode == 64


# ---- 10. stale-while-revalidate, --offline stale, memory -------------------------------------


def test_the_background_refresh_finishes_before_hc_exits(hc_run: Run, origin: Origin) -> None:
    def stale_while_revalidate(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"s"':
            return Reply(304, {"ETag": '"s"', "X-Refreshed": "yes"})
        headers = {"ETag": '"s"', "Cache-Control": "max-age=60, stale-while-revalidate=600"}
        return Reply(200, {**headers, "Age": "100"}, b"swr")  # stale at once, within swr

    url = origin.route("/swr", stale_while_revalidate)
    assert hc_run("get", url).stdout == b"swr"
    served = hc_run("get", "-v", url)
    assert served.stdout == b"swr"
    assert "; hit;" in served.stderr.decode() and "detail=stale" in served.stderr.decode()
    # hc waited for its refresh: the origin was asked, and the 304's fields were stored.
    assert [s.headers.get("if-none-match") for s in origin.requests_to("/swr")] == [None, '"s"']
    stored = json.loads(hc_run("cache", "inspect", "--json", url).stdout)[0]
    assert ["X-Refreshed", "yes"] in stored["response"]["headers"]


def test_offline_says_when_it_serves_a_stale_entry(hc_run: Run, origin: Origin) -> None:
    url = origin.route(
        "/old", Reply(200, {"ETag": '"o"', "Cache-Control": "max-age=60", "Age": "100"}, b"old")
    )
    fresh = origin.route("/new", Reply(200, CACHEABLE, b"new"))
    assert hc_run("get", url).returncode == 0 and hc_run("get", fresh).returncode == 0
    stale = hc_run("get", "--offline", url)
    assert stale.stdout == b"old"
    assert stale.stderr.decode().startswith("hc: warning: --offline: the stored response is stale")
    assert hc_run("get", "--offline", fresh).stderr == b""


def test_the_memory_backend_warns_that_nothing_is_kept(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/mem", Reply(200, CACHEABLE, b"m"))
    done = hc_run("--backend", "memory", "get", url)
    assert done.stdout == b"m"
    assert done.stderr == b"hc: warning: --backend memory keeps nothing once hc exits\n"


# ---- 11. global options after the command -------------------------------------------------------


def test_global_options_after_the_command(hc_run: Run, origin: Origin, tmp_path: Path) -> None:
    url = origin.route("/g", Reply(200, CACHEABLE, b"g"))
    elsewhere = tmp_path / "elsewhere"
    assert hc_run("get", url, "--cache-dir", str(elsewhere)).stdout == b"g"
    assert (elsewhere / "http_cache.sqlite").exists()
    again = hc_run("get", "--cache-dir", str(elsewhere), "-v", url)
    assert "; hit;" in again.stderr.decode()  # the fast path read the same cache
    assert origin.hits("/g") == 1
    listed = hc_run("cache", "ls", "--cache-dir", str(elsewhere), "--backend=sqlite")
    assert "/g" in listed.stdout.decode()
    per_request = hc_run("get", url, "--expire-after", "1h", "--cache-name", "other")
    assert per_request.returncode == 0
    assert (tmp_path / "cache" / "other.sqlite").exists()  # in HC_CACHE_DIR, named other


# ---- the name on the package index -----------------------------------------------------------


def test_version_and_install_hints_name_the_distribution(hc_run: Run, tmp_path: Path) -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    assert name != "httpcache"  # an unrelated project from 2013 has that name on the index
    from httpcache import __version__

    assert hc_run("--version").stdout.decode() == f"hc {__version__} ({name})\n"
    fake = tmp_path / "shadow" / "redis"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('redis is not installed')\n")
    missing = hc_run("--backend", "redis", "stats", env={"PYTHONPATH": str(fake.parent)})
    assert missing.returncode == 69
    assert f"pip install '{name}[redis]'" in missing.stderr.decode()
    readme = (root / "README.md").read_text()
    assert f"pip install {name}" in readme and "pip install httpcache " not in readme


# ---- polish -------------------------------------------------------------------------------------


def test_help_shows_metavars_not_python_types(hc_run: Run) -> None:
    for args in (["--help"], ["get", "--help"], ["cache", "ls", "--help"], ["post", "--help"]):
        shown = hc_run(*args, env={"COLUMNS": "200"}).stdout.decode()
        for label in ("<bool>", "<str>", "<list[str]>", "<float>", "<int>", "{url}"):
            assert label not in shown, (args, label)
    usage = hc_run("get", "--help", env={"COLUMNS": "200"}).stdout.decode()
    assert "Usage: hc get [OPTIONS] URL [REQUEST_ITEM]..." in usage


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["get", "--timeout", "soon", "x.test"], {}, "hc: error: --timeout: not a number"),
        (["cache", "ls", "--limit", "0"], {}, "hc: error: --limit: must be 1 or more"),
        (["stats"], {"HC_BACKEND": "nope"}, "hc: error: HC_BACKEND (environment variable): 'nope'"),
        (["stats"], {"HC_EXPIRE_AFTER": "zz"}, "hc: error: HC_EXPIRE_AFTER (environment variable)"),
        (
            ["get", "x.test"],
            {"HC_HEURISTIC": "zz"},
            "hc: error: HC_HEURISTIC (environment variable)",
        ),
        (["--backend", "nope", "stats"], {"HC_BACKEND": "sqlite"}, "hc: error: --backend: 'nope'"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_errors_in_plain_words(
    args: list[str], env: dict[str, str], expected: str, hc_run: Run
) -> None:
    done = hc_run(*args, env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 64
    assert stderr.startswith(expected), stderr
    assert len(stderr.splitlines()) == 1
    for jargon in ("Input should be", "Value error", "env var:"):
        assert jargon not in stderr


def test_verbose_on_a_hit_and_through_redirects(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/v", Reply(200, CACHEABLE, b"v"))
    hc_run("get", url)
    hit = hc_run("get", "-v", url).stderr.decode()
    assert hit.startswith(f"(served from the cache: GET {url})\n\nHTTP/1.1 200 OK\n")
    assert "User-Agent:" not in hit  # no request block: nothing was sent
    origin.route("/end", Reply(200, {}, b"end"))
    origin.route("/hop", Reply(302, {"Location": "/end"}, b""))
    hops = hc_run("get", "-v", "-F", origin.url("/hop")).stderr.decode()
    assert hops.index("GET /hop HTTP/1.1") < hops.index("HTTP/1.1 302 Found")
    assert hops.index("HTTP/1.1 302 Found") < hops.index("GET /end HTTP/1.1")
    assert hops.index("GET /end HTTP/1.1") < hops.index("HTTP/1.1 200 OK")
    assert hops.count("Cache-Status:") == 2


def test_verbose_on_a_revalidated_hit_shows_the_conditional_request_sent(
    hc_run: Run, origin: Origin
) -> None:
    head = {"Cache-Control": "no-cache", "ETag": '"r1"'}

    def conditional(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"r1"':
            return Reply(304, head)
        return Reply(200, head, b"r")

    url = origin.route("/r", conditional)
    hc_run("get", url)
    shown = hc_run("get", "-v", url).stderr.decode()
    assert "(served from the cache" not in shown
    assert shown.index("GET /r HTTP/1.1") < shown.index('If-None-Match: "r1"')
    assert shown.index('If-None-Match: "r1"') < shown.index("HTTP/1.1 200 OK")
    status = next(line for line in shown.splitlines() if line.startswith("Cache-Status:"))
    assert "fwd-status=304" in status and status.endswith("detail=revalidated")


def test_long_header_lines_are_not_cut_on_a_terminal(origin: Origin, cache_dir: Path) -> None:
    from tests.cli.test_cache_shell import on_terminal, visible

    url = origin.route("/w", Reply(200, {**CACHEABLE, "X-Long": "v" * 120}, b"w"))
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    shown = visible(on_terminal(["get", "-v", url], env, columns=80)).splitlines()
    assert f"X-Long: {'v' * 120}" in shown  # whole, for the terminal to wrap
    status = next(line for line in shown if line.startswith("Cache-Status:"))
    assert status.endswith("detail=miss")


def test_a_backend_whose_package_is_missing_says_what_to_install(cache_dir: Path) -> None:
    """Without the redis package: one line naming the distribution's extra, exit 69."""
    code = WITHOUT_REDIS + (
        "sys.argv = ['hc', '--backend', 'redis', 'stats']\n"
        "from httpcache_cli.app import main\n"
        "main()\n"
    )
    env = clean_environment(HC_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 69, stderr
    assert "pip install 'httpcache-rfc9111[redis]'" in stderr.splitlines()[0]
    assert "Traceback" not in stderr
