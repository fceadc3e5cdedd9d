"""Preemption-safe training: a run killed mid-way, or stopped by Slurm's signals, and rerun
ends exactly where an uninterrupted run ends; corrupted resume states are detected and
skipped."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import train_job
from conftest import ROOT

from attnablate.meta import RunMeta
from attnablate.train.checkpoint import load_state, save_state
from attnablate.train.loop import RESUME_EXIT

STEPS, SAVE_EVERY = 240, train_job.SAVE_EVERY


def start(out, data, steps=STEPS, processes=1, architecture="encoder_decoder", env=None):
    """The job in its own process group, as Slurm runs a job step (``env``: added to its
    environment)."""
    out.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "workflow" / "scripts"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    script = ROOT / "tests" / "train_job.py"
    return subprocess.Popen(
        [sys.executable, script, out, str(steps), str(processes), data.train.parent, architecture],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def curves_without_seconds(out):
    rows = [line.split("\t") for line in (out / "curves.tsv").read_text().splitlines()]
    column = rows[0].index("seconds")
    return [row[:column] + row[column + 1 :] for row in rows]


def weights(out):
    return torch.load(out / "checkpoint.pt")["model"]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["encoder_decoder", "decoder_only", "encoder_only"])
def test_a_killed_run_resumes_to_the_same_weights_and_curves(tmp_path, data, architecture):
    whole = tmp_path / "whole"
    assert start(whole, data, architecture=architecture).wait() == 0

    broken = tmp_path / "broken"
    job = start(broken, data, architecture=architecture)
    state = broken / "resume" / f"state-{SAVE_EVERY:09d}.sha256"
    while not state.exists() and job.poll() is None:
        time.sleep(0.002)
    job.send_signal(signal.SIGKILL)  # a real kill: no cleanup, no atexit, mid-training
    assert job.wait() == -signal.SIGKILL, "the job finished before it could be killed"
    assert not (broken / "meta.json").exists()
    (broken / "curves.tsv").unlink()  # as Snakemake clears an incomplete job's outputs
    (broken / "checkpoint.pt").unlink(missing_ok=True)

    rerun = start(broken, data, architecture=architecture)
    log, _ = rerun.communicate()
    assert rerun.returncode == 0
    assert f"resumed at step {SAVE_EVERY}" in log
    assert curves_without_seconds(broken) == curves_without_seconds(whole)
    expected, got = weights(whole), weights(broken)
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    meta = RunMeta.read(broken / "meta.json")
    assert meta.steps == STEPS
    assert meta.kernels == RunMeta.read(whole / "meta.json").kernels  # one set, said once
    assert len(meta.kernels) == 1
    assert not (broken / "resume").exists()  # a finished run leaves nothing to resume


@pytest.mark.slow
def test_a_run_resumed_under_other_kernels_says_which_it_trained_under(tmp_path, data):
    """Killed, then resumed with PyTorch's CPU kernels forced to their plainest set (as on
    another processor): its meta.json lists both sets in order, where a run trained under
    one lists that one (the report's kernels line reads them)."""
    here = f"cpu {torch.backends.cpu.get_cpu_capability()}, 1 thread, torch {torch.__version__}"
    other = f"cpu DEFAULT, 1 thread, torch {torch.__version__}"
    assert here != other, "this machine's kernels are already the plainest set"
    run = tmp_path / "run"
    job = start(run, data)
    state = run / "resume" / f"state-{SAVE_EVERY:09d}.sha256"
    while not state.exists() and job.poll() is None:
        time.sleep(0.002)
    job.send_signal(signal.SIGKILL)
    assert job.wait() == -signal.SIGKILL, "the job finished before it could be killed"
    rerun = start(run, data, env={"ATEN_CPU_CAPABILITY": "default"})
    log, _ = rerun.communicate()
    assert rerun.returncode == 0, log
    assert f"resumed at step {SAVE_EVERY}" in log
    assert RunMeta.read(run / "meta.json").kernels == [here, other]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data):
    """The uninterrupted run of each process count, trained once for both signals."""
    runs = {}

    def of(processes: int):
        if processes not in runs:
            runs[processes] = tmp_path_factory.mktemp(f"whole{processes}")
            assert start(runs[processes], data, processes=processes).wait() == 0
        return runs[processes]

    return of


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_a_signalled_run_stops_at_once_and_resumes_bit_identically(
    tmp_path, data, uninterrupted, signum, processes
):
    """Slurm's warning before the time limit (USR1) or preemption (TERM), sent to every
    process of the job as Slurm does: a resume state at the step reached, exit status 75;
    the rerun continues from that step, not from the last periodic state."""
    whole = uninterrupted(processes)

    stopped = tmp_path / "stopped"
    job = start(stopped, data, processes=processes)
    state = stopped / "resume" / f"state-{SAVE_EVERY:09d}.sha256"
    while not state.exists() and job.poll() is None:
        time.sleep(0.002)
    time.sleep(0.3)  # mid-way between periodic states
    os.killpg(job.pid, signum)
    log, _ = job.communicate()
    assert job.returncode == RESUME_EXIT, log
    stopped_at = int(
        log.split(f"stopped by {signal.Signals(signum).name} at step ")[1].split(":")[0]
    )
    assert SAVE_EVERY < stopped_at < STEPS, log
    assert (stopped / "resume" / f"state-{stopped_at:09d}.pt").exists()
    (stopped / "curves.tsv").unlink()  # as Snakemake clears a failed job's outputs
    (stopped / "checkpoint.pt").unlink(missing_ok=True)

    rerun = start(stopped, data, processes=processes)
    log, _ = rerun.communicate()
    assert rerun.returncode == 0, log
    assert f"resumed at step {stopped_at} " in log
    assert curves_without_seconds(stopped) == curves_without_seconds(whole)
    expected, got = weights(whole), weights(stopped)
    assert all(torch.equal(expected[name], got[name]) for name in expected)


@pytest.mark.slow
def test_a_longer_budget_continues_a_run(tmp_path, data):
    """Killed at its budget's end, a run asked for more steps goes on rather than restart."""
    out = tmp_path / "run"
    job = start(out, data, steps=STEPS)
    state = out / "resume" / f"state-{SAVE_EVERY:09d}.sha256"
    while not state.exists() and job.poll() is None:
        time.sleep(0.002)
    job.send_signal(signal.SIGKILL)
    job.wait()
    longer = start(out, data, steps=STEPS + 60)
    log, _ = longer.communicate()
    assert f"resumed at step {SAVE_EVERY}" in log
    assert RunMeta.read(out / "meta.json").steps == STEPS + 60


def test_a_corrupted_state_falls_back_to_the_one_before(tmp_path):
    for step in (10, 20, 30):
        save_state(tmp_path, step, {"step": step})
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "state-000000020.pt",
        "state-000000030.pt",
    ]
    newest = tmp_path / "state-000000030.pt"
    newest.write_bytes(newest.read_bytes()[:-7])  # truncated, as by a full disk
    messages = []
    assert load_state(tmp_path, log=messages.append) == {"step": 20}
    assert "state-000000030.pt is truncated or corrupted" in messages[0]
    assert "resuming from" in messages[1] and "state-000000020.pt" in messages[1]
