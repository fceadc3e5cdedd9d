"""Shared helpers: run the real Snakemake workflow of this repository in a scratch folder."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    """Run this repository's Snakefile in ``workdir`` with ``config`` written to config.yaml."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--configfile", "config.yaml"]
    return subprocess.run(
        [*cmd, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True
    )


@pytest.fixture
def smoke_config() -> dict:
    """The smoke experiment: a tiny model, a few hundred pairs, a few dozen steps."""
    config = yaml.safe_load((ROOT / "tests" / "smoke.yaml").read_text())
    for pair in config["corpus"]["files"].values():
        for side in ("src", "tgt"):
            pair[side] = str(ROOT / pair[side])
    return config
