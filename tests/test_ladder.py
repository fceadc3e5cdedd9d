"""The budget ladder: one stable run per cell at the peak rate, and from its branch states one
cooldown per budget that ends exactly where one uninterrupted WSD run to that budget ends."""

import copy
import json
import os
import shutil
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, planned_jobs, smoke_experiment, snakemake
from snakemake.utils import validate

from attnablate.analysis import ladder, stats
from attnablate.config.experiment import Experiment
from attnablate.io import read_tsv
from attnablate.meta import RunMeta
from attnablate.model.config import ModelConfig
from attnablate.report.aggregate import with_ladder_convergence
from attnablate.report.summary import ladder_line
from attnablate.timing import read_line
from attnablate.train import loop as training
from attnablate.train.config import JobConfig, TrainConfig, learning_rate
from attnablate.train.distributed import launch
from attnablate.train.files import RunFiles
from attnablate.train.loop import RESUME_EXIT, Run, train
from attnablate.train.state import Branches

BUDGETS = (20, 40)  # branch points 16 and 32 (cooldown_fraction 0.2)
MODEL = ModelConfig(
    vocab_size=200, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, variant="qq@enc"
)


def recipe(max_steps: int, save_every: int = 500, **overrides) -> TrainConfig:
    return TrainConfig(
        **overrides,
        max_steps=max_steps,
        batch_tokens=400,
        warmup_steps=10,
        schedule="wsd",
        eval_every=20,
        valid_bleu_sentences=10,
        job=JobConfig(log_every=10, save_every=save_every),
        device="cpu",
    )


def run_of(cfg: TrainConfig) -> Run:
    return Run(MODEL, cfg, 3, {})


def stable(cell, data, budgets=BUDGETS):
    """The cell's stable run to its largest budget's branch point, as the stable rule runs it."""
    ladder = plan(budgets)
    branches = Branches(cell / "branches", end=ladder.stable_steps, keep=ladder.branch_points)
    return train(run_of(recipe(max(budgets))), data, RunFiles(cell / "stable", False), branches)


def cooldown(cell, data, budget, **overrides):
    """One budget's cooldown, as the train rule runs it on a ladder."""
    out = RunFiles(cell / f"steps{budget}")
    meta = train(run_of(recipe(budget, **overrides)), data, out, Branches(out.branches))
    return meta, out


def plan(budgets) -> Experiment:
    """The smoke experiment as a ladder of ``budgets`` (each cooling down over its last
    fifth, the schema's default), as the workflow plans it."""
    return Experiment.of(validated(ladder_config(list(budgets))))


def weights(out):
    return torch.load(out.checkpoint)["model"]


def continuous(tmp_path, data, budget):
    out = RunFiles(tmp_path / f"whole{budget}")
    meta = train(run_of(recipe(budget)), data, out)
    return meta, out


def test_the_cooldown_starts_at_its_budgets_branch_point():
    """A budget's schedule is the stable run's (the peak rate) up to its branch point, and the
    largest budget's branch point is where the stable run ends."""
    ladder = plan([40, 20])
    assert ladder.budgets == [20, 40]
    assert ladder.branch_points == (16, 32)
    assert ladder.stable_steps == 32
    assert ladder.ladder_steps == 32 + 4 + 8
    for budget, branch in ((20, 16), (40, 32)):
        cfg = recipe(budget)
        assert learning_rate(10, cfg) == pytest.approx(cfg.lr)  # end of warmup
        assert learning_rate(branch, cfg) == pytest.approx(cfg.lr)  # still the peak
        assert learning_rate(branch + 1, cfg) < cfg.lr  # the cooldown's first step
        assert learning_rate(budget, cfg) == pytest.approx(cfg.lr / (budget - branch + 1))
        assert learning_rate(budget + 1, cfg) == 0.0


def test_a_cooldown_from_its_branch_state_ends_as_one_uninterrupted_wsd_run(tmp_path, data):
    cell = tmp_path / "cell"
    stable(cell, data)
    kept = sorted(p.name for p in (cell / "branches").glob("*.pt"))
    assert kept == ["state-000000016.pt", "state-000000032.pt"]
    for budget in BUDGETS:
        meta, out = cooldown(cell, data, budget)
        whole_meta, whole = continuous(tmp_path, data, budget)
        for name, tensor in weights(whole).items():
            assert torch.equal(weights(out)[name], tensor), name
        assert meta.steps == whole_meta.steps == budget
        assert meta.tokens == whole_meta.tokens
        assert meta.best_valid_loss == whole_meta.best_valid_loss


