"""Paired significance tests of each variant against the ``qk`` baseline on the same test set.

sacrebleu's own paired bootstrap resampling (1,000 resamples) and paired approximate
randomisation (10,000 trials), through its Python API, one (size, match, seed, budget) cell per job;
then, once every cell is in, Holm's correction over each family (significance.py).
"""

import json
import os
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from attnablate.evaluate.formats import CELL_COLUMNS
from attnablate.evaluate.score import read_text_lines
from attnablate.io import write_tsv
from attnablate.model.variants import BASELINE

BOOTSTRAP_RESAMPLES = 1000
AR_TRIALS = 10000
SEED = 12345  # sacrebleu's resampling seed: the same p-values on every rerun


def delta_interval(baseline: list[str], system: list[str], references: list[str]) -> tuple:
    """95% interval of BLEU(system) - BLEU(baseline) by paired bootstrap: both systems are
    scored on the same resampled sentences. Uses sacrebleu's sufficient statistics (the
    same ones its significance module resamples)."""
    bleu = BLEU()
    base = np.array(bleu._extract_corpus_statistics(baseline, [references]))
    sys_ = np.array(bleu._extract_corpus_statistics(system, [references]))
    rng = np.random.default_rng(SEED)
    deltas = []
    for idx in rng.integers(len(references), size=(BOOTSTRAP_RESAMPLES, len(references))):
        score = bleu._compute_score_from_stats
        deltas.append(score(sys_[idx].sum(0)).score - score(base[idx].sum(0)).score)
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(low), float(high)


def paired_tests(baseline: list[str], systems: dict, references: list[str]) -> list[dict]:
    """One row per system: its BLEU, the difference to the baseline with its paired-bootstrap
    95% interval, and the two p-values (uncorrected: see ``correct``).

    sacrebleu counts only shuffles whose difference *exceeds* the observed one, which gives a
    system identical to the baseline the smallest p-value; such a system gets p = 1 here.
    """
    os.environ["SACREBLEU_SEED"] = str(SEED)
    named = [("baseline", baseline), *systems.items()]
    results = {}
    for test, samples in (("bs", BOOTSTRAP_RESAMPLES), ("ar", AR_TRIALS)):
        _, scores = PairedTest(
            named, {"BLEU": BLEU()}, [references], test_type=test, n_samples=samples
        )()
        results[test] = scores["BLEU"]
    base = results["bs"][0]
    rows = []
    for i, (name, hyps) in enumerate(systems.items(), start=1):
        identical = hyps == baseline
        low, high = delta_interval(baseline, hyps, references)
        rows.append(
            {
                "variant": name,
                "bleu": round(results["bs"][i].score, 4),
                "baseline_bleu": round(base.score, 4),
                "delta_bleu": round(results["bs"][i].score - base.score, 4),
                "delta_ci_low": round(low, 4),
                "delta_ci_high": round(high, 4),
                "p_bootstrap": 1.0 if identical else results["bs"][i].p_value,
                "p_ar": 1.0 if identical else results["ar"][i].p_value,
            }
        )
    return rows


def run_compare(cell: dict, baseline, systems: dict, scores: dict, reference, output) -> None:
    """Step ``compare``: the variants of one (size, match, seed, budget) cell against qk. ``scores``
    (variant -> scores.json, with qk) tell which runs diverged: those get a row without
    numbers, and the tests and Holm's correction cover the others; if qk diverged, nothing
    is compared."""
    diverged = {
        name for name, path in scores.items() if json.loads(Path(path).read_text()).get("diverged")
    }
    refs = read_text_lines(reference)
    live = {} if BASELINE in diverged else {n: p for n, p in systems.items() if n not in diverged}
    hyps = {name: read_text_lines(path) for name, path in live.items()}
    rows_tested = paired_tests(read_text_lines(baseline), hyps, refs) if hyps else []
    tested = {row["variant"]: row for row in rows_tested}
    rows = []
    for name in systems:
        if name in tested:
            rows.append({**cell, **tested[name], "diverged_sides": ""})
        else:
            sides = " and ".join(side for side in (BASELINE, name) if side in diverged)
            rows.append({**cell, "variant": name, "diverged_sides": sides})
            print(f"{name}: not compared, {sides} diverged")
    write_tsv(output, rows, CELL_COLUMNS)
    for row in tested.values():
        print(
            f"{row['variant']}: BLEU {row['bleu']:.2f} vs {row['baseline_bleu']:.2f} "
            f"(Δ {row['delta_bleu']:+.2f}), p_bs={row['p_bootstrap']:.4f}, "
            f"p_ar={row['p_ar']:.4f} (uncorrected; Holm over the (size, seed, budget) family at "
            "aggregation)"
        )
