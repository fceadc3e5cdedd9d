"""The project's own lint promises: ruff, snakefmt and snakemake --lint are clean."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_and_format_are_clean():
    check = run(BIN / "ruff", "check", ".")
    assert check.returncode == 0, check.stdout
    fmt = run(BIN / "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_snakefmt_is_clean():
    result = run(BIN / "snakefmt", "--check", "Snakefile", "workflow/rules")
    assert result.returncode == 0, result.stderr


def test_snakemake_lint_is_clean():
    result = run(BIN / "snakemake", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_answer_is_taken_from_the_committed_report():
    readme = (ROOT / "README.md").read_text()
    answer = readme.split("<!-- answer:begin -->")[1].split("<!-- answer:end -->")[0]
    summary = (ROOT / "reports" / "default" / "summary.md").read_text()
    lines = [line for line in answer.splitlines() if line.strip()]
    assert lines, "the README's answer section is empty"
    for line in lines:
        assert line in summary, f"not in reports/default/summary.md: {line}"
