"""The comparison frame and the summary rendered from it: verdicts over seeds, convergence
first, initial values beside final ones. Runs and tests are made up to the numbers each case
needs; the whole-workflow tests run the real steps."""

import json
import math

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from attnablate.analysis.comparison import comparison_table
from attnablate.analysis.runs import with_labels
from attnablate.analysis.significance import correct
from attnablate.convergence import convergence
from attnablate.meta import RunMeta
from attnablate.report.comparisons import comparison_sentence, size_table
from attnablate.report.figures import plot_attention_maps
from attnablate.report.markup import table_cells
from attnablate.report.mechanism import dynamics_sentences
from attnablate.report.paper_tables import write_tables
from attnablate.report.summary import baseline_line, convergence_line, kernels_line

PARAMS = {"qk": 1000, "qq@enc": 950}


def run(variant, seed, bleu, converged=True, diverged=False, match="none", loss=3.0):
    return {
        "experiment": "t",
        "variant": variant,
        "size": "small",
        "match": match,
        "seed": seed,
        "budget": 360,
        "params_total": PARAMS[variant] + (50 if match != "none" else 0),
        "steps": 360,
        "tokens": 1_000_000,
        "epochs_seen": 1.5,
        "schedule": "inverse_sqrt",
        "test_bleu": None if diverged else bleu,
        "test_chrf": None if diverged else 2 * bleu,
        "best_valid_loss": loss,
        "converged": converged and not diverged,
        "last_quarter_gain": 0.0 if converged else 0.05,
        "diverged": diverged,
        "diverged_at": 100 if diverged else None,
        "bleu_signature": "sig",
    }


def seed_test(variant, seed, delta, p, match="none"):
    """A per-seed test row as compare writes it (p uncorrected)."""
    return {
        "experiment": "t",
        "size": "small",
        "match": match,
        "seed": str(seed),
        "budget": "360",
        "variant": variant,
        "delta_bleu": str(delta),
        "delta_ci_low": str(delta - 0.3),
        "delta_ci_high": str(delta + 0.3),
        "p_bootstrap": str(p),
        "p_ar": str(p),
        "diverged_sides": "",
    }


def frame(runs: list, tests: list) -> pd.DataFrame:
    return comparison_table(pd.DataFrame(runs), pd.DataFrame(correct(tests)))


def test_opposite_significant_seeds_are_counted_by_sign_and_no_verdict_is_called():
    """Item 7/8: one seed significantly better, the other significantly worse."""
    runs = [run("qk", 1, 2.0), run("qk", 2, 2.0), run("qq@enc", 1, 3.0), run("qq@enc", 2, 0.9)]
    tests = [seed_test("qq@enc", 1, 1.0, 0.001), seed_test("qq@enc", 2, -1.1, 0.001)]
    [row] = frame(runs, tests).itertuples()
    assert (row.better_seeds, row.worse_seeds, row.verdict) == (1, 1, "no difference detected")
    sentence = comparison_sentence(row)
    assert "significantly better in 1, worse in 1 of 2" in sentence
    assert "no difference detected at this power: |Δ| below" in sentence
    assert f"{row.detectable:.2f} BLEU" in sentence and row.detectable > 10
    assert "better by" not in sentence and "worse by" not in sentence


def test_a_verdict_needs_the_interval_over_seeds_to_exclude_zero():
    runs = [run("qk", s, 10.0 + s / 10) for s in (1, 2, 3)]
    runs += [run("qq@enc", s, 9.0 + s / 10 + (0.05 if s == 2 else 0)) for s in (1, 2, 3)]
    tests = [seed_test("qq@enc", s, -1.0, 0.2) for s in (1, 2, 3)]
    [row] = frame(runs, tests).itertuples()
    assert row.verdict == "worse" and row.delta_high < 0
    sentence = comparison_sentence(row)
    assert "**worse** than qk" in sentence and "95% interval over 3 seeds" in sentence
    assert "significantly better in 0, worse in 0 of 3" in sentence  # per seed: p = 0.2 × 3


