"""Run requests-cache's and CacheControl's own test suites against httpcache.

    python compat/run.py --requests-cache DIR --cachecontrol DIR [--httpbin URL]

Each DIR is a suite's published source (requests-cache's sdist unpacked, CacheControl's
repository at its tag); its ``tests/`` folder is copied to a temporary folder, never
into this repository. The shim packages in ``compat/shim`` (``requests_cache``,
``cachecontrol``) come first on ``sys.path``: they map the two libraries' public names
to httpcache's, nothing more. ``compat/harness`` stands in for the test server
CacheControl's suite starts with cherrypy.

``not_applicable.txt`` lists the tests (or whole modules) that reach into the other
library's internals, each with its reason: they are not run. ``differences.txt``
lists the tests that fail on purpose, each with the difference README.md describes.
The script prints, per suite, how many tests ran, passed, failed as listed, and any
failure that is not listed; it exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The test modules of each suite that exercise public behaviour (others are listed
#: in not_applicable.txt as whole modules).
SUITES = {
    "requests-cache": [
        "tests/unit/test_session.py",
        "tests/unit/test_base_cache.py",
        "tests/unit/test_patcher.py",
        "tests/compat",
    ],
    "cachecontrol": [
        "tests/test_adapter.py",
        "tests/test_chunked_response.py",
        "tests/test_etag.py",
        "tests/test_expires_heuristics.py",
        "tests/test_redirects.py",
        "tests/test_regressions.py",
        "tests/test_server_http_version.py",
        "tests/test_storage_filecache.py",
    ],
}
#: requests-cache's integration tests need an httpbin server (``--httpbin``).
HTTPBIN_MODULES = ["tests/integration/test_memory.py", "tests/integration/test_sqlite.py"]


@dataclass
class Listed:
    """Test ids (or prefixes) with a reason, from one of the two lists."""

    reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, suite: str) -> Listed:
        listed = cls()
        for line in path.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            where, _, reason = line.partition("|")
            name, _, test_id = where.strip().partition(" ")
            if name == suite:
                listed.reasons[test_id.strip()] = reason.strip()
        return listed

    def find(self, test_id: str) -> str | None:
        for prefix, reason in self.reasons.items():
            if test_id == prefix or test_id.startswith((prefix + "::", prefix + "[")):
                return reason
        return None


@dataclass
class Result:
    suite: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_applicable: int = 0


def run_suite(suite: str, source: Path, httpbin: str | None) -> Result:
    tests = source / "tests"
    if not tests.is_dir():
        sys.exit(f"compat: {source} has no tests/ folder (is it {suite}'s source?)")
    not_applicable = Listed.read(HERE / "not_applicable.txt", suite)
    work = Path(tempfile.mkdtemp(prefix=f"httpcache-compat-{suite}-"))
    shutil.copytree(tests, work / "tests")
    (work / "pytest.ini").write_text("[pytest]\n")  # the suite's own config is not ours
    modules = list(SUITES[suite])
    if suite == "requests-cache" and httpbin:
        modules += HTTPBIN_MODULES
    args = [a for a in modules if not_applicable.find(a) is None]
    deselect = [test_id for test_id in not_applicable.reasons if "::" in test_id]
    ignore = [path for path in not_applicable.reasons if "::" not in path]
    report = work / "report.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE / "shim"), str(HERE / "harness"), str(work), env.get("PYTHONPATH", "")]
    )
    if httpbin:
        env["HTTPBIN_URL"] = httpbin
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    command += [f"--junitxml={report}", *args]
    command += [f"--deselect={test_id}" for test_id in deselect]
    command += [f"--ignore={path}" for path in ignore]
    subprocess.run(command, cwd=work, env=env, stdout=subprocess.DEVNULL, check=False)
    result = Result(suite, not_applicable=len(not_applicable.reasons))
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        test_id = _node_id(module, case.get("name", ""))
        if case.find("skipped") is not None:
            result.skipped.append(test_id)
        elif case.find("failure") is not None or case.find("error") is not None:
            result.failed.append(test_id)
        else:
            result.passed.append(test_id)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _node_id(classname: str, name: str) -> str:
    """A pytest node id from JUnit's classname (``tests/unit/test_x/TestY``) and name."""
    parts = classname.split("/")
    for cut in range(len(parts), 0, -1):
        if parts[cut - 1].startswith("test_") or parts[cut - 1] in ("base_cache_test",):
            module = "/".join(parts[:cut]) + ".py"
            return "::".join([module, *parts[cut:], name])
    return f"{classname}::{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests-cache", type=Path, help="requests-cache 1.3.3's source")
    parser.add_argument("--cachecontrol", type=Path, help="CacheControl 0.14.4's source")
    parser.add_argument("--httpbin", help="an httpbin URL for requests-cache's integration tests")
    options = parser.parse_args()
    given = {"requests-cache": options.requests_cache, "cachecontrol": options.cachecontrol}
    if not any(given.values()):
        parser.error("give --requests-cache and/or --cachecontrol")
    unexpected = 0
    for suite, source in given.items():
        if source is None:
            continue
        result = run_suite(suite, source, options.httpbin)
        differences = Listed.read(HERE / "differences.txt", suite)
        listed = [t for t in result.failed if differences.find(t) is not None]
        surprises = [t for t in result.failed if differences.find(t) is None]
        ran = len(result.passed) + len(result.failed)
        print(
            f"{suite}: {ran} run, {len(result.passed)} passed, {len(listed)} failed as listed "
            f"in differences.txt, {len(surprises)} failed unexpectedly, "
            f"{len(result.skipped)} skipped; {result.not_applicable} entries not applicable"
        )
        for test_id in surprises:
            print(f"  unexpected failure: {test_id}")
        for test_id in sorted(set(differences.reasons) - {_prefix(t, differences) for t in listed}):
            print(f"  listed difference that passes now: {test_id}")
        unexpected += len(surprises)
    return 1 if unexpected else 0


def _prefix(test_id: str, listed: Listed) -> str:
    for prefix in listed.reasons:
        if test_id == prefix or test_id.startswith((prefix + "::", prefix + "[")):
            return prefix
    return test_id


if __name__ == "__main__":
    sys.exit(main())