def test_a_larger_top_budget_extends_the_stable_run_from_its_last_state(tmp_path, data, capsys):
    cell = tmp_path / "cell"
    stable(cell, data, budgets=(20,))  # to step 16
    capsys.readouterr()
    meta = stable(cell, data, budgets=(20, 40))  # to step 32, from 16
    assert "resumed at step 16" in capsys.readouterr().out
    assert meta.steps == 32
    whole = tmp_path / "whole"
    stable(whole, data, budgets=(20, 40))
    first = torch.load(cell / "branches" / "state-000000032.pt")["model"]
    for name, tensor in torch.load(whole / "branches" / "state-000000032.pt")["model"].items():
        assert torch.equal(first[name], tensor), name


def test_a_stopped_cooldown_resumes_from_its_own_state_and_ends_identical(
    tmp_path, data, monkeypatch, capsys
):
    """Stopped mid-cooldown (as by Slurm before its time limit), the rerun job continues from
    the cooldown's resume state, not from the branch point, and ends where one run ends."""
    cell = tmp_path / "cell"
    stable(cell, data)
    step = training.Trainer.step

    def stopped_at_36(self, stream, forward):  # Slurm's USR1 arrives at step 36
        step(self, stream, forward)
        if self.p.step == 36:
            os.kill(os.getpid(), signal.SIGUSR1)

    monkeypatch.setattr(training.Trainer, "step", stopped_at_36)
    with pytest.raises(SystemExit) as stop:
        cooldown(cell, data, 40)
    assert stop.value.code == RESUME_EXIT
    assert (cell / "steps40" / "resume").exists()
    monkeypatch.undo()
    (cell / "steps40" / "curves.tsv").unlink()  # as Snakemake clears an incomplete job's outputs
    capsys.readouterr()
    meta, out = cooldown(cell, data, 40)
    assert "resumed at step 36" in capsys.readouterr().out
    _, whole = continuous(tmp_path, data, 40)
    for name, tensor in weights(whole).items():
        assert torch.equal(weights(out)[name], tensor), name
    assert meta.steps == 40


def test_a_killed_cooldown_resumes_from_its_last_state_and_ends_identical(
    tmp_path, data, monkeypatch, capsys
):
    """Killed mid-cooldown (the process dies: no state written on the way out), the rerun job
    continues from the cooldown's last periodic resume state and ends where one run ends."""
    cell = tmp_path / "cell"
    stable(cell, data)
    step = training.Trainer.step

    def killed_at_38(self, stream, forward):
        step(self, stream, forward)
        if self.p.step == 38:
            raise KeyboardInterrupt("killed")  # nothing of the trainer runs after it

    monkeypatch.setattr(training.Trainer, "step", killed_at_38)
    with pytest.raises(KeyboardInterrupt):
        cooldown(cell, data, 40, save_every=4)
    monkeypatch.undo()
    assert [p.name for p in (cell / "steps40" / "resume").glob("*.pt")] == ["state-000000036.pt"]
    (cell / "steps40" / "curves.tsv").unlink()  # as Snakemake clears an incomplete job's outputs
    capsys.readouterr()
    meta, out = cooldown(cell, data, 40, save_every=4)
    assert "resumed at step 36" in capsys.readouterr().out
    _, whole = continuous(tmp_path, data, 40)
    for name, tensor in weights(whole).items():
        assert torch.equal(weights(out)[name], tensor), name
    assert meta.steps == 40


