"""The smoke experiment through a real Slurm shaped like a cluster (tools/local-slurm.sh: a CPU
default partition and a `gpu` partition with two fake GPUs), submitted with
`snakemake --profile slurm` after docs/cluster.md's install and EDIT steps. Checked from what Slurm
recorded for every job: partition, account, GPUs, CPUs and nodes; and the results must equal
a local run's. Needs root and Debian's Slurm packages (`tools/local-slurm.sh install`; CI
installs them first): without the packages the tests skip, except under CI, where they fail."""

import json
import os
import shutil
import subprocess
import time

import pytest
import torch
import yaml
from conftest import ROOT, SNAKEMAKE, snakemake

from attnablate.io import read_tsv

pytestmark = [pytest.mark.workflow, pytest.mark.slow]
LOCAL_SLURM = ROOT / "tools" / "local-slurm.sh"
JOB_RECORDS = "/run/attnablate-slurm/jobs"  # written by the test cluster's prolog
RUNS = ["qk/micro/none", "qq@enc/micro/none"]
GPU_RULES = {"train", "translate"}
ACCOUNT = "attnablate-test"

# What a user edits in the installed profile, set for the test cluster (the EDIT keys), plus
# the settings of a cluster without an accounting database and short delays.
EDITS = {
    "default-resources": {"slurm_partition": "cpu", "slurm_account": ACCOUNT},
    "set-resources": {"train": {"slurm_partition": "gpu"}, "translate": {"slurm_partition": "gpu"}},
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-keep-successful-logs": True,
    "seconds-between-status-checks": 2,
}
# The smoke run trains on the CPU; as a CUDA experiment's would, its training jobs ask for two
# GPUs (two data-parallel processes, a size's `gpus: 2`) and its translate jobs for one.
FAKE_GPUS = {"train": 2, "translate": 1}


def cluster_experiment(smoke_config: dict) -> dict:
    """The smoke experiment with a two-process (DDP) size, one CPU core per process, without
    its matched cell (every job costs Slurm's scheduling rounds; two runs show all)."""
    config = {**smoke_config, "cpus_per_process": 1, "match_params": ["none"]}
    config["sizes"] = {"micro": {**smoke_config["sizes"]["micro"], "gpus": 2}}
    return config


