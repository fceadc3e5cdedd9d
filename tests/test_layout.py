"""The library as its architecture: the packages every Snakemake start and the report's
environment import stay free of torch."""

import subprocess
import sys

import pytest
from conftest import ROOT

LIBRARY = ROOT / "workflow" / "scripts" / "attnablate"
# what the Snakefile (config, parameter counts) and the aggregation and report steps import
TORCH_FREE = [
    *(f"attnablate.config.{p.stem}" for p in sorted((LIBRARY / "config").glob("[!_]*.py"))),
    *(f"attnablate.report.{p.stem}" for p in sorted((LIBRARY / "report").glob("[!_]*.py"))),
    "attnablate.model.variants",
    "attnablate.model.config",
    "attnablate.model.params",
]


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
