"""``hc explain`` then ``hc get``, both as the installed program (the cases of the matrix
that need no clock moved): the verdict is what get's Cache-Status and the origin say."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from tests.cli.test_explain_agrees import (
    CASES,
    Case,
    assert_no_library_names,
    cache_status_line,
    cache_status_says,
    explain_args,
    get_args,
    handler,
    offline_verdict,
    seen_by_origin,
)
from tests.support.origin import Origin

Run = Callable[..., subprocess.CompletedProcess[bytes]]
NOW = [case for case in CASES if case.later == 0]


@pytest.mark.parametrize("case", NOW, ids=lambda case: case.id)
def test_explain_then_get(case: Case, hc_run: Run, origin: Origin) -> None:
    url = origin.route("/both", handler(case))
    assert hc_run("get", *case.prime, url).returncode == 0
    explained = hc_run("explain", "--offline", "--json", *explain_args(case, url))
    assert explained.returncode == 0, explained.stderr
    report = json.loads(explained.stdout)
    assert_no_library_names(report)
    said = offline_verdict(report)
    got = hc_run(*get_args(case, url))
    assert got.returncode == 0, got.stderr
    did = seen_by_origin(origin.requests_to("/both")[1:])
    status = cache_status_says(cache_status_line(got.stderr.decode()))
    assert did == said, (report["verdict"], did)
    assert (status == "cache") == (said == "cache"), (report["verdict"], status)
    if case.expect is not None:
        assert said == case.expect
