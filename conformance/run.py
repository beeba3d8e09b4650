"""Run the public HTTP caching test suite (cache-tests.fyi) against httpcache.

    .venv/bin/python conformance/run.py /tmp/cache-tests

The argument is the suite's sources (github ``http-tests/cache-tests``, with its node
dependencies installed there by ``npm install``); they stay outside this repository.
The suite's origin server starts on 127.0.0.1, a reverse proxy (``proxy.py``) wraps a
default ``CachedSession(backend="memory")`` in front of it, and the suite's own client
runs every test that applies to a private cache. A second run, with
``heuristic=LastModified()``, covers the heuristic-freshness tests, reported apart:
heuristic freshness is off by default.

Writes ``conformance/results/summary.md`` (kept) and the raw per-test results as JSON
beside it (ignored by git), and prints the totals.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conformance.proxy import running  # noqa: E402
from httpcache import CachedSession  # noqa: E402
from httpcache.heuristics import LastModified  # noqa: E402

RESULTS = HERE / "results"
KINDS = ("required", "optimal", "check")
#: What counts as passing, per kind (cache-tests.fyi's ✅ and "Y").
PASSES = {"required": "pass", "optimal": "pass", "check": "yes"}
HEURISTIC_SUITE = "heuristic"
#: Requirements the suite states for shared caches only ("Shared HTTP cache must ...",
#: "An optimal shared HTTP cache ..."): a private cache must not meet some of them
#: (it ignores s-maxage, RFC 9111 §5.2.2.10), so they are counted apart.
SHARED_ONLY = re.compile(r"\bshared\b", re.IGNORECASE)
#: Why a test is not passed, where the reason is known (by prefix of its id).
WHY_NOT = {
    "headers-store-Set-Cookie": "Set-Cookie is never stored (a secret, DESIGN.md)",
    "stale-close-": "counts only for a cache that serves stale when the origin closes "
    "the connection: httpcache does with stale_if_error, off by default",
    "interim-": "requests' transport (http.client) takes a 1xx for the final response",
    "heuristic-": "heuristic freshness is off by default (passes with LastModified())",
    "conditional-lm-fresh-no-lm": "the stored Date is 3000s later than the "
    "If-Modified-Since, so RFC 9111 §4.3.2 (and RFC 9110 §13.1.3) give a 200, not the "
    "304 expected (cache-tests issue #204)",
    "partial-store-partial-reuse-partial": "the suite's origin sends `Content-Range: "
    "bytes 4-9/10` with a 5-byte body: which five bytes is unknown, so the 206 is not "
    "kept (with `bytes 5-9/10` and the expected texts to match, the four tests pass)",
}


@dataclass(frozen=True)
class Variant:
    name: str
    title: str
    options: dict[str, object]
    suites: tuple[str, ...] = ()  # empty: every suite


VARIANTS = (
    Variant("default", 'CachedSession(backend="memory")', {}),
    Variant(
        "heuristic",
        'CachedSession(backend="memory", heuristic=LastModified())',
        {"heuristic": LastModified()},
        (HEURISTIC_SUITE,),
    ),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path, help="the cache-tests sources, npm-installed")
    parser.add_argument("--variant", choices=[v.name for v in VARIANTS], action="append")
    args = parser.parse_args()
    suite: Path = args.suite.resolve()
    if not (suite / "tests" / "index.mjs").is_file():
        parser.error(f"{suite} does not hold the cache-tests sources (tests/index.mjs)")
    if not (suite / "node_modules").is_dir():
        parser.error(f"{suite} has no node_modules: run `npm install` there first")
    chosen = [v for v in VARIANTS if not args.variant or v.name in args.variant]
    RESULTS.mkdir(exist_ok=True)
    rows: dict[str, list[dict[str, object]]] = {}
    with origin_server(suite) as origin:
        for variant in chosen:
            started = time.monotonic()
            rows[variant.name] = run_variant(suite, origin, variant)
            print(f"{variant.name}: {time.monotonic() - started:.0f}s", file=sys.stderr)
    for name, found in rows.items():
        (RESULTS / f"{name}.json").write_text(json.dumps(found, indent=1) + "\n")
    previous = {v.name: _load(RESULTS / f"{v.name}.json") for v in VARIANTS}
    previous.update(rows)
    summary = render_summary(suite, previous, published(suite))
    (RESULTS / "summary.md").write_text(summary)
    print(summary)
    return 0


@contextmanager
def origin_server(suite: Path) -> Iterator[str]:
    """The suite's origin server on a free port of 127.0.0.1."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(
            os.environ,
            npm_config_port=str(port),
            npm_config_protocol="http",
            npm_config_pidfile=str(Path(scratch) / "server.pid"),
        )
        log = open(Path(scratch) / "server.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            ["node", str(HERE / "serve.mjs"), str(suite)],
            cwd=suite,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(port, server)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=10)
            log.close()


