"""Aggregation: every run's files into tidy tables, and the comparison frame that the report's
sentences and tables are rendered from.

Each run is judged by the convergence rule of ``convergence.py``.
"""

import json
import math
from pathlib import Path

import pandas as pd

from attnablate.analysis import comparison, ladder, significance
from attnablate.convergence import ANNEALED_SCHEDULES, convergence
from attnablate.io import read_tsv, write_tsv
from attnablate.meta import RunMeta
from attnablate.report.files import Tables
from attnablate.tasks import TRANSLATION, task_of, task_of_table

CELL_KEYS = ("experiment", "variant", "size", "match", "seed")  # a ladder's stable run
RUN_KEYS = (*CELL_KEYS, "budget")
KERNELS_JOIN = " then "  # runs.tsv's kernels: a run's kernel sets from step 0, in order


def stopped_by(meta: RunMeta) -> str:
    """What ended a run: ``diverged``, ``converged`` (stop_at_convergence), ``steps``
    (max_steps) or ``minutes`` (max_minutes: then runs of one budget differ in steps)."""
    if meta.diverged:
        return "diverged"
    if meta.converged_at is not None:
        return "converged"
    cap = meta.train_config.get("max_steps", 0)
    return "steps" if cap and meta.steps >= cap else "minutes"


def runs_table_row(meta: RunMeta, scores: dict, curve_rows: list[dict]) -> dict:
    """One tidy row of runs.tsv from a run's meta.json, scores.json and curves.tsv; its test
    measures are its task's (test_bleu and test_chrf, or test_accuracy and test_loss)."""
    model = meta.model_config
    task = task_of(model.get("architecture", "encoder_decoder"))
    schedule = meta.train_config.get("schedule", "inverse_sqrt")
    return {
        **{key: meta.run[key] for key in RUN_KEYS},
        "d_model": model["d_model"],
        "d_ff": model["d_ff"],
        "params_total": meta.params_total,
        "params_non_embedding": meta.params_non_embedding,
        "steps": meta.steps,
        "tokens": meta.tokens,
        "epochs_seen": meta.epochs_seen,
        "schedule": schedule,
        "lr": meta.train_config["lr"],
        "stopped_by": stopped_by(meta),
        "max_minutes": meta.train_config.get("max_minutes", 0),
        "train_seconds": meta.train_seconds,
        "tokens_per_second": meta.tokens_per_second,
        "best_step": meta.best_step,
        "best_valid_loss": meta.best_valid_loss,
        "best_valid_bleu": meta.best_valid_bleu,
        **convergence(curve_rows, annealed=schedule in ANNEALED_SCHEDULES),
        f"test_{task.measure}": scores[task.measure],
        f"test_{task.second}": scores[task.second],
        "diverged": meta.diverged,
        "diverged_at": meta.diverged_at,
        "device": meta.device,
        "kernels": KERNELS_JOIN.join(meta.kernels),
        **({"bleu_signature": scores["bleu_signature"]} if task is TRANSLATION else {}),
    }


def with_ladder_convergence(rows: list[dict]) -> list[dict]:
    """runs.tsv's rows with, on a ladder, each run's ``doubling_gain`` (what doubling its
    budget gained: the ladder's convergence rule) and ``converged`` by it; None and unchanged
    where no budget is twice its own."""
    gains = ladder.doubling_gains(pd.DataFrame(rows))
    judged = []
    for row, gain in zip(rows, gains):
        if math.isnan(gain):
            judged.append({**row, "doubling_gain": None})
        else:
            judged.append(
                {**row, "doubling_gain": round(gain, 6), "converged": ladder.converged(gain)}
            )
    return judged


def aggregate(runs: list, stable: list, tests: list, tables: Tables) -> None:
    """Every run's files into the experiment's ``tables``: ``runs`` (one row per run),
    ``curves`` and ``dynamics`` (every run's, with its keys), ``stable`` (a ladder's stable
    runs' curves, not annealed), ``significance`` (every per-seed test against qk,
    Holm-corrected over its (size, seed, budget) family) and ``comparison`` (one row per
    variant, size and budget: the verdict over seeds). ``runs``: each run's folder (its
    meta.json, scores.json, curves.tsv, dynamics.tsv); ``stable``: a ladder's stable runs'
    folders; ``tests``: the compare step's tables."""
    rows, curve_rows, dynamics_rows = [], [], []
    for folder in map(Path, runs):
        meta = RunMeta.read(folder / "meta.json")
        keys = {key: meta.run[key] for key in RUN_KEYS}
        curves = read_tsv(folder / "curves.tsv")
        scores = json.loads((folder / "scores.json").read_text())
        rows.append(runs_table_row(meta, scores, curves))
        curve_rows += [{**keys, **point} for point in curves]
        dynamics_rows += [{**keys, **point} for point in read_tsv(folder / "dynamics.tsv")]
    rows = with_ladder_convergence(rows)
    write_tsv(tables.runs, rows)
    write_tsv(tables.curves, curve_rows)
    write_tsv(tables.dynamics, dynamics_rows)  # every run logs dynamics at step 0
    stable_rows = []
    for folder in map(Path, stable):
        keys = {key: RunMeta.read(folder / "meta.json").run[key] for key in CELL_KEYS}
        stable_rows += [{**keys, **point} for point in read_tsv(folder / "curves.tsv")]
    write_tsv(tables.stable, stable_rows, None if stable_rows else [*CELL_KEYS, "step"])
    task = task_of_table(rows[0])
    tests = significance.correct([row for path in tests for row in read_tsv(path)])
    write_tsv(tables.significance, tests, significance.columns(task))
    table = comparison.comparison_table(
        pd.DataFrame(rows), pd.DataFrame(tests, columns=significance.columns(task))
    )
    write_tsv(tables.comparison, table.to_dict("records"), comparison.columns(task))
    converged = sum(r["converged"] for r in rows)
    print(
        f"{len(rows)} runs ({converged} converged), {len(curve_rows)} curve points, "
        f"{len(tests)} tests, {len(table)} comparisons"
    )