def test_better_or_worse_needs_the_holm_corrected_test_of_the_comparisons():
    """Alone, a cell whose interval excludes zero (p = 0.035) is worse; beside a second cell
    at the same size and budget, Holm (× 2) leaves it undecided, as it would a claim."""
    qk = [10.0, 11.0, 12.0]
    runs = [run("qk", s, b) for s, b in zip((1, 2, 3), qk)]
    worse = [run("qq@enc", s, b + d) for s, b, d in zip((1, 2, 3), qk, (-1.0, -1.5, -2.0))]
    matched = [
        run("qq@enc", s, b + d, match="total") for s, b, d in zip((1, 2, 3), qk, (1.0, -1.0, 0.0))
    ]
    tests = [seed_test("qq@enc", s, -1.0, 0.2) for s in (1, 2, 3)]
    [alone] = frame(runs + worse, tests).itertuples()
    assert alone.delta_high < 0 and alone.p == pytest.approx(0.0351, abs=1e-4)
    assert alone.verdict == "worse" and "Holm p = 0.0351 over the 1 comparison" in (
        comparison_sentence(alone)
    )
    tests += [seed_test("qq@enc", s, 0.0, 0.9, match="total") for s in (1, 2, 3)]
    first, _ = frame(runs + worse + matched, tests).itertuples()
    assert first.p_holm == pytest.approx(2 * first.p) and first.family == 2
    assert first.delta_high < 0 and first.verdict == "no difference detected"
    sentence = comparison_sentence(first)
    assert "**worse**" not in sentence and "could have gone unseen" not in sentence
    assert "no difference called after Holm over the 2 comparisons at this size and budget: " in (
        sentence
    )


def test_one_seed_gives_no_verdict_and_says_so_first():
    runs = [run("qk", 1, 5.0), run("qq@enc", 1, 5.0)]
    [row] = frame(runs, [seed_test("qq@enc", 1, 0.0, 1.0)]).itertuples()
    assert row.verdict == "one seed" and math.isnan(row.delta_low)
    sentence = comparison_sentence(row)
    assert "one seed, so no verdict across training noise" in sentence
    assert "Δ +0.00" in sentence and "better by" not in sentence
    assert "not significantly different on this test set" in sentence
    assert not sentence.split(":")[1].strip().startswith("significant")


def test_means_and_interval_are_over_the_same_paired_seeds():
    """Item 6: seed 2 of the variant diverged: qk's seed 2 leaves the means as well."""
    runs = [run("qk", 1, 4.0), run("qk", 2, 8.0), run("qk", 3, 6.0)]
    runs += [run("qq@enc", 1, 5.0), run("qq@enc", 2, 0, diverged=True), run("qq@enc", 3, 6.5)]
    tests = [seed_test("qq@enc", 1, 1.0, 0.01), seed_test("qq@enc", 3, 0.5, 0.04)]
    tests.append({**seed_test("qq@enc", 2, 0, 1), "diverged_sides": "qq@enc"})
    [row] = frame(runs, tests).itertuples()
    assert row.seeds == 2 and row.diverged_seeds == "2"
    assert row.bleu == pytest.approx(5.75) and row.baseline_bleu == pytest.approx(5.0)
    assert row.delta_bleu == pytest.approx(row.bleu - row.baseline_bleu)


def test_unconverged_runs_are_said_first():
    runs = [run("qk", 1, 4.0, converged=False), run("qq@enc", 1, 4.5, converged=False)]
    assert convergence_line(pd.DataFrame(runs)).startswith("**Not converged.** None of the 2")
    assert "early learning speed" in convergence_line(pd.DataFrame(runs))
    [row] = frame(runs, [seed_test("qq@enc", 1, 0.5, 0.5)]).itertuples()
    assert not row.converged
    assert "[2 of the 2 runs compared, its and qk's, not converged]" in comparison_sentence(row)
    done = [run("qk", 1, 4.0), run("qq@enc", 1, 4.5)]
    assert convergence_line(pd.DataFrame(done)).startswith("**Converged.** All 2")