def dry_run_seconds(workdir) -> float:
    began = time.perf_counter()
    result = subprocess.run(
        [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "-n", "--quiet", "rules"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return time.perf_counter() - began


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The local cluster, started for this module and stopped after it; yields how long a
    dry run took before it started, for the check that stopping left the machine as found."""
    if os.geteuid() != 0:
        pytest.skip("the local Slurm needs root")
    if shutil.which("sbatch") is None or shutil.which("slurmctld") is None:
        message = "the local Slurm needs Debian's packages: tools/local-slurm.sh install"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    scratch = tmp_path_factory.mktemp("dry")
    (scratch / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    before = dry_run_seconds(scratch)
    started = subprocess.run([LOCAL_SLURM, "start"], capture_output=True, text=True)
    if started.returncode != 0:
        subprocess.run([LOCAL_SLURM, "stop"], check=False)
        pytest.fail(f"local Slurm did not start:\n{started.stdout}\n{started.stderr}")
    yield {"dry_run_before": before, "scratch": scratch}
    subprocess.run([LOCAL_SLURM, "stop"], check=False)


def install_profile(xdg) -> None:
    """docs/cluster.md's one-liner, then the EDIT keys for the test cluster."""
    subprocess.run(
        f"mkdir -p {xdg}/snakemake && cp -r profiles/slurm {xdg}/snakemake/",
        shell=True,
        check=True,
        cwd=ROOT,
    )
    path = xdg / "snakemake" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"].update(EDITS["default-resources"])
    for rule, resources in EDITS["set-resources"].items():
        profile["set-resources"][rule].update(resources, gpu=FAKE_GPUS[rule])
    profile.update(
        {k: v for k, v in EDITS.items() if k not in ("default-resources", "set-resources")}
    )
    path.write_text(yaml.safe_dump(profile))


def job_records(workdir) -> dict:
    """Slurm's record of every job the workflow submitted, by rule (the plugin names the rule
    in each job's comment); the job ids are those of the Slurm logs the plugin kept."""
    records = {}
    for log in (workdir / ".snakemake" / "slurm_logs").rglob("*.log"):
        text = open(f"{JOB_RECORDS}/{log.stem}.txt").read().split()
        record = dict(field.split("=", 1) for field in text if "=" in field)
        rule = record["Comment"].removeprefix("rule_").split("_wildcards")[0]
        records.setdefault(rule, []).append(record)
    return records


def outputs_of(workdir, run):
    folder = workdir / "runs" / "smoke" / run / "seed1" / "steps30"
    rows = read_tsv(folder / "curves.tsv")
    curves = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    scores = json.loads((folder / "scores.json").read_text())
    return curves, (folder / "test.hyp").read_text(), scores["bleu"], scores["chrf"]


def test_smoke_experiment_under_slurm_runs_where_the_profile_says(slurm, tmp_path, smoke_config):
    config = cluster_experiment(smoke_config)
    local = tmp_path / "local"
    local.mkdir()
    assert snakemake(local, config).returncode == 0

    cluster = tmp_path / "cluster"
    cluster.mkdir()
    install_profile(tmp_path / "xdg")
    (cluster / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    command = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--profile", "slurm"]
    result = subprocess.run(command, cwd=cluster, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    records = job_records(cluster)
    assert len(records["train"]) == len(RUNS)
    assert {"prepare", "tokenizer", "encode", "translate", "score"} <= set(records)
    for rule, jobs in records.items():
        for job in jobs:
            where = (rule, job["JobId"])
            assert job["Partition"] == ("gpu" if rule in GPU_RULES else "cpu"), where
            assert job["Account"] == ACCOUNT, where
            assert job["NumNodes"] == "1", where
            gpus = job.get("TresPerJob", "")  # what the job asked for (the plugin's --gpus)
            assert gpus == (f"gres:gpu:{FAKE_GPUS[rule]}" if rule in GPU_RULES else ""), where
            # a training job's cores scale with its processes (gpus x cpus_per_process)
            assert job["NumCPUs"] == ("2" if rule == "train" else "1"), where

    for run in RUNS:
        # started once by the plugin; both ranks' output reaches the rule's log
        log = (cluster / "logs" / "smoke" / run / "seed1" / "steps30" / "train.log").read_text()
        assert log.count("rank 0 of 2 ready") == 1 and log.count("rank 1 of 2 ready") == 1, log
        assert log.count("done: ") == 1, log
        assert outputs_of(cluster, run) == outputs_of(local, run), run
    assert (cluster / "reports" / "smoke" / "summary.md").read_text() == (
        local / "reports" / "smoke" / "summary.md"
    ).read_text()


SIGNALLED = "smoke/qk/micro/none/seed1/steps1000"  # the signal test's one training (1,000 steps)
TRAINED = f"runs/{SIGNALLED}/meta.json"


def run_and_signal(workdir, env, signal_at_step):
    """`snakemake --profile slurm` in ``workdir``; once training logs ``signal_at_step``,
    Slurm signals the training job's steps with USR1 (as --signal=USR1@300 does before the
    time limit). Returns the finished Snakemake process and its output."""
    command = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--profile", "slurm", TRAINED]
    run = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log = workdir / "logs" / SIGNALLED / "train.log"
    while run.poll() is None and f"step {signal_at_step}/" not in (
        log.read_text() if log.exists() else ""
    ):
        time.sleep(0.2)
    queue = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True)
    job = next(line.split()[0] for line in queue.stdout.splitlines() if "rule_train" in line)
    subprocess.run(["scancel", "--signal=USR1", job], check=True)
    output, _ = run.communicate()
    return run, output


def test_a_training_job_signalled_by_slurm_resumes_where_it_stopped(slurm, tmp_path, smoke_config):
    """The resubmitted job continues from the step the signal stopped it at (not from a
    periodic resume state: there is none before the end) and ends as an uninterrupted run."""
    config = {**smoke_config, "variants": ["qk"], "match_params": ["none"], "cpus_per_process": 1}
    config["train"] = {
        **smoke_config["train"],
        "max_steps": 1000,
        "eval_every": 500,
        "job": {"log_every": 100, "save_every": 5000},
    }
    local = tmp_path / "local"
    local.mkdir()
    assert snakemake(local, config, TRAINED).returncode == 0

    cluster = tmp_path / "cluster"
    cluster.mkdir()
    install_profile(tmp_path / "xdg")
    (cluster / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    run, output = run_and_signal(cluster, env, signal_at_step=300)
    assert run.returncode == 0, output[-4000:]

    # the resubmitted job's log (Snakemake clears a failed job's): a state at the signal's step
    log = (cluster / "logs" / SIGNALLED / "train.log").read_text()
    resumed_at = int(log.split("resumed at step ")[1].split()[0])
    assert 300 <= resumed_at < 1000, log
    assert output.count("Error in rule train") == 1, output[-4000:]  # once: exit status 75
    assert trained(cluster) == trained(local)


def trained(workdir):
    """A training's curves (but their seconds) and its checkpoint's weights."""
    folder = workdir / "runs" / SIGNALLED
    curves = [
        {k: v for k, v in row.items() if k != "seconds"} for row in read_tsv(folder / "curves.tsv")
    ]
    weights = torch.load(folder / "checkpoint.pt")["model"]
    return curves, {name: tensor.tolist() for name, tensor in weights.items()}


def test_a_packed_job_gets_its_shards_of_a_gpu(slurm, tmp_path):
    """What a packed size's job asks of a cluster that shares its GPUs (the rules ask it: see
    test_packed_jobs_ask_their_share_of_a_gpu): six of the shards of one GPU, on the GPU
    partition, placed and run."""
    out = tmp_path / "job.out"
    command = ["sbatch", "--parsable", "--partition=gpu", "--gres=shard:6", f"--output={out}"]
    command += ["--wrap", "echo shards=$SLURM_SHARDS_ON_NODE"]
    submitted = subprocess.run(command, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.strip().split(";")[0]
    for _ in range(60):
        if out.exists() and out.read_text().strip():
            break
        time.sleep(1)
    assert out.read_text().strip() == "shards=6"
    text = open(f"{JOB_RECORDS}/{job}.txt").read().split()
    record = dict(field.split("=", 1) for field in text if "=" in field)
    assert (record["Partition"], record["TresPerNode"]) == ("gpu", "gres:shard:6")


def test_stopping_the_cluster_leaves_snakemake_as_fast_as_before(slurm):
    """With a slurm.conf left behind but no controller, every Snakemake start (local runs
    included) waits ~9 s on the Slurm plugin's probe: stopping must remove what start wrote."""
    subprocess.run([LOCAL_SLURM, "stop"], check=True)
    after = dry_run_seconds(slurm["scratch"])
    assert after < slurm["dry_run_before"] + 3.0, (slurm["dry_run_before"], after)
