"""`hc get URL --expire-after 1d` keeps the response a day for every later `hc` run."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess

from tests.support.origin import Origin, counter_handler

Run = Callable[..., CompletedProcess[bytes]]


def test_expire_after_given_once_holds_for_later_runs(hc_run: Run, origin: Origin) -> None:
    url = origin.route("/kept-a-day", counter_handler({"Content-Type": "text/plain"}))
    first = hc_run("get", "--expire-after", "1d", url)
    assert first.returncode == 0 and first.stdout == b"body 1"
    later = hc_run("get", "-v", url)  # no --expire-after this time, no caching headers
    assert later.stdout == b"body 1"
    assert b"Cache-Status: httpcache; hit" in later.stderr
    assert origin.hits("/kept-a-day") == 1
