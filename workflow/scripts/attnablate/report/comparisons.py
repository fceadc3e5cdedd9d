"""Every comparison in the summary's words: a sentence per variant against qk at each size,
the table of every variant per size, what each variant does, and how a verdict is called;
rendered from the comparison frame (comparison.py) in the task's measures."""

import math

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.runs import diverged
from attnablate.analysis.verdict import Verdict
from attnablate.io import flag
from attnablate.model.variants import BASELINE, describe, parse_sites
from attnablate.report.markup import counted, text
from attnablate.tasks import MASKED, TRANSLATION, Task, task_of

# What the test measures are, and the per-seed tests on them, per task (the comparisons' intro)
TEST_WORDS = {
    TRANSLATION.name: (
        "Test BLEU and chrF are sacrebleu's, on the test set ({test_set}) translated with beam "
        "search.",
        "sacrebleu's approximate randomisation",
    ),
    MASKED.name: (
        "Test masked-token accuracy and loss are on the test set ({test_set}) with 15% of its "
        "pieces masked from one fixed seed: the same pieces for every run.",
        "approximate randomisation over test sentences",
    ),
}


def table_header(task: Task) -> str:
    """The head of a size's table of every variant against qk, in the task's measures."""
    return (
        f"| variant | parameters | seeds | test {task.short} | Δ {task.short} (95% interval "
        f"over seeds) | verdict | Δ {task.second_label} | per-seed p (AR, Holm) | converged "
        "| best valid loss |\n|---|---:|---:|---:|---|---|---:|---|---|---:|"
    )


def comparison_sentence(row, task: Task = TRANSLATION) -> str:
    """One sentence on one variant at one size against qk, from its comparison row, in the
    ``task``'s measure."""
    m = task.measure
    score, baseline, delta = (getattr(row, c) for c in (m, f"baseline_{m}", f"delta_{m}"))
    saved = row.params_saved
    size_words = (
        f"{saved:.1%} fewer parameters than qk"
        if saved > 0.0005
        else "the same parameter count as qk"
        if saved > -0.0005
        else f"{-saved:.1%} more parameters than qk"
    )
    head = f"- At size `{row.size}`, `{row.label}` ({size_words})"
    if not row.converged and row.seeds:
        runs = counted(2 * int(row.seeds), "run")
        head += (
            f" [{int(row.unconverged_runs)} of the {runs} compared, its and qk's, not converged]"
        )
    if row.verdict == Verdict.NO_PAIR:
        return f"{head}: no seed where both it and qk finished (diverged: {row.diverged_seeds})."
    scores = f"{score:.2f} vs {baseline:.2f} {task.short} for qk"
    if row.verdict == Verdict.ONE_SEED:
        on_test = (
            "significantly better"
            if row.better_seeds
            else "significantly worse"
            if row.worse_seeds
            else "not significantly different"
        )
        return (
            f"{head}: one seed, so no verdict across training noise. That seed's two models: "
            f"{scores}, Δ {delta:+.2f} (paired-bootstrap 95% interval over test "
            f"sentences {row.test_ci_low:+.2f} to {row.test_ci_high:+.2f}); {on_test} on this "
            f"test set ({_per_seed_p(row)})."
        )
    interval = (
        f"Δ {delta:+.2f}, 95% interval over {int(row.seeds)} seeds "
        f"{row.delta_low:+.2f} to {row.delta_high:+.2f}"
    )
    if row.verdict in (Verdict.BETTER, Verdict.WORSE):
        family = counted(int(row.family), "comparison")
        verdict = (
            f"**{row.verdict}** than qk: {scores}, {interval} "
            f"(Holm p {stats.p_is(row.p_holm)} over the {family} at this size and budget)"
        )
        if row.seeds == 2:
            verdict += (
                " (two seeds: the interval rests on a spread estimated from two differences, "
                "and is fragile; a third seed would show whether it holds)"
            )
    elif row.p < stats.ALPHA:  # the interval alone excludes zero: the correction decides
        verdict = (
            f"no difference called after Holm over the {counted(int(row.family), 'comparison')} "
            f"at this size and budget: p {stats.p_is(row.p)} alone, "
            f"Holm p {stats.p_is(row.p_holm)} ({scores}, {interval})"
        )
    else:
        verdict = (
            f"no difference detected at this power: |Δ| below {row.detectable:.2f} {task.unit} "
            f"could have gone unseen with these seeds (80% power; {scores}, {interval})"
        )
    per_seed = (
        f"Per seed (test-set noise only), significantly better in {int(row.better_seeds)}, "
        f"worse in {int(row.worse_seeds)} of {int(row.seeds)}"
    )
    return f"{head}: {verdict}. {per_seed}."


def all_diverged(runs: pd.DataFrame) -> dict:
    """label -> its runs, for the labels whose every run diverged (runs of one size)."""
    return {
        label: here for label, here in runs.groupby("label", sort=False) if diverged(here).all()
    }


def diverged_sentences(runs: pd.DataFrame, task: Task = TRANSLATION) -> list[str]:
    """A line for each variant (qk included) that diverged in every seed at one size."""
    lines = []
    for label, here in all_diverged(runs).items():
        steps = ", ".join(str(int(s)) for s in here["diverged_at"])
        lines.append(
            f"- At size `{here['size'].iloc[0]}`, `{label}` diverged in every seed "
            f"(at step {steps}): no {task.short} to compare."
        )
    return lines


def _per_seed_p(row) -> str:
    family = f"Holm over {counted(int(row.holm_family), 'comparison')} at this size and seed"
    return f"approximate randomisation p = {row.seed_p_ar_holm.split(':')[-1]}, {family}"