@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_cooldown_whose_branch_state_is_lost_trains_the_stable_phase_itself(
    tmp_path, data, damage, capsys
):
    """No dead end: a cooldown whose state at its start is missing or corrupted continues from
    the newest intact state before it (here step 16), or from step 0, and still ends as one
    uninterrupted WSD run does; its log says so."""
    cell = tmp_path / "cell"
    stable(cell, data)
    state = cell / "branches" / "state-000000032.pt"
    if damage == "deleted":
        state.unlink()
    else:
        state.write_bytes(state.read_bytes()[:1000])
    capsys.readouterr()
    meta, out = cooldown(cell, data, 40)
    log = capsys.readouterr().out
    assert "no intact state of this cell's stable run at step 32" in log
    assert "from the stable run's state at step 16" in log
    _, whole = continuous(tmp_path, data, 40)
    for name, tensor in weights(whole).items():
        assert torch.equal(weights(out)[name], tensor), name
    assert meta.steps == 40
    shutil.rmtree(cell / "branches")  # none at all: from step 0
    meta, out = cooldown(cell, data, 20)
    _, whole = continuous(tmp_path, data, 20)
    for name, tensor in weights(whole).items():
        assert torch.equal(weights(out)[name], tensor), name


def ladder_runs(bleu: dict, loss: dict | None = None) -> pd.DataFrame:
    """runs.tsv rows of a hand-built ladder: ``bleu[(label, seed)]`` lists test BLEU at each
    of BUDGETS; ``loss`` likewise the annealed validation loss (default: falls with budget)."""
    rows = []
    for (label, seed), values in bleu.items():
        for i, (budget, value) in enumerate(zip(BUDGETS, values)):
            rows.append(
                {
                    "label": label,
                    "variant": label,
                    "size": "s",
                    "match": "none",
                    "seed": seed,
                    "budget": budget,
                    "test_bleu": value,
                    "best_valid_loss": (loss or {}).get((label, seed), [4.0, 3.0])[i],
                    "tokens": 1000 * budget,
                    "epochs_seen": budget / 10,
                    "diverged": False,
                }
            )
    return pd.DataFrame(rows)


def test_each_budgets_interval_is_over_the_seeds_paired_differences():
    """Δ at each budget is variant − qk paired by seed, and its interval is the t-interval over
    those differences: at 20 steps Δ is +1, +2, +3 (mean 2, sd 1), at 40 steps −1, −1, −1."""
    bleu = {("qk", s): [10.0, 20.0] for s in (1, 2, 3)}
    bleu |= {("qq", 1): [11.0, 19.0], ("qq", 2): [12.0, 19.0], ("qq", 3): [13.0, 19.0]}
    deltas = ladder.seed_deltas(ladder_runs(bleu), "qq", "s", "test_bleu")
    assert list(deltas.columns) == list(BUDGETS)
    assert deltas[20].tolist() == [1.0, 2.0, 3.0] and deltas[40].tolist() == [-1.0] * 3
    mean, low, high = stats.mean_interval(deltas[20])
    assert mean == 2.0
    assert (low, high) == pytest.approx((2 - 4.302653 / 3**0.5, 2 + 4.302653 / 3**0.5))
    mean, low, high = stats.mean_interval(deltas[40])
    assert (mean, low, high) == (-1.0, -1.0, -1.0)  # no spread: the interval is a point
    changes = ladder.sign_changes(deltas)
    assert changes == {1: 40, 2: 40, 3: 40}
    assert ladder.sign_change_text(changes).startswith("changes sign by 40 steps in 3 of 3")


def test_a_sign_that_holds_over_the_ladder_is_said_so():
    bleu = {("qk", s): [10.0, 20.0] for s in (1, 2)}
    bleu |= {("qq", 1): [11.0, 21.0], ("qq", 2): [9.0, 19.0]}
    changes = ladder.sign_changes(ladder.seed_deltas(ladder_runs(bleu), "qq", "s", "test_bleu"))
    assert changes == {1: None, 2: None}
    assert ladder.sign_change_text(changes) == "no change of sign within the ladder"


def test_a_cell_has_converged_where_doubling_its_budget_gains_under_one_percent():
    """The ladder's convergence rule: the annealed loss at 2B against B; the largest budget,
    with nothing twice it, is not judged."""
    bleu = {("qk", 1): [10.0, 20.0], ("qk", 2): [10.0, 20.0]}
    loss = {("qk", 1): [3.00, 2.98], ("qk", 2): [3.00, 2.70]}  # gains 0.67% and 10%
    runs = ladder_runs(bleu, loss)
    gains = ladder.doubling_gains(runs)
    assert gains.tolist()[0] == pytest.approx(0.02 / 3) and gains.tolist()[2] == pytest.approx(0.1)
    assert gains.isna().tolist() == [False, True, False, True]
    assert ladder.converged(gains[0]) and not ladder.converged(gains[2])
    judged = with_ladder_convergence(runs.assign(converged=False).to_dict("records"))
    line = ladder_line(pd.DataFrame(judged))
    assert "**Not converged at the largest budget:** the last doubling, 20 to 40 steps" in line
    assert "median 5.3%" in line and "1 of 2 runs converged" in line


