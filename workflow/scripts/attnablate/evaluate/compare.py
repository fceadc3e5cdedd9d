"""Paired significance tests of each variant against the ``qk`` baseline on the same test set.

Translation: sacrebleu's own paired bootstrap resampling (1,000 resamples) and paired
approximate randomisation (10,000 trials), through its Python API. The masked task: the same
two tests over whole test sentences of accuracy (each sentence's correct and chosen pieces,
evaluate/masked.py), from fixed seeds. One (size, match, seed, budget) cell per job; then,
once every cell is in, Holm's correction over each family (significance.py).
"""

import json
import os
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from attnablate.evaluate.formats import SCORE_DECIMALS, cell_columns
from attnablate.evaluate.score import read_text_lines
from attnablate.io import read_tsv, write_tsv
from attnablate.model.variants import BASELINE
from attnablate.tasks import MASKED, TRANSLATION, Task

BOOTSTRAP_RESAMPLES = 1000
AR_TRIALS = 10000
AR_CHUNK = 1000  # the masked task's trials drawn at once
SEED = 12345  # the resampling seed (sacrebleu's and ours): the same p-values on every rerun


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


def sentence_counts(path) -> np.ndarray:
    """(sentences, 2): correct and chosen pieces per sentence of a run's test.masked.tsv."""
    rows = read_tsv(Path(path))
    return np.array([[int(r["correct"]), int(r["count"])] for r in rows], dtype=np.int64)


def accuracy(counts: np.ndarray) -> np.ndarray:
    """Accuracy (%) of (..., sentences, 2) counts, over the sentence axis."""
    return 100 * counts[..., 0].sum(-1) / counts[..., 1].sum(-1)


def masked_paired_test(baseline: np.ndarray, system: np.ndarray) -> dict:
    """Δ accuracy (system − baseline) on the same sentences, its paired-bootstrap 95% interval
    and p (twice the smaller share of resamples on either side of zero), and the paired
    approximate-randomisation p (each sentence's two results swapped at random; as
    sacrebleu's, (1 + trials at least as far from zero) / (1 + trials))."""
    observed = float(accuracy(system) - accuracy(baseline))
    rng = np.random.default_rng(SEED)
    n = len(baseline)
    picks = rng.integers(n, size=(BOOTSTRAP_RESAMPLES, n))
    deltas = accuracy(system[picks]) - accuracy(baseline[picks])  # (resamples,)
    low, high = np.percentile(deltas, [2.5, 97.5])
    p_bootstrap = min(1.0, 2 * min((deltas <= 0).mean(), (deltas >= 0).mean()))
    at_least = 0
    for _ in range(AR_TRIALS // AR_CHUNK):  # in chunks: trials × sentences stays small
        swap = rng.random((AR_CHUNK, n, 1)) < 0.5  # (chunk, n, 1)
        a = np.where(swap, system[None], baseline[None])  # (chunk, n, 2)
        b = np.where(swap, baseline[None], system[None])
        at_least += int((np.abs(accuracy(b) - accuracy(a)) >= abs(observed) - 1e-12).sum())
    identical = np.array_equal(system, baseline)
    measure = MASKED.measure
    return {
        measure: round(float(accuracy(system)), SCORE_DECIMALS),
        f"baseline_{measure}": round(float(accuracy(baseline)), SCORE_DECIMALS),
        f"delta_{measure}": round(observed, SCORE_DECIMALS),
        "delta_ci_low": round(float(low), SCORE_DECIMALS),
        "delta_ci_high": round(float(high), SCORE_DECIMALS),
        "p_bootstrap": 1.0 if identical else float(p_bootstrap),
        "p_ar": 1.0 if identical else (1 + at_least) / (1 + AR_TRIALS),
    }


def masked_paired_tests(baseline, systems: dict) -> list[dict]:
    """One row per system (name -> its test.masked.tsv) against the ``baseline``'s file."""
    base = sentence_counts(baseline)
    return [
        {"variant": name, **masked_paired_test(base, sentence_counts(path))}
        for name, path in systems.items()
    ]


def run_compare(
    cell: dict, baseline, systems: dict, scores: dict, reference, output, task: Task = TRANSLATION
) -> None:
    """Step ``compare``: the variants of one (size, match, seed, budget) cell against qk, on
    their ``task``'s test outputs (translations and the ``reference``, or a masked run's
    sentence rows). ``scores`` (variant -> scores.json, with qk) tell which runs diverged:
    those get a row without numbers, and the tests and Holm's correction cover the others;
    if qk diverged, nothing is compared."""
    diverged = {
        name for name, path in scores.items() if json.loads(Path(path).read_text()).get("diverged")
    }
    live = {} if BASELINE in diverged else {n: p for n, p in systems.items() if n not in diverged}
    if not live:
        rows_tested = []
    elif task is MASKED:
        rows_tested = masked_paired_tests(baseline, live)
    else:
        hyps = {name: read_text_lines(path) for name, path in live.items()}
        rows_tested = paired_tests(read_text_lines(baseline), hyps, read_text_lines(reference))
    tested = {row["variant"]: row for row in rows_tested}
    rows = []
    for name in systems:
        if name in tested:
            rows.append({**cell, **tested[name], "diverged_sides": ""})
        else:
            sides = " and ".join(side for side in (BASELINE, name) if side in diverged)
            rows.append({**cell, "variant": name, "diverged_sides": sides})
            print(f"{name}: not compared, {sides} diverged")
    write_tsv(output, rows, cell_columns(task))
    m = task.measure
    for row in tested.values():
        print(
            f"{row['variant']}: {task.label} {row[m]:.2f} vs {row[f'baseline_{m}']:.2f} "
            f"(Δ {row[f'delta_{m}']:+.2f}), p_bs={row['p_bootstrap']:.4f}, "
            f"p_ar={row['p_ar']:.4f} (uncorrected; Holm over the (size, seed, budget) family at "
            "aggregation)"
        )