def size_table(
    comparison: pd.DataFrame, runs: pd.DataFrame, size: str, task: Task = TRANSLATION
) -> list[str]:
    """The table of every variant against qk at one size, whether its runs converged as
    runs.tsv says, in the ``task``'s measures."""
    m, second = task.measure, f"delta_{task.second}"
    here = runs[runs["size"] == size]
    base = here[here["label"] == BASELINE]
    finished = base[~diverged(base)]
    lines = [
        f"## Size `{size}`",
        "",
        table_header(task),
        f"| `qk` | {base['params_total'].mean():,.0f} | {len(finished)} "
        f"| {finished[f'test_{m}'].mean():.2f} | | baseline | | | {converged_count(base)} "
        f"| {finished['best_valid_loss'].mean():.4f} |",
    ]
    for row in comparison[comparison["size"] == size].itertuples():
        delta = getattr(row, f"delta_{m}")
        interval = (
            f"{delta:+.2f} ({row.delta_low:+.2f} to {row.delta_high:+.2f})"
            if row.seeds >= 2
            else ""
            if row.seeds == 0
            else f"{delta:+.2f} (one seed)"
        )
        verdict = row.verdict + (
            ""
            if row.verdict != Verdict.NO_DIFFERENCE
            else f" after Holm (p {stats.p_is(row.p)} alone, Holm p {stats.p_is(row.p_holm)})"
            if row.p < stats.ALPHA
            else f" (\\|Δ\\| < {row.detectable:.2f} undetectable)"
        )
        converged = converged_count(here[here["label"] == row.label])
        score, beside = getattr(row, m), getattr(row, second)
        bleu = "" if math.isnan(score) else f"{score:.2f}"
        chrf = "" if math.isnan(beside) else f"{beside:+.2f}"
        p_values = str(row.seed_p_ar_holm) if isinstance(row.seed_p_ar_holm, str) else ""
        loss = "" if math.isnan(row.best_valid_loss) else f"{row.best_valid_loss:.4f}"
        lines.append(
            f"| `{row.label}` | {row.params_total:,.0f} | {int(row.seeds)} | {bleu} | {interval} "
            f"| {verdict} | {chrf} | {p_values.replace(';', ', ')} | {converged} | {loss} |"
        )
    return [*lines, ""]


def converged_count(runs: pd.DataFrame) -> str:
    """How many of a cell's finished runs (one per seed) converged, as runs.tsv says."""
    finished = runs[~diverged(runs)]
    return f"{int(flag(finished['converged']).sum())} of {len(finished)}"


SITE_NAMES = {
    "enc": "encoder self-attention",
    "dec": "decoder self-attention",
    "cross": "cross-attention",
    "self": "self-attention (the source prefix and the target)",
}
SITE_NAMES_OF = {"encoder_only": {"self": "self-attention (bidirectional)"}}  # else SITE_NAMES


def variant_glossary(variants, family: str = "encoder_decoder") -> list[str]:
    """What each compared variant does, site by site, from the registry's descriptions."""
    lines = []
    for variant in variants:
        if variant == BASELINE:
            continue
        sites = parse_sites(variant, family=family)
        changed = {site: combo for site, combo in sites.items() if combo != BASELINE}
        parts = [
            f"{SITE_NAMES_OF.get(family, SITE_NAMES)[site]}: "
            + "; ".join(describe(name) for name in combo.split("+"))
            for site, combo in changed.items()
        ]
        lines.append(f"- `{variant}`: " + " — ".join(parts) + ".")
    return (
        ["What each variant does (the rest of the model is `qk`'s):", "", *lines, ""]
        if lines
        else []
    )


def comparison_intro(
    experiment: str, settings: dict, runs: pd.DataFrame, family: str, top: int | None
) -> list[str]:
    """The head of "Every comparison": how a verdict is called, the variants in words, and
    the matched variants that were not run. ``family``: the Holm family, counted; ``top``: the
    largest budget, where the report covers several."""
    measures, per_seed = TEST_WORDS[task_of(settings.get("family", "encoder_decoder")).name]
    test_set = text(settings.get("test_set", "of the corpus"))
    return [
        "## Every comparison",
        "",
        f"Generated by the pipeline from `results/{experiment}/comparison.tsv` (and "
        "`runs.tsv`, `dynamics.tsv`, `scaling.tsv`); do not edit. "
        f"{measures.format(test_set=test_set)} Each variant is compared "
        "with `qk` of the same size on the same seeds: a variant is called **better** or "
        "**worse** only where the two-sided t-test of its per-seed differences rejects Δ = 0 "
        "after Holm's correction over this report's comparisons at that size and budget (the "
        "claims' error control; the 95% interval shown beside it is uncorrected); otherwise the "
        "smallest difference those seeds could have detected (80% power) is given. Per-seed "
        f"paired tests ({per_seed}) measure test-set noise only, "
        "and are Holm-corrected over every comparison against `qk` at one size, "
        f"seed and budget, matched cells included ({family} per family)."
        + (
            f" Below: the largest budget, {int(top):,} steps (every budget's rows are in "
            "comparison.tsv)."
            if top is not None
            else ""
        ),
        "",
        *variant_glossary(runs["variant"].unique(), settings.get("family", "encoder_decoder")),
        *[
            f"- `{variant}` is named in matched_variants but is not one of this experiment's "
            "variants: its matched run was not planned."
            for variant in settings.get("unrun_matched", [])
        ],
    ]