def test_the_interval_changes_sign_only_where_it_lies_wholly_across_zero():
    """qq ahead at 20 steps (+2 on average); at 40 steps behind on every seed by 1 to 3:
    the interval (−4.48, +0.48 at 3 seeds) still holds zero, so the sign change is only seen
    seed by seed; with every seed 1 behind it lies wholly below zero."""
    bleu = {("qk", s): [10.0, 20.0] for s in (1, 2, 3)}
    bleu |= {("qq", 1): [11.0, 19.0], ("qq", 2): [12.0, 18.0], ("qq", 3): [13.0, 17.0]}
    deltas = ladder.seed_deltas(ladder_runs(bleu), "qq", "s", "test_bleu")
    assert ladder.interval_sign_change(deltas) is None
    assert ladder.interval_sign_text(deltas) == "no change of sign up to 40 steps"
    deltas[40] = -1.0
    assert ladder.interval_sign_change(deltas) == 40
    assert ladder.interval_sign_text(deltas).startswith("on the other side of zero from 40 steps")


def test_an_answer_has_settled_where_its_change_over_a_doubling_lies_within_the_margin():
    """Δ(40) − Δ(20) per seed: −0.1, 0, +0.1 lies within ±1 by two one-sided tests; −3, −4,
    −5 is still moving, and the summary gives the change with its interval."""
    bleu = {("qk", s): [10.0, 20.0] for s in (1, 2, 3)}
    bleu |= {("qq", 1): [11.0, 20.9], ("qq", 2): [12.0, 22.0], ("qq", 3): [13.0, 23.1]}
    deltas = ladder.seed_deltas(ladder_runs(bleu), "qq", "s", "test_bleu")
    (row,) = ladder.settling(deltas, margin=1.0)
    assert (row["budget"], row["half"], row["seeds"]) == (40, 20, 3)
    assert row["mean"] == pytest.approx(0.0) and row["settled"]
    assert ladder.settling_text([row]).startswith("settled: Δ(40) − Δ(20) = +0.00")
    deltas[40] = deltas[20] - [3.0, 4.0, 5.0]
    (row,) = ladder.settling(deltas, margin=1.0)
    assert row["mean"] == pytest.approx(-4.0) and not row["settled"]
    assert ladder.settling_text([row]).startswith(
        "still moving: Δ(40) − Δ(20) = -4.00, 90% interval [-5.69, -2.31] over 3 seeds"
    )


def test_the_claims_settle_under_holms_correction_like_their_own_tests():
    """Two claims whose changes each lie within ±1 alone (TOST p 0.032 and 0.044): over the
    two, Holm's smallest corrected p is 0.063, so neither has settled, and each says both
    p-values; alone, each is its own family and settles."""
    bleu = {("qk", s): [10.0, 20.0] for s in (1, 2, 3)}
    bleu |= {("qq", 1): [10.0, 19.55], ("qq", 2): [10.0, 20.05], ("qq", 3): [10.0, 20.45]}
    bleu |= {("kv", 1): [10.0, 19.5], ("kv", 2): [10.0, 20.2], ("kv", 3): [10.0, 20.5]}
    runs = ladder_runs(bleu)
    rows = {
        v: ladder.settling(ladder.seed_deltas(runs, v, "s", "test_bleu"), 1.0) for v in ("qq", "kv")
    }
    alone = {v: rows[v][-1]["p"] for v in rows}
    assert 0.025 < alone["qq"] < alone["kv"] < 0.05
    assert all(r[-1]["settled"] for r in rows.values())  # each a family of one
    assert "alone" not in ladder.settling_text(rows["kv"])
    ladder.settled_family([rows["qq"][-1], rows["kv"][-1]])
    assert not any(r[-1]["settled"] for r in rows.values())
    assert ladder.settling_text(rows["qq"]).endswith(
        f"not shown within ±1 (TOST p = {alone['qq']:.3g} alone, Holm p = "
        f"{2 * alone['qq']:.3g} over the 2 claims)"
    )


