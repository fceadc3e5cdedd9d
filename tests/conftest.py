"""Shared helpers: run the real Snakemake workflow of this repository in a scratch folder."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from snakemake.utils import validate

from attnablate.config import overrides, shared
from attnablate.config.checks import check
from attnablate.config.experiment import rooted
from attnablate.data.tokenizer import encode_split, train_tokenizer
from attnablate.report import reference
from attnablate.train.files import DataFiles

ROOT = Path(__file__).resolve().parents[1]

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

# ./test.sh runs one pytest worker per core: each computes on one thread (a second thread per
# worker only contends for the cores, and on the tests' small tensors mostly waits).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


def dry_check(config: dict) -> dict:
    """What the dry run checks of a config, in workflow/rules/common.smk's order (whole
    numbers, the schema filling defaults, the experiment, the references), on a copy: the
    config as the workflow would read it."""
    config = copy.deepcopy(config)
    overrides.integers(config, SCHEMA)
    validate(config, str(SCHEMA))
    check(config)
    reference.check(config)
    shared.check(config)
    return config


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    """Run this repository's Snakefile in ``workdir`` with ``config`` written to config.yaml."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--configfile", "config.yaml"]
    return subprocess.run(
        [*cmd, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True
    )


def planned_jobs(workdir, config) -> list[tuple[str, str]]:
    """(rule, where) of the jobs Snakemake would run, sorted: read from its --summary table (an
    output whose plan is an update), not from its dry-run text. ``where`` is the run folder
    (runs/<experiment>/<variant>/<size>/<match>/seed<n>/steps<budget>, or a ladder cell's
    .../seed<n>/stable<point>: one job per rule and run) for a run's outputs, else the output file
    (a job with several such outputs appears once for each)."""
    result = snakemake(workdir, config, "--summary")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    table = [dict(zip(rows[0], row)) for row in rows[1:]]
    pending = [(r["rule"], r["output_file"]) for r in table if r["plan"] == "update pending"]
    return sorted({(rule, run_folder(path) or path) for rule, path in pending})


def run_folder(path: str) -> str | None:
    parts = path.split("/")
    return "/".join(parts[:7]) if parts[0] == "runs" and len(parts) > 7 else None


@pytest.fixture
def smoke_config() -> dict:
    """The smoke experiment: a tiny model, a few hundred pairs, a few dozen steps."""
    return smoke_experiment()


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """The test corpus split 360/40, a 200-piece tokenizer, and its id files."""
    folder = tmp_path_factory.mktemp("data")
    lines = {
        side: (ROOT / "tests" / "data" / f"john.{side}").read_text().splitlines()
        for side in ("de", "en")
    }
    for split, part in (("train", slice(0, 360)), ("valid", slice(360, 400))):
        for side in ("de", "en"):
            (folder / f"{split}.{side}").write_text("\n".join(lines[side][part]) + "\n")
    train_tokenizer(
        [folder / "train.de", folder / "train.en"], folder / "spm.model", 200, "unigram"
    )
    for split in ("train", "valid"):
        encode_split(
            folder / "spm.model",
            folder / f"{split}.de",
            folder / f"{split}.en",
            folder / f"{split}.npz",
        )
    return DataFiles(
        folder / "train.npz", folder / "valid.npz", folder / "spm.model", folder / "valid.en"
    )


def saved_dataset(tmp_path, splits=None, column="translation"):
    """A translation dataset as datasets' save_to_disk writes it (the hub is not reachable
    here): John's Gospel, de-en, in the hub's layout of {language: text} pairs."""
    import datasets

    de = (ROOT / "tests" / "data" / "john.de").read_text().splitlines()
    en = (ROOT / "tests" / "data" / "john.en").read_text().splitlines()
    splits = splits or {"train": (0, 300), "validation": (300, 340), "test": (340, 380)}
    parts = {}
    for name, (start, end) in splits.items():
        pairs = [{"de": d, "en": e} for d, e in zip(de[start : end or 1], en[start : end or 1])]
        if column == "translation":
            part = datasets.Dataset.from_dict({"translation": pairs})
        else:
            part = datasets.Dataset.from_dict(
                {lang: [p[lang] for p in pairs] for lang in ("de", "en")}
            )
        parts[name] = part if end > start else part.select([])  # an empty split, typed
    folder = tmp_path / "john-de-en"
    datasets.DatasetDict(parts).save_to_disk(str(folder), num_shards=dict.fromkeys(parts, 1))
    return folder


def smoke_experiment() -> dict:
    """tests/smoke.yaml with its corpus paths made absolute (as the benchmark runs it)."""
    return rooted(yaml.safe_load((ROOT / "tests" / "smoke.yaml").read_text()), ROOT)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One finished, uninterrupted smoke run, shared by the tests that read its outputs (they
    only read them, or dry-run against them)."""
    config = smoke_experiment()
    workdir = tmp_path_factory.mktemp("smoke")
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config


# The test files that read the finished smoke run (the session fixture above): pytest-xdist
# gives them to one worker together, which makes the run once.
SMOKE_RUN_READERS = {
    path.name for path in Path(__file__).parent.glob("test_*.py") if "smoke_run" in path.read_text()
}


def pytest_xdist_make_scheduler(config, log):
    """./test.sh's --dist loadfile (each file whole on one worker, its module fixtures built
    once), with SMOKE_RUN_READERS as one unit; any other --dist as pytest-xdist has it."""
    from xdist.scheduler import LoadFileScheduling

    if config.getoption("dist") != "loadfile":
        return None

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return "smoke_run readers" if Path(file).name in SMOKE_RUN_READERS else file

    return Scheduling(config, log)


def pytest_collection_modifyitems(items):
    """The Slurm test last: once it stops its daemons, the Slurm client left installed makes
    every later Snakemake start wait ~9 s for the controller (the executor plugin probes it)."""
    items.sort(key=lambda item: item.path.name == "test_slurm.py")
