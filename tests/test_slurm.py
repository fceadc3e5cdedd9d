"""The smoke experiment through a real Slurm (tools/local-slurm.sh: slurmctld, slurmd, munge on
this machine), submitted with `snakemake --profile slurm` exactly as the README says; its
results must equal a local run's."""

import json
import os
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, SNAKEMAKE, snakemake

from attnablate.io import read_tsv

pytestmark = pytest.mark.workflow
LOCAL_SLURM = ROOT / "tools" / "local-slurm.sh"
RUNS = ["qk/micro/none", "qq@enc/micro/none", "qq@enc/micro/total"]

# What a user edits in the installed profile, set for the one-node test cluster: no accounting
# database (so squeue reports status), no account, the `debug` partition, short delays.
TEST_CLUSTER = {
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "slurm-no-account": True,
    "slurm-keep-successful-logs": True,
    "seconds-between-status-checks": 2,
    # the smoke run trains on the CPU, but its training jobs ask Slurm for the (fake) GPU,
    # as a cluster run's would
    "set-resources": ["train:gpu=1"],
}


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0 or (shutil.which("apt-get") is None and shutil.which("sbatch") is None):
        pytest.skip("a local Slurm needs root and Debian's packages")
    started = subprocess.run([LOCAL_SLURM, "start"], capture_output=True, text=True)
    if started.returncode != 0:
        message = f"local Slurm did not start:\n{started.stdout}\n{started.stderr}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield
    subprocess.run([LOCAL_SLURM, "stop"], check=False)


def install_profile(xdg: object) -> None:
    """The README's one-liner, then the EDIT keys for the test cluster."""
    subprocess.run(
        f"mkdir -p {xdg}/snakemake && cp -r profiles/slurm {xdg}/snakemake/",
        shell=True, check=True, cwd=ROOT,
    )  # fmt: skip
    path = xdg / "snakemake" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"]["slurm_partition"] = "debug"
    del profile["default-resources"]["slurm_account"]
    profile.update(TEST_CLUSTER)
    path.write_text(yaml.safe_dump(profile))


def outputs_of(workdir, run):
    folder = workdir / "runs" / "smoke" / run / "seed1"
    rows = read_tsv(folder / "curves.tsv")
    curves = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    scores = json.loads((folder / "scores.json").read_text())
    return curves, (folder / "test.hyp").read_text(), scores["bleu"], scores["chrf"]


def test_smoke_experiment_under_slurm_equals_a_local_run(slurm, tmp_path, smoke_config):
    local = tmp_path / "local"
    local.mkdir()
    assert snakemake(local, smoke_config).returncode == 0

    cluster = tmp_path / "cluster"
    cluster.mkdir()
    install_profile(tmp_path / "xdg")
    (cluster / "config.yaml").write_text(yaml.safe_dump(smoke_config, sort_keys=False))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    command = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--profile", "slurm"]
    result = subprocess.run(command, cwd=cluster, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    # every job of the experiment ran as a Slurm job: each kept its Slurm log, named by job id
    slurm_logs = list((cluster / ".snakemake" / "slurm_logs").rglob("*.log"))
    train_logs = [p for p in slurm_logs if "rule_train" in p.parts]
    assert len(train_logs) == len(RUNS)
    assert all(p.stem.isdigit() for p in slurm_logs)
    assert "Submitted batch job" in result.stdout + result.stderr or slurm_logs
    for run in RUNS:
        assert outputs_of(cluster, run) == outputs_of(local, run), run
    assert (cluster / "reports" / "smoke" / "summary.md").read_text() == (
        local / "reports" / "smoke" / "summary.md"
    ).read_text()