def test_a_doubling_that_makes_the_loss_worse_is_overfitting_not_convergence():
    loss = {("qk", 1): [3.00, 3.10], ("qk", 2): [3.00, 3.05]}
    runs = ladder_runs({("qk", 1): [10.0, 9.0], ("qk", 2): [10.0, 9.5]}, loss)
    gains = ladder.doubling_gains(runs)
    assert gains[0] < 0 and ladder.overfitting(gains[0]) and not ladder.converged(gains[0])
    judged = with_ladder_convergence(runs.assign(converged=False).to_dict("records"))
    line = ladder_line(pd.DataFrame(judged))
    assert "**Overfitting in 2 of 2 runs:** doubling 20 to 40 steps" in line
    assert "**Converged**" not in line


LADDER = {"schedule": "wsd", "budgets": [15, 30]}  # branch points 12 and 24
CELLS = ["qk/micro/none", "qq@enc/micro/none", "qq@enc/micro/total"]


def ladder_config(budgets) -> dict:
    config = smoke_experiment()
    config["train"] = {**config["train"], **LADDER, "budgets": budgets}
    del config["train"]["max_steps"]
    config["claims"] = [{"claim": "QQᵀ does worse", "variant": "qq@enc", "expect": "worse"}]
    return config


@pytest.fixture(scope="module")
def ladder_run(tmp_path_factory):
    """The smoke experiment as a ladder, run end to end."""
    workdir = tmp_path_factory.mktemp("ladder")
    config = ladder_config(LADDER["budgets"])
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config


def qk_alone(config: dict) -> dict:
    """The ladder's config narrowed to its qk cell (no claim then has its cells), for a test
    of the ladder's planning that one cell shows: a third of the jobs."""
    config.update(variants=["qk"], match_params=["none"], matched_variants=[], claims=[])
    return config


def copy_of(ladder_run, tmp_path) -> Path:
    """A copy of the finished ladder's working directory, for a test that changes it."""
    workdir = tmp_path / "copy"
    shutil.copytree(ladder_run[0], workdir, symlinks=True)
    return workdir


@pytest.mark.workflow
def test_the_ladder_report_opens_with_the_answer_over_the_budget(ladder_run):
    workdir, _ = ladder_run
    runs = read_tsv(workdir / "results" / "smoke" / "runs.tsv")
    assert sorted((r["variant"], r["match"], r["budget"]) for r in runs) == sorted(
        (cell.split("/")[0], cell.split("/")[2], str(b)) for cell in CELLS for b in (15, 30)
    )
    assert {int(r["steps"]) for r in runs} == {15, 30}
    stable = read_tsv(workdir / "results" / "smoke" / "stable.tsv")
    assert sorted({int(r["step"]) for r in stable}) == [15, 24]  # validations, and its end
    log = (workdir / "logs" / "smoke" / CELLS[0] / "seed1" / "steps30" / "train.log").read_text()
    assert read_line(log)["steps"] > 0  # the job's time by part, for perf/outside_work.py
    kept = workdir / "runs" / "smoke" / "qk" / "micro" / "none" / "seed1" / "branches"
    assert sorted(p.name for p in kept.glob("*.pt")) == ["state-000000012.pt", "state-000000024.pt"]
    summary = (workdir / "reports" / "smoke" / "summary.md").read_text()
    assert summary.index("## The answer over the training budget") < summary.index("mechanism")
    assert summary.index("![budget_curves](budget_curves.png)") < summary.index("## Figures")
    assert summary.splitlines()[2].startswith("Made by the pipeline from `config.yaml`")
    assert "**The answer over the training budget.**" in summary.splitlines()[4]
    header = next(line for line in summary.splitlines() if line.startswith("| claim | cell |"))
    assert header == (
        "| claim | cell | test | 15 steps | 30 steps | sign of Δ BLEU: its interval; seed by "
        "seed | settled? |"
    )
    assert "- *QQᵀ does worse* (`qq@enc` at `micro`): Δ test BLEU 15 steps" in summary
    assert "## The claims, point by point at the largest budget, 30 steps" in summary
    assert (workdir / "reports" / "smoke" / "budget_curves.png").stat().st_size > 10_000


