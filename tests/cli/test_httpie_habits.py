"""What an httpie user types, run as the installed ``hc`` against the local origin.

Request items and the method commands, --print and its shortcuts, pretty JSON,
status lines, exit statuses, global options after the command.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import clean_environment
from tests.cli.test_process import run_on_a_terminal
from tests.support.origin import Origin, Reply, Seen

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
