"""man/hc.1 and completions/ are generated from the app, and must not drift from it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from httpcache_cli import _docmodel, gen_docs
from httpcache_cli.exit_codes import ExitStatus

ROOT = Path(__file__).resolve().parents[2]


def test_generated_files_match_the_app() -> None:
    stale = gen_docs.drifted(ROOT)
    assert stale == [], f"run: python -m httpcache_cli.gen_docs (stale: {stale})"


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_docs.drifted(tmp_path) == list(gen_docs.OUTPUTS)
    assert gen_docs.main(["--check"]) == 0


def test_man_page_covers_every_command_option_and_exit_status() -> None:
    page = (ROOT / "man/hc.1").read_text()
    root = _docmodel.model()
    for cmd in _docmodel.walk(root)[1:]:
        if cmd.commands:
            continue
        name = cmd.name.replace("-", "\\-")
        assert name in page, cmd.name
        for opt in cmd.options:
            assert opt.long.replace("-", "\\-") in page, (cmd.name, opt.long)
    for status in ExitStatus:
        assert f".TP\n\\fB{int(status)}\\fR\n" in page, status
    for variable in ("HC_BACKEND", "HC_CACHE_DIR", "HC_REDIS_URL", "NO_COLOR"):
        assert variable in page


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_man_page_renders_without_warnings() -> None:
    done = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man/hc.1")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert done.stderr == ""


def complete_in_bash(words: list[str]) -> list[str]:
    script = (
        f"source {ROOT / 'completions/hc.bash'}\n"
        "COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
        "COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        "_hc\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completion() -> None:
    assert "get" in complete_in_bash(["hc", ""])
    assert complete_in_bash(["hc", "--backend", ""]) == [
        "memory", "sqlite", "filesystem", "separate-body", "redis",
    ]  # fmt: skip
    assert complete_in_bash(["hc", "--backend", "redis", "ca"]) == ["cache"]
    assert "remove-expired" in complete_in_bash(["hc", "cache", ""])
    assert complete_in_bash(["hc", "cache", "ls", "--so"]) == ["--sort"]
    assert "expires" in complete_in_bash(["hc", "cache", "ls", "--sort", ""])
    assert complete_in_bash(["hc", "--cache-name", "x", "get", "--ti"]) == ["--timeout"]
    assert complete_in_bash(["hc", "get", "-H", "X: 1", "--of"]) == ["--offline"]
    assert complete_in_bash(["hc", "po"]) == ["post"]
    assert complete_in_bash(["hc", "get", "--pr"]) == ["--print", "--pretty"]
    assert complete_in_bash(["hc", "get", "--pretty", ""]) == ["all", "colors", "format", "none"]
    assert complete_in_bash(["hc", "put", "-A", ""]) == ["basic", "digest", "bearer"]
    assert "compact" in complete_in_bash(["hc", "cache", ""])


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_parses() -> None:
    subprocess.run(["zsh", "-n", str(ROOT / "completions/hc.zsh")], check=True)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion() -> None:
    path = ROOT / "completions/hc.fish"
    subprocess.run(["fish", "-n", str(path)], check=True)

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            ["fish", "-c", f"source {path}; complete -C '{line}'"],
            capture_output=True,
            text=True,
            check=True,
        )
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert "explain" in complete("hc ")
    assert "separate-body" in complete("hc --backend ")
    assert complete("hc --backend redis cache ls --so") == ["--sort"]


def test_man_synopses_are_balanced() -> None:
    page = (ROOT / "man/hc.1").read_text()
    lines = [line for line in page.splitlines() if line.startswith("\\fBhc")]
    assert len(lines) > 10
    for line in lines:
        depth = 0
        for char in line:
            depth += {"[": 1, "]": -1}.get(char, 0)
            assert depth >= 0, line
        assert depth == 0, line