@pytest.mark.workflow
def test_adding_a_budget_plans_its_segment_and_redoes_only_the_cooldowns_above_it(ladder_run):
    """Budget 20 (branch point 16) between 15 and 30: its stable segment, and the segment after
    it, whose input changed (it finds its state and trains nothing); so the cooldowns of 20
    and 30 and their evaluations, never the budget below."""
    workdir, _ = ladder_run
    jobs = planned_jobs(workdir, ladder_config([15, 20, 30]))
    planned = lambda rule: sorted(where for r, where in jobs if r == rule)  # noqa: E731
    cells = lambda runs: sorted(f"runs/smoke/{c}/seed1/{r}" for c in CELLS for r in runs)  # noqa: E731
    assert planned("stable") == cells(["stable16", "stable24"])
    assert planned("train") == planned("translate") == cells(["steps20", "steps30"])
    assert {rule for rule, _ in jobs} == {
        "stable",
        "train",
        "translate",
        "score",
        "attention",  # of the largest budget's runs
        "compare",
        "aggregate",
        "claims",
        "report",
    }


@pytest.mark.workflow
def test_raising_the_top_budget_extends_the_stable_run_and_adds_only_its_cooldown(
    ladder_run, tmp_path
):
    workdir = copy_of(ladder_run, tmp_path)
    config = qk_alone(ladder_config([15, 30, 60]))
    jobs = planned_jobs(workdir, config)
    trained = sorted(where for rule, where in jobs if rule in ("stable", "train"))
    new = [f"runs/smoke/{CELLS[0]}/seed1/{run}" for run in ("stable48", "steps60")]
    assert trained == new  # one segment more; no cooldown of 15 or 30 steps again
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    log = workdir / "logs" / "smoke" / CELLS[0] / "seed1" / "stable48" / "train.log"
    assert "resumed at step 24" in log.read_text()  # from the last branch state, not from 0
    meta = json.loads(
        (workdir / "runs" / "smoke" / CELLS[0] / "seed1" / "stable48" / "meta.json").read_text()
    )
    assert meta["steps"] == 48
    assert planned_jobs(workdir, config) == []


def continuation(budgets, seeds=(1, 2)) -> dict:
    """An experiment that continues the ladder run's runs (``runs: smoke``) to more budgets,
    on more seeds for qk and qq@enc, its matched cell on the first seed only."""
    config = ladder_config(budgets)
    config.update(experiment="smoke-long", runs="smoke", seeds=list(seeds))
    config["cell_seeds"] = [{"variant": "qq@enc", "match": "total", "seeds": [1]}]
    return config


@pytest.mark.workflow
def test_a_longer_experiment_continues_anothers_runs_and_trains_nothing_twice(ladder_run, tmp_path):
    workdir = copy_of(ladder_run, tmp_path)
    config = continuation([15, 30, 60])
    jobs = planned_jobs(workdir, config)
    trained = sorted(where for rule, where in jobs if rule in ("stable", "train"))
    seed1 = [f"runs/smoke/{c}/seed1/{run}" for c in CELLS for run in ("stable48", "steps60")]
    runs = ("stable12", "stable24", "stable48", "steps15", "steps30", "steps60")
    seed2 = [f"runs/smoke/{c}/seed2/{run}" for c in CELLS[:2] for run in runs]
    assert trained == sorted(seed1 + seed2)
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    log = workdir / "logs" / "smoke" / CELLS[0] / "seed1" / "stable48" / "train.log"
    assert "resumed at step 24" in log.read_text()
    runs_table = read_tsv(workdir / "results" / "smoke-long" / "runs.tsv")
    assert sorted({(r["variant"], r["match"], r["seed"]) for r in runs_table}) == [
        ("qk", "none", "1"), ("qk", "none", "2"), ("qq@enc", "none", "1"),
        ("qq@enc", "none", "2"), ("qq@enc", "total", "1"),
    ]  # fmt: skip
    assert (workdir / "reports" / "smoke-long" / "summary.md").is_file()
    # the experiment whose runs were continued has nothing to redo
    assert planned_jobs(workdir, ladder_config(LADDER["budgets"])) == []


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda c: c["train"].update(lr=0.002), "train.lr"),
        (lambda c: c["decode"].update(beam_size=3), "decode"),
        (lambda c: c["train"].update(budgets=[20, 60]), "train.budgets"),
    ],
)
def test_continuing_another_experiments_runs_needs_its_recipe(tmp_path, monkeypatch, change, named):
    from conftest import dry_check

    from attnablate.errors import ConfigurationError

    monkeypatch.chdir(tmp_path)
    theirs = dry_check(ladder_config(LADDER["budgets"]))
    (tmp_path / "reports" / "smoke").mkdir(parents=True)
    (tmp_path / "reports" / "smoke" / "config.yaml").write_text(yaml.safe_dump(theirs))
    config = continuation([15, 30, 60])
    dry_check(config)  # the same recipe, a longer ladder: accepted
    change(config)
    with pytest.raises(ConfigurationError, match=rf"runs: 'smoke'.*{named}"):
        dry_check(config)