def test_the_size_tables_converged_column_counts_each_cells_own_runs_as_runs_tsv_says():
    """qk and each variant alike: how many of the cell's own finished runs converged, not a
    count over the pairs compared (which would give a three-seed cell six runs)."""
    runs = [run("qk", 1, 4.0), run("qk", 2, 4.2, converged=False)]
    runs += [run("qq@enc", 1, 4.5, converged=False), run("qq@enc", 2, 4.4, converged=False)]
    tests = [seed_test("qq@enc", 1, 0.5, 0.5), seed_test("qq@enc", 2, 0.2, 0.5)]
    table = size_table(frame(runs, tests), with_labels(pd.DataFrame(runs)), "small")
    header = table_cells(table[2])
    rows = [table_cells(line) for line in table if line.startswith("| `")]
    column = header.index("converged")
    assert {row[0]: row[column] for row in rows} == {"`qk`": "1 of 2", "`qq@enc`": "0 of 2"}


def test_the_masked_reports_baseline_line_sets_qks_finished_runs_beside_guessing():
    """Two finished qk runs at 20% and 22% accuracy (a diverged one and a variant left out)
    against guessing at 6%: 15 points above; loss 5.0 against 6.25 nats: 1.25 below; the
    words follow the signs."""
    rows = [
        {"label": "qk", "size": "small", "budget": 1000, "diverged": False,
         "test_accuracy": 20.0, "test_masked_loss": 5.1},
        {"label": "qk", "size": "small", "budget": 1000, "diverged": False,
         "test_accuracy": 22.0, "test_masked_loss": 4.9},
        {"label": "qk", "size": "small", "budget": 1000, "diverged": True,
         "test_accuracy": None, "test_masked_loss": None},
        {"label": "qq", "size": "small", "budget": 1000, "diverged": False,
         "test_accuracy": 90.0, "test_masked_loss": 1.0},
    ]  # fmt: skip
    guessed = {"accuracy": 6.0, "masked_loss": 6.25, "pieces": 100}
    line = baseline_line(pd.DataFrame(rows), "small", guessed)
    assert "scores 6.00% accuracy and 6.25 nats per piece" in line
    assert "`qk` at `small` reaches 21.00% and 5.00 nats (2 finished runs at 1,000 steps)" in line
    assert line.endswith("accuracy 15.00 points above guessing's and loss 1.25 nats below it.")
    worse = baseline_line(pd.DataFrame(rows), "small", {**guessed, "accuracy": 30.0})
    assert worse.endswith("accuracy 9.00 points below guessing's and loss 1.25 nats below it.")
    none_finished = baseline_line(pd.DataFrame(rows[2:]), "small", guessed)
    assert none_finished.endswith("on the pieces every run is scored on.")


def test_runs_stopped_by_a_time_budget_say_minutes_and_that_steps_differ():
    """A max_minutes budget ends runs at different steps (cheaper variants take more): the
    first line gives the minutes and the device, not a step budget the runs did not share."""
    timed = {"stopped_by": "minutes", "max_minutes": 4.0, "device": "cuda"}
    runs = [
        {**run("qk", 1, 4.0, converged=False), **timed, "steps": 8181},
        {**run("qq@enc", 1, 4.5, converged=False), **timed, "steps": 8601},
    ]
    line = convergence_line(pd.DataFrame(runs))
    assert "a budget of 4 minutes a run on `cuda` (8,181 to 8,601 steps; a time budget" in line
    by_steps = [{**r, "stopped_by": "steps", "steps": 360} for r in runs]
    assert "a budget of 360 steps (early" in convergence_line(pd.DataFrame(by_steps))


def test_an_annealed_budget_is_stated_and_its_distance_from_convergence_left_to_a_ladder():
    """Runs whose learning rate reaches zero at one budget are never called converged; the
    first line states the budget, and that only a ladder of budgets measures convergence."""
    runs = pd.DataFrame(
        [{**run("qk", s, 4.0, loss=3.1 + s / 100), "schedule": "linear"} for s in (1, 2, 3)]
    )
    line = convergence_line(with_labels(runs))
    assert line.startswith("**A comparison at one stated budget, not at convergence.**")
    assert "360 steps (about 1,000,000 target tokens, 1.5 epochs" in line
    assert "is not measured here: a ladder of budgets (train.budgets) measures both" in line
    masked = runs.rename(columns={"test_bleu": "test_accuracy", "test_chrf": "test_masked_loss"})
    assert "(about 1,000,000 masked pieces, 1.5 epochs" in convergence_line(with_labels(masked))
    flat = [{"step": str(100 * i), "valid_loss": "3.0"} for i in range(1, 5)]
    assert convergence(flat)["converged"] and not convergence(flat, annealed=True)["converged"]


