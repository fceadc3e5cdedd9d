"""Aggregation: every run's files into tidy tables, and the comparison frame that the report's
sentences and tables are rendered from.

Convergence rule: a run has converged when its best validation loss improved by less than 1%
over the last quarter of its steps, that is when the best loss of the whole run is within 1%
of the best loss among the validations in its first three quarters. A run with no validation
in its first three quarters cannot be judged and counts as not converged. A run whose learning
rate decays to zero at its budget (``schedule: linear``) is never called converged: its loss
flattens because the schedule ends, not because the model has learned what it can (how far
such a budget is from convergence is measured separately: ``budget_reference``).
"""

import json
import math
from pathlib import Path

import pandas as pd

from attnablate import comparison, significance
from attnablate.io import read_tsv, write_tsv

RUN_KEYS = ("experiment", "variant", "size", "match", "seed")
CONVERGENCE_WINDOW = 0.25  # the last quarter of a run's steps ...
CONVERGENCE_GAIN = 0.01  # ... must improve its best validation loss by less than 1%


def convergence(curve_rows: list[dict], annealed: bool = False) -> dict:
    """``converged`` and ``last_quarter_gain`` (relative improvement of the best validation
    loss over the last quarter of the steps; NaN when it cannot be judged) of one run;
    ``annealed``: its schedule decays to zero at the budget."""
    points = [(int(r["step"]), float(r["valid_loss"])) for r in curve_rows if r["valid_loss"]]
    points = [(step, loss) for step, loss in points if math.isfinite(loss)]
    if not points:
        return {"converged": False, "last_quarter_gain": math.nan}
    last = max(step for step, _ in points)
    early = [loss for step, loss in points if step <= (1 - CONVERGENCE_WINDOW) * last]
    if not early:
        return {"converged": False, "last_quarter_gain": math.nan}
    before, best = min(early), min(loss for _, loss in points)
    gain = (before - best) / before
    converged = gain < CONVERGENCE_GAIN and not annealed
    return {"converged": converged, "last_quarter_gain": round(gain, 6)}


def run_row(meta: dict, scores: dict, curve_rows: list[dict]) -> dict:
    """One tidy row of runs.tsv from a run's meta.json, scores.json and curves.tsv."""
    model = meta["model_config"]
    schedule = meta["train_config"].get("schedule", "inverse_sqrt")
    return {
        **{key: meta[key] for key in RUN_KEYS},
        "d_model": model["d_model"],
        "d_ff": model["d_ff"],
        "params_total": meta["params_total"],
        "params_non_embedding": meta["params_non_embedding"],
        "steps": meta["steps"],
        "tokens": meta["tokens"],
        "epochs_seen": meta.get("epochs_seen"),
        "schedule": schedule,
        "train_seconds": meta["train_seconds"],
        "tokens_per_second": meta["tokens_per_second"],
        "best_step": meta["best_step"],
        "best_valid_loss": meta["best_valid_loss"],
        "best_valid_bleu": meta["best_valid_bleu"],
        **convergence(curve_rows, annealed=schedule == "linear"),
        "test_bleu": scores["bleu"],
        "test_chrf": scores["chrf"],
        "diverged": meta["diverged"],
        "diverged_at": meta["diverged_at"],
        "device": meta["device"],
        "bleu_signature": scores["bleu_signature"],
    }


def run_aggregate(inputs, outputs) -> None:
    """Step ``aggregate``: ``runs`` (one row per run), ``curves`` and ``dynamics`` (every
    run's, with its keys), ``significance`` (every per-seed test against qk, Holm-corrected
    over its (size, seed) family) and ``comparison`` (one row per variant and size: the
    verdict over seeds)."""
    rows, curve_rows, dynamics_rows = [], [], []
    for meta_path, scores_path, curves_path, dynamics_path in zip(
        inputs["meta"], inputs["scores"], inputs["curves"], inputs["dynamics"]
    ):
        meta = json.loads(Path(meta_path).read_text())
        keys = {key: meta[key] for key in RUN_KEYS}
        curves = read_tsv(curves_path)
        rows.append(run_row(meta, json.loads(Path(scores_path).read_text()), curves))
        curve_rows += [{**keys, **point} for point in curves]
        dynamics_rows += [{**keys, **point} for point in read_tsv(dynamics_path)]
    write_tsv(outputs["runs"], rows)
    write_tsv(outputs["curves"], curve_rows)
    write_tsv(outputs["dynamics"], dynamics_rows)  # every run logs dynamics at step 0
    tests = significance.correct([row for path in inputs["significance"] for row in read_tsv(path)])
    write_tsv(outputs["significance"], tests, significance.COLUMNS)
    table = comparison.comparison_table(
        pd.DataFrame(rows), pd.DataFrame(tests, columns=significance.COLUMNS)
    )
    write_tsv(outputs["comparison"], table.to_dict("records"), comparison.COLUMNS)
    converged = sum(r["converged"] for r in rows)
    print(f"{len(rows)} runs ({converged} converged), {len(curve_rows)} curve points, "
          f"{len(tests)} tests, {len(table)} comparisons")  # fmt: skip
