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


def committed_summary(root: Path) -> str:
    """reports/default/summary.md as committed: a user's own ./run.sh rewrites the file in
    the working tree with the numbers of their machine, which must not fail the tests."""
    shown = subprocess.run(["git", "show", "HEAD:reports/default/summary.md"], cwd=root,
                           capture_output=True, text=True)  # fmt: skip
    return shown.stdout if shown.returncode == 0 else ""


def test_the_readme_answer_is_taken_from_the_committed_report():
    readme = (ROOT / "README.md").read_text()
    answer = readme.split("<!-- answer:begin -->")[1].split("<!-- answer:end -->")[0]
    lines = [line for line in answer.splitlines() if line.strip()]
    assert lines, "the README's answer section is empty"
    # the committed report, or (before a commit that regenerates both) the working tree's
    reports = [committed_summary(ROOT), (ROOT / "reports" / "default" / "summary.md").read_text()]
    missing = [[line for line in lines if line not in report] for report in reports]
    assert not all(missing), f"not in reports/default/summary.md: {min(missing, key=len)[0]}"