def test_convergence_rule_on_curves():
    def curves(losses, every=100):
        return [{"step": str(every * (i + 1)), "valid_loss": str(v)} for i, v in enumerate(losses)]

    still_falling = convergence(curves([4.0, 3.5, 3.2, 3.0]))  # 3.5 at step ≤ 300 → 3.0
    assert not still_falling["converged"]
    assert still_falling["last_quarter_gain"] == pytest.approx((3.2 - 3.0) / 3.2)
    assert convergence(curves([4.0, 3.0, 2.99, 2.985]))["converged"]
    assert not convergence(curves([4.0]))["converged"]  # nothing early to compare with


def test_dynamics_sentences_tell_construction_from_learning():
    """Item 10: tied keys are symmetric and diagonal-heavy at step 0; the sentence says so,
    with the initial value next to the final one."""
    rows = []
    for seed in (1, 2):
        cases = (("qk", 0.07, 0.06, 0.5), ("qq@enc", 0.65, 0.41, 1.0))
        for variant, init_diag, final_diag, sym in cases:
            for step, diag in ((0, init_diag), (360, final_diag)):
                for site in ("enc", "dec"):
                    rows.append(
                        {
                            "experiment": "t",
                            "variant": variant,
                            "size": "small",
                            "match": "none",
                            "seed": seed,
                            "step": step,
                            "site": site,
                            "layer": 0,
                            "head": 0,
                            "symmetry": sym if site == "enc" else 0.5 + seed / 100,
                            "diag_mass": diag,
                            "entropy": 2.0,
                        }
                    )
    lines = dynamics_sentences(with_labels(pd.DataFrame(rows)), "small")
    qq = next(line for line in lines if line.startswith("- `qq@enc`"))
    assert "symmetric by construction" in qq and "0.650 → 0.410 (qk 0.070 → 0.060)" in qq
    qk = next(line for line in lines if line.startswith("- `qk`"))
    assert "0.500 → 0.500" in qk and "no difference detected between encoder and decoder" in qk


def test_the_paper_tables_mark_only_the_differences_the_summary_calls(tmp_path):
    """LaTeX and CSV from the comparison frame: the dagger where the summary calls a BLEU
    difference (qq@enc, worse after Holm), none where it does not (the matched cell), none on
    chrF and loss, which are never called; the same numbers in the CSV as in the frame."""
    runs = [run("qk", s, 10.0 + s / 10) for s in (1, 2, 3)]
    runs += [run("qq@enc", s, 9.0 + s / 10 + (0.05 if s == 2 else 0)) for s in (1, 2, 3)]
    runs += [
        run("qq@enc", s, 10.0 + s / 10 + (0.5, -0.5, 0.1)[s - 1], match="total") for s in (1, 2, 3)
    ]
    tests = [seed_test("qq@enc", s, -1.0, 0.2) for s in (1, 2, 3)]
    tests += [seed_test("qq@enc", s, 0.0, 0.9, match="total") for s in (1, 2, 3)]
    table = frame(runs, tests)
    assert list(table["verdict"]) == ["worse", "no difference detected"]
    write_tables(table, "t_1", tmp_path / "c.tex", tmp_path / "c.csv")
    latex = (tmp_path / "c.tex").read_text()
    rows = [line for line in latex.splitlines() if line.startswith("small &")]
    assert rows[0].startswith(r"small & \texttt{qq@enc} & ")
    assert r"$-0.98^{\dagger}$ [-1.05, -0.91]" in rows[0]
    assert r"\texttt{qq@enc (matched: total)}" in rows[1] and r"\dagger" not in rows[1]
    assert r"\toprule" in latex and r"\label{tab:attn-ablate-t\_1}" in latex
    assert "a BLEU difference is called" in latex
    assert sum(row.count(r"\dagger") for row in rows) == 1  # BLEU only: chrF, loss not called
    csv = pd.read_csv(tmp_path / "c.csv")
    assert list(csv["label"]) == list(table["label"])
    assert csv["delta_bleu"].tolist() == pytest.approx(table["delta_bleu"].tolist())