def published(suite: Path) -> dict[str, list[dict[str, object]]]:
    """The suite's published results of other caches, per implementation."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "published.json"
        command = ["node", str(HERE / "published.mjs"), str(suite), str(out)]
        subprocess.run(command, cwd=suite, check=True, stdout=subprocess.DEVNULL)
        found: dict[str, list[dict[str, object]]] = json.loads(out.read_text())
    return found


def run_variant(suite: Path, origin: str, variant: Variant) -> list[dict[str, object]]:
    session = CachedSession(backend="memory", **variant.options)  # type: ignore[arg-type]
    with running(origin, session) as proxy, tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "results.json"
        command = ["node", str(HERE / "client.mjs"), str(suite), proxy.base_url, str(out)]
        if variant.suites:
            command.append(",".join(variant.suites))
        subprocess.run(command, cwd=suite, check=True, stdout=subprocess.DEVNULL)
        found: list[dict[str, object]] = json.loads(out.read_text())
    session.close()
    return found


# ---- the summary ---------------------------------------------------------------------


def tally(rows: list[dict[str, object]]) -> dict[str, tuple[int, int]]:
    """(passed, total) per kind."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        kind = str(row["kind"])
        total[kind] += 1
        passed[kind] += row["result"] == PASSES[kind]
    return {kind: (passed[kind], total[kind]) for kind in KINDS}


def render_summary(
    suite: Path,
    rows: dict[str, list[dict[str, object]] | None],
    published_runs: dict[str, list[dict[str, object]]],
) -> str:
    lines = [
        "# cache-tests results",
        "",
        f"Suite: http-tests/cache-tests {_suite_version(suite)}; run "
        f"{datetime.now(UTC):%Y-%m-%d}. Command: `.venv/bin/python conformance/run.py "
        "SUITE_DIR` (see README.md). httpcache is a private cache: the tests for CDNs "
        "(`cdn_only`) and for browsers only are not run, and those the suite states for "
        "shared caches only are counted apart. A test passes as cache-tests.fyi shows it: "
        "a test whose dependency fails does not pass.",
        "",
        "| run | required | optional | checks |",
        "|---|---|---|---|",
    ]
    default = rows.get("default")
    if default:
        private = [r for r in default if not shared_only(r)]
        lines.append(_total_row("**default settings** (private-cache tests)", private))
        others = [r for r in private if r["suite"] != HEURISTIC_SUITE]
        lines.append(_total_row("default settings, without the heuristic suite", others))
        shared = [r for r in default if shared_only(r)]
        lines.append(_total_row("shared-cache-only tests (not counted above)", shared))
    heuristic = rows.get("heuristic")
    if heuristic:
        own = [r for r in heuristic if not r["dependency_only"]]
        lines.append(_total_row("heuristic suite, `heuristic=LastModified()`", own))
    if published_runs:
        lines += [
            "",
            "The suite's published runs of other caches, counted the same way (browsers "
            "are not run on the tests they skip):",
            "",
            "| cache | required | optional | checks |",
            "|---|---|---|---|",
        ]
        for name, found in published_runs.items():
            lines.append(_total_row(name, [r for r in found if not shared_only(r)]))
    if default:
        lines += ["", "## Per suite (default settings, private-cache tests)", ""]
        lines += ["| suite | required | optional | checks |", "|---|---|---|---|"]
        private = [r for r in default if not shared_only(r)]
        for suite_id in dict.fromkeys(str(r["suite"]) for r in private):
            lines.append(_total_row(suite_id, [r for r in private if r["suite"] == suite_id]))
    for name, found in rows.items():
        if not found:
            continue
        misses = [
            r
            for r in found
            if r["kind"] != "check"
            and r["result"] != "pass"
            and not r["dependency_only"]
            and not shared_only(r)
        ]
        lines += ["", f"## Not passed: required and optional ({name})", ""]
        for row in misses:
            detail = str(row["detail"]).replace("|", "\\|") or str(row["result"])
            why = next((w for p, w in WHY_NOT.items() if str(row["id"]).startswith(p)), "")
            why = f" — {why}" if why else ""
            lines.append(f"- `{row['id']}` ({row['kind']}, {row['result']}): {detail}{why}")
        if not misses:
            lines.append("None.")
    return "\n".join(lines) + "\n"


def shared_only(row: dict[str, object]) -> bool:
    return bool(SHARED_ONLY.search(str(row["name"])))


def _total_row(label: str, rows: list[dict[str, object]]) -> str:
    counts = tally(rows)
    return f"| {label} | " + " | ".join(f"{p} / {t}" for p, t in counts.values()) + " |"


def _suite_version(suite: Path) -> str:
    package = json.loads((suite / "package.json").read_text())
    digest = hashlib.sha256()
    for path in sorted((suite / "tests").rglob("*.mjs")):
        digest.update(path.read_bytes())
    return f"{package.get('version', '?')} (tests/ sha256 {digest.hexdigest()[:12]})"


def _load(path: Path) -> list[dict[str, object]] | None:
    if not path.is_file():
        return None
    found: list[dict[str, object]] = json.loads(path.read_text())
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the suite's server did not start (is node installed?)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the suite's server did not start within 30s")


if __name__ == "__main__":
    raise SystemExit(main())
