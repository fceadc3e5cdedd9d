"""The project's own lint promises: ruff, snakefmt and snakemake --lint are clean."""

import importlib.util
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


def committed_summary(root: Path, experiment: str = "default") -> str:
    """reports/<experiment>/summary.md as committed: a user's own ./run.sh rewrites the file in
    the working tree with the numbers of their machine, which must not fail the tests."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:reports/{experiment}/summary.md"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return shown.stdout if shown.returncode == 0 else ""


def readme_tool():
    """tools/readme_answer.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "readme_answer", ROOT / "tools" / "readme_answer.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_the_readme_sets_the_reports_side_by_side_as_they_stand():
    """The claims of every report in tools/readme_answer.py's REPORTS, side by side, each
    labelled with where it ran: exactly what the script makes of the reports in the tree."""
    tool = readme_tool()
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(tool.SIDES_BEGIN)[1].split(tool.SIDES_END)[0].strip("\n")
    # the committed reports, or (before a commit that regenerates them) the working tree's
    committed = {name: committed_summary(ROOT, name) for name, _ in tool.REPORTS}
    made = [
        "\n".join(tool.sides(found)).strip("\n")
        for found in (committed, tool.summaries())
        if all(found.values())
    ]
    assert shown in made
    header = shown.splitlines()[0]
    for name, label in tool.REPORTS:
        assert tool.claim_cells(committed[name]), f"reports/{name}: no claims table"
        if "Not converged" in tool.first_line(committed[name]):  # every such column says so
            assert f"{label}; **not converged**" in header, name


def test_the_readme_controls_are_taken_from_the_controls_report():
    tool = readme_tool()
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(tool.CONTROLS_BEGIN)[1].split(tool.CONTROLS_END)[0].strip("\n")
    made = ROOT / "reports" / tool.CONTROLS_REPORT / "summary.md"
    found = [committed_summary(ROOT, tool.CONTROLS_REPORT), made.read_text()]
    assert shown in ["\n".join(tool.controls(f)).strip("\n") for f in found if f]
    assert "`qq@enc` − `qq_centred@enc` (what the start bias costs)" in shown


def test_the_readme_answer_is_taken_from_the_committed_report():
    readme = (ROOT / "README.md").read_text()
    answer = readme.split("<!-- answer:begin -->")[1].split("<!-- answer:end -->")[0]
    lines = [line for line in answer.splitlines() if line.strip()]
    assert lines, "the README's answer section is empty"
    # the committed report, or (before a commit that regenerates both) the working tree's
    reports = [committed_summary(ROOT), (ROOT / "reports" / "default" / "summary.md").read_text()]
    missing = [[line for line in lines if line not in report] for report in reports]
    assert not all(missing), f"not in reports/default/summary.md: {min(missing, key=len)[0]}"