def test_the_summary_says_what_each_variant_does_from_the_registry():
    from attnablate.model.variants import DESCRIPTIONS, VARIANTS
    from attnablate.report.comparisons import variant_glossary

    assert set(DESCRIPTIONS) == {*VARIANTS, "gqa{G}"}  # every registered name is described
    lines = variant_glossary(["qk", "qq@enc", "gqa2@cross"])
    assert lines[2] == "- `qq@enc`: encoder self-attention: " + DESCRIPTIONS["qq"] + "."
    assert lines[3].startswith("- `gqa2@cross`: cross-attention: 2 key/value heads")
    assert not any("`qk`:" in line for line in lines)


# Each family's attention maps as its runs write them (train.dynamics.attention_maps).
FAMILY_MAPS = {
    "encoder_decoder": ("enc", "dec", "cross"),
    "decoder_only": ("prefix", "target", "target_prefix"),
    "encoder_only": ("self",),
}


@pytest.mark.parametrize("family", FAMILY_MAPS)
def test_every_familys_attention_maps_are_drawn(family, tmp_path):
    """Every site's map of every variant shows: the figure is mostly the maps' own colours
    (near-zero weights on a 6-piece sentence), not an empty page."""
    pieces = {"src": np.array(list("abcdef")), "tgt": np.array(list("uvwxyz"))}
    maps = {
        label: {**pieces, **{site: np.full((6, 6), 0.02) for site in FAMILY_MAPS[family]}}
        for label in ("qk", "qq@enc")
    }
    path = tmp_path / "attention_maps.png"
    plot_attention_maps(maps, "micro", path)
    rgb = matplotlib.image.imread(path)[..., :3]
    dark = np.abs(rgb - np.array([68, 1, 84]) / 255).max(-1) < 0.05  # viridis near 0
    assert dark.mean() > 0.2, f"{family}: {dark.mean():.3f} of the figure shows a map"


ZEN5 = "cpu AVX512, 1 thread, torch 2.13.0+cpu"
ZEN3 = "cpu AVX2, 1 thread, torch 2.13.0+cpu"


def test_the_kernels_line_names_each_set_and_every_run_resumed_under_another():
    """What a reader needs to rerun the numbers to the bit: the kernel sets, how many runs
    each trained, and which runs went on under another set after a resume."""
    runs = [run("qk", seed, 20.0) for seed in (1, 2, 3)]
    one = kernels_line(with_labels(pd.DataFrame([{**r, "kernels": ZEN5} for r in runs])))
    assert one.startswith(f"**Kernels.** Every run trained under `{ZEN5}`")
    assert "went on" not in one
    two = with_labels(
        pd.DataFrame(
            [{**r, "kernels": ZEN3} for r in runs[:1]] + [{**r, "kernels": ZEN5} for r in runs[1:]]
        )
    )
    line = kernels_line(two)
    assert f"2 kernel sets, `{ZEN3}` (1 run), `{ZEN5}` (2 runs)" in line
    assert "went on" not in line
    resumed = two.assign(kernels=[ZEN3, f"{ZEN3} then {ZEN5}", ZEN5])
    line = kernels_line(resumed)
    assert f"`{ZEN3}` (2 runs), `{ZEN5}` (2 runs)" in line  # each set, each run under it
    assert "**1 run went on under another kernel set after a resume** (`qk` seed 2 at 360 " in line
    assert f"steps: {ZEN3} then {ZEN5})" in line
    older = kernels_line(with_labels(pd.DataFrame(runs)))  # a runs.tsv from before the column
    assert "Not in runs.tsv" in older and "--forcerun aggregate" in older


def test_a_meta_json_from_before_runs_recorded_their_kernels_reads_its_writers(tmp_path):
    """Such a run's kernel set is that of the process that wrote it (its CPU's capability,
    threads and PyTorch build), as the aggregate step needs every run's."""
    path = tmp_path / "meta.json"
    fields = {name: 0 for name in RunMeta.__dataclass_fields__ if name != "run"}
    old = {**fields, "device": "cpu", "cpu_capability": "AVX2", "threads": 1}
    old = {**old, "versions": {"torch": "2.13.0+cpu"}}
    del old["kernels"]
    path.write_text(json.dumps(old))
    assert RunMeta.read(path).kernels == [ZEN3]