def test_a_cell_of_cell_seeds_trains_its_own_seeds_and_must_be_run():
    from conftest import dry_check

    from attnablate.errors import ConfigurationError

    config = dry_check({**continuation([15, 30]), "runs": "smoke-long"})
    cells = Experiment.of(config).cells()
    seeds = {(c["variant"], c["match"]): [] for c in cells}
    for cell in cells:
        seeds[(cell["variant"], cell["match"])].append(cell["seed"])
    assert seeds == {("qk", "none"): [1, 2], ("qq@enc", "none"): [1, 2], ("qq@enc", "total"): [1]}
    config["cell_seeds"] = [{"variant": "nov@enc", "seeds": [1]}]
    with pytest.raises(ConfigurationError, match=r"cell_seeds\[0\]\.variant: 'nov@enc'"):
        dry_check(config)


def test_one_budget_has_no_doubling_to_judge_convergence_by():
    runs = ladder_runs({("qk", 1): [10.0, 20.0]})
    one = runs[runs["budget"] == 20].assign(converged=False).to_dict("records")
    judged = with_ladder_convergence(one)
    assert [(r["doubling_gain"], r["converged"]) for r in judged] == [(None, False)]


@pytest.mark.slow
def test_a_ladder_under_two_processes_ends_as_one_two_process_wsd_run(tmp_path, data):
    """DDP (gloo): every rank keeps stepping to the stable run's end, where rank 0 keeps the
    branch state with every rank's random state; the cooldown from it ends as one run does."""
    cell, cfg = tmp_path / "cell", recipe(40)
    branches = Branches(cell / "branches", end=32, keep=plan([40]).branch_points)
    launch(2, train, run_of(cfg), data, RunFiles(cell / "stable", False), branches, backend="gloo")
    assert len(torch.load(cell / "branches" / "state-000000032.pt")["rng"]) == 2
    out = RunFiles(cell / "steps40")
    launch(2, train, run_of(cfg), data, out, Branches(out.branches), backend="gloo")
    whole = RunFiles(tmp_path / "whole")
    launch(2, train, run_of(cfg), data, whole, backend="gloo")
    for name, tensor in weights(whole).items():
        assert torch.equal(weights(out)[name], tensor), name


# A change of each recipe setting after a smoke ladder, and whether the stable run's numbers
# depend on it (the cooldowns' always do).
RECIPE_CHANGES = {
    "lr": (lambda c: c["train"].update(lr=0.002), True),
    "warmup_steps": (lambda c: c["train"].update(warmup_steps=8), True),
    "d_ff": (lambda c: c["sizes"]["micro"].update(d_ff=48), True),
    "dropout": (lambda c: c.setdefault("model", {}).update(dropout=0.2), True),
    "cooldown_fraction": (lambda c: c["train"].update(cooldown_fraction=0.3), True),
    "cooldown_shape": (lambda c: c["train"].update(cooldown_shape="1-sqrt"), False),
}


def validated(config: dict) -> dict:
    """The config with the schema's defaults filled in, as the workflow reads it."""
    config = copy.deepcopy(config)
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def changed(setting: str, budgets=LADDER["budgets"]) -> dict:
    config = ladder_config(budgets)
    RECIPE_CHANGES[setting][0](config)
    return config


