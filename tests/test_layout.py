"""The library as its architecture: imports run down the stages, and the packages every
Snakemake start and the report's environment import stay free of torch."""

import ast
import re
import subprocess
import sys

import pytest
from conftest import ROOT

LIBRARY = ROOT / "workflow" / "scripts" / "attnablate"
# what the Snakefile (config, parameter counts) and the aggregation and report steps import
TORCH_FREE = [
    *(f"attnablate.config.{p.stem}" for p in sorted((LIBRARY / "config").glob("[!_]*.py"))),
    *(f"attnablate.report.{p.stem}" for p in sorted((LIBRARY / "report").glob("[!_]*.py"))),
    *(f"attnablate.analysis.{p.stem}" for p in sorted((LIBRARY / "analysis").glob("[!_]*.py"))),
    "attnablate.model.variants",
    "attnablate.model.config",
    "attnablate.model.params",
    "attnablate.meta",
    "attnablate.convergence",
    "attnablate.tasks",
    "attnablate.evaluate.formats",
]
# The stages, each importing only from its own and those below it: what several stages
# share (errors, files, run metadata, the convergence rule) sits in the neutral home below
# them; steps, the adapter the rules call, sits above everything.
STAGES = [
    ("errors", "io", "timing", "meta", "convergence", "tasks"),
    ("config", "model", "data"),
    ("train",),
    ("evaluate",),
    ("analysis",),
    ("report",),
    ("steps",),
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}


def imported_stages(path) -> set[str]:
    """The library's top-level names a module imports (``attnablate.<name>...``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("attnablate.")}
    return found


def test_imports_run_down_the_stages():
    """config, model, data → train → evaluate → analysis → report: no module imports from a stage
    above its own, so each stage can be read, tested and changed without the later ones."""
    upward = []
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY).with_suffix("").parts
        stage = parts[0] if len(parts) > 1 else parts[0]
        if stage == "__init__":
            continue
        assert stage in RANK, f"{path.relative_to(LIBRARY)}: a stage STAGES does not name"
        upward += [
            f"{path.relative_to(LIBRARY)} imports attnablate.{name}"
            for name in sorted(imported_stages(path))
            if RANK[name] > RANK[stage]
        ]
    assert not upward, upward


@pytest.mark.parametrize("module", TORCH_FREE)
def test_a_module_the_snakefile_or_the_report_reads_imports_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "workflow" / "scripts",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False", f"{module} imports torch"


MODULE_LINES = 450  # a module is read whole: longer, and it holds more than one concern
FUNCTION_LINES = 80  # a function is read on one screen or two


def test_every_module_and_function_is_short_enough_to_read_whole():
    long = []
    for path in sorted(LIBRARY.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(LIBRARY)
        if text.count("\n") > MODULE_LINES:
            long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long.append(f"{name}: {node.name} {lines} lines")
    assert not long, long


def test_every_report_of_the_tree_can_be_committed():
    """A report a run draws under reports/ is one of the committed experiments' (the ignore
    list names those): none is silently left out of a commit. Checked on each configs/ file
    that says it writes reports/<name>/."""
    written = {"reports/default"} | {
        found
        for config in sorted((ROOT / "configs").glob("*.yaml"))
        for found in re.findall(r"writes (reports/[\w.-]+)/", config.read_text())
    }
    assert {"reports/fr-en", "reports/long"} <= written
    ignored = subprocess.run(
        ["git", "check-ignore", *(f"{report}/summary.md" for report in sorted(written))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout == "", f"ignored by .gitignore: {ignored.stdout}"