@pytest.mark.workflow
@pytest.mark.parametrize("setting", RECIPE_CHANGES)
def test_a_changed_recipe_reruns_every_run_it_touches_in_one_plan(ladder_run, setting):
    """The plan after a change holds every job whose numbers depend on it: the stable run's
    segments (unless only the cooldowns' shape changed), every budget's cooldown, its
    translation and score, the tests and the report, so that one invocation ends with every
    output made by the new recipe."""
    workdir, _ = ladder_run
    config = changed(setting)
    jobs = planned_jobs(workdir, config)
    points = Experiment.of(validated(config)).branch_points
    stable = [f"runs/smoke/{c}/seed1/stable{p}" for c in CELLS for p in points]
    runs = [f"runs/smoke/{c}/seed1/steps{b}" for c in CELLS for b in LADDER["budgets"]]
    planned = lambda rule: sorted(where for r, where in jobs if r == rule)  # noqa: E731
    assert planned("stable") == (sorted(stable) if RECIPE_CHANGES[setting][1] else [])
    assert planned("train") == planned("translate") == planned("score") == sorted(runs)
    assert {"compare", "aggregate", "report"} <= {rule for rule, _ in jobs}


# Where each recipe setting shows in a run's meta.json, and its changed value.
RECORDED = {
    "lr": (lambda m: m.train_config["lr"], 0.002),
    "warmup_steps": (lambda m: m.train_config["warmup_steps"], 8),
    "d_ff": (lambda m: m.model_config["d_ff"], 48),  # qk's; the matched cell widens its own
    "dropout": (lambda m: m.model_config["dropout"], 0.2),
    "cooldown_fraction": (lambda m: m.train_config["cooldown_fraction"], 0.3),
    "cooldown_shape": (lambda m: m.train_config["cooldown_shape"], "1-sqrt"),
}


@pytest.mark.workflow
def test_one_invocation_after_a_changed_recipe_leaves_every_output_of_the_new_one(
    ladder_run, tmp_path
):
    """Every recipe setting changed at once (the red team's case, the rate alone, among them):
    one invocation, and every cooldown's and stable segment's meta.json, the runs table, the
    summary and the report's config are of the new recipe; a second plans nothing."""
    settings = list(RECORDED)
    workdir = copy_of(ladder_run, tmp_path)
    before = (workdir / "reports" / "smoke" / "summary.md").read_text()
    config = ladder_config(LADDER["budgets"])
    for setting in settings:
        RECIPE_CHANGES[setting][0](config)
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    points = Experiment.of(validated(config)).branch_points
    runs = [*(f"steps{b}" for b in LADDER["budgets"]), *(f"stable{p}" for p in points)]
    for cell in CELLS:
        for run in runs:
            meta = RunMeta.read(workdir / "runs" / "smoke" / cell / "seed1" / run / "meta.json")
            for setting in settings:
                read, value = RECORDED[setting]
                if cell.endswith("total") and setting == "d_ff":
                    assert read(meta) > value, (cell, run)  # re-widened from the new d_ff
                elif not (run.startswith("stable") and setting.startswith("cooldown")):
                    assert read(meta) == value, (cell, run, setting)
    table = read_tsv(workdir / "results" / "smoke" / "runs.tsv")
    assert {r["lr"] for r in table} == {str(RECORDED["lr"][1])}
    assert (workdir / "reports" / "smoke" / "summary.md").read_text() != before
    reported = yaml.safe_load((workdir / "reports" / "smoke" / "config.yaml").read_text())
    assert reported["train"]["lr"] == RECORDED["lr"][1]
    assert planned_jobs(workdir, config) == []  # nothing left for a second invocation


@pytest.mark.workflow
def test_a_budget_below_the_smallest_runs_in_one_invocation(ladder_run, tmp_path):
    """A new first branch point (11, before 12): its segment trains from step 0, and the
    segments after it, whose input changed, find their states and train nothing again."""
    workdir = copy_of(ladder_run, tmp_path)
    config = qk_alone(ladder_config([14, *LADDER["budgets"]]))
    result = snakemake(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = workdir / "logs" / "smoke" / CELLS[0] / "seed1"
    log = (logs / "stable12" / "train.log").read_text()
    assert "branches/state-000000012.pt" in log and "done: 12 steps" in log
    runs = read_tsv(workdir / "results" / "smoke" / "runs.tsv")
    assert sorted({int(r["budget"]) for r in runs}) == [14, 15, 30]
    assert planned_jobs(workdir, config) == []
