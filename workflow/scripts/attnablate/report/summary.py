"""summary.md: sentences and tables rendered from the comparison frame (comparison.py), the
runs table, the attention dynamics and the scaling table. Nothing in it is written by hand,
and no sentence says more than its numbers: a difference is called only where the interval
over seeds excludes zero, and the first line says whether the runs converged."""

import math
from pathlib import Path

import pandas as pd

from attnablate.analysis import ladder, scaling, stats
from attnablate.analysis.controls import rate_checks
from attnablate.analysis.runs import diverged
from attnablate.analysis.verdict import Verdict
from attnablate.convergence import ANNEALED_SCHEDULES, CONVERGENCE_GAIN
from attnablate.io import flag
from attnablate.model.variants import BASELINE, describe, parse_sites
from attnablate.report.carries import carries_markdown
from attnablate.report.claims_summary import claims_markdown, ladder_claims_markdown
from attnablate.report.controls import controls_section
from attnablate.report.figures import diverged_note
from attnablate.report.markup import counted, text
from attnablate.report.mechanism import dynamics_sentences, self_at_start
from attnablate.report.replication import replication_markdown
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


def budget_line(runs: pd.DataFrame) -> str:
    """The first line for runs annealed to one budget: what the budget is, and that how far
    it is from convergence takes a ladder of budgets to measure."""
    finished = runs[~diverged(runs)]
    epochs = pd.to_numeric(finished["epochs_seen"]).mean()
    return (
        f"**A comparison at one stated budget, not at convergence.** Every run trains "
        f"{int(runs['steps'].max()):,} steps (about {finished['tokens'].mean():,.0f} target "
        f"tokens, {epochs:.1f} epochs of the training set) under a learning rate that decays "
        "to zero at the end, so each run ends at its best for this budget; the differences "
        "below are differences at this budget. How far it is from convergence, and whether "
        "the differences hold at other budgets, is not measured here: a ladder of budgets "
        "(train.budgets) measures both."
    )


def ladder_line(runs: pd.DataFrame) -> str:
    """The first line of a ladder: its budgets, and whether the cells converged by the
    ladder's rule (doubling the budget gained less than 1%), else the last doubling's gain.
    ``runs``: every budget's, with runs.tsv's doubling_gain."""
    axis = ladder.budget_axis(runs)
    top = axis.iloc[-1]
    budgets = ", ".join(f"{int(b):,}" for b in axis["budget"])
    line = (
        f"**The answer over the training budget.** Every cell trains once at the peak "
        f"learning rate and is cooled down to zero at each budget ({budgets} steps; the "
        f"largest about {top['tokens']:,.0f} target tokens, {top['epochs_seen']:.1f} epochs "
        "of the training set), so each point below is an annealed run of that length."
    )
    gains = pd.to_numeric(runs["doubling_gain"])
    judged = runs[gains.notna() & ~diverged(runs)]
    if not len(judged):
        return line + (
            " No budget of the ladder is twice another, so whether the runs converged is not "
            "judged (converged: doubling the budget improves the annealed validation loss by "
            f"less than {CONVERGENCE_GAIN:.0%})."
        )
    last = judged[judged["budget"] == judged["budget"].max()]
    doubled, gain = int(last["budget"].iloc[0]), pd.to_numeric(last["doubling_gain"])
    done = int(flag(last["converged"]).sum())
    qk = pd.to_numeric(last.loc[last["label"] == BASELINE, "doubling_gain"]).median()
    rule = f"converged: a doubling improves it by less than {CONVERGENCE_GAIN:.0%}"
    worse = int(gain.map(ladder.overfitting).sum())
    if worse:
        line += (
            f" **Overfitting in {worse} of {len(last)} runs:** doubling {doubled:,} to "
            f"{2 * doubled:,} steps made their annealed validation loss worse (not "
            "convergence: the larger budget trained past the best length for them)."
        )
    if done == len(last):
        return line + (
            f" **Converged** by {doubled:,} steps: doubling to {2 * doubled:,} improved "
            f"every run's annealed validation loss by less than {CONVERGENCE_GAIN:.0%} "
            f"(median {gain.median():.2%})."
        )
    return line + (
        f" **Not converged at the largest budget:** the last doubling, {doubled:,} to "
        f"{int(top['budget']):,} steps, still improved the annealed validation loss by a "
        f"median {gain.median():.1%} (`qk` {qk:.1%}; {done} of {len(last)} runs {rule}), so "
        "the largest budget's differences are not those of converged models."
    )


def convergence_line(runs: pd.DataFrame) -> str:
    """The summary's first line: whether the runs converged, and so what the comparisons
    measure; for runs annealed to their budget, the budget statement (or the ladder's)."""
    if "doubling_gain" in runs and runs["budget"].nunique() > 1:
        return ladder_line(runs)
    if annealed(runs):
        return budget_line(runs)
    finished = runs[~diverged(runs)]
    n, done = len(finished), int(flag(finished["converged"]).sum())
    budget = steps_text(finished if len(finished) else runs)
    gain = pd.to_numeric(finished["last_quarter_gain"]).median()
    rule = (
        f"the best validation loss improved by less than {CONVERGENCE_GAIN:.0%} "
        f"over the last quarter of a run's steps"
    )
    if n and done == n:
        return f"**Converged.** All {n} finished runs converged ({rule}), after {budget}."
    measured = (
        f"every comparison below measures how far each variant gets at a budget of {budget}"
        f" (early learning speed), not its final quality"
    )
    if done == 0:
        return (
            f"**Not converged.** None of the {n} finished runs converged: their best validation "
            f"loss still improved by a median {gain:.1%} over the last quarter of their steps "
            f"(converged: {rule}). So {measured}."
        )
    return (
        f"**Partly converged.** {done} of {n} finished runs converged ({rule}); comparisons "
        f"with an unconverged run say so, and {measured}."
    )


def steps_text(runs: pd.DataFrame) -> str:
    """The runs' lengths: one number of steps, or their range where runs stopped at
    convergence; for runs stopped by a time budget, the minutes, with the steps they took."""
    low, high = int(runs["steps"].min()), int(runs["steps"].max())
    steps = f"{high:,} steps" if low == high else f"{low:,} to {high:,} steps"
    if "stopped_by" not in runs or not (runs["stopped_by"] == "minutes").all():
        return steps
    minutes = float(runs["max_minutes"].max())
    return (
        f"{minutes:g} minutes a run on `{runs['device'].iloc[0]}` ({steps}; a time budget gives "
        f"a variant with cheaper steps more of them)"
    )


def annealed(runs: pd.DataFrame) -> bool:
    """Whether every run decays its learning rate to zero at its budget: then none is called
    converged, and the first line (the budget statement) says so once for all."""
    return bool(runs["schedule"].isin(ANNEALED_SCHEDULES).all())


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
        head += f" [{int(row.unconverged_runs)} of {runs} not converged]"
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
            f"**{row.verdict}** than qk: {scores}, {interval} (Holm p = {row.p_holm:.3g} over "
            f"the {family} at this size and budget)"
        )
        if row.seeds == 2:
            verdict += (
                " (two seeds: the interval rests on a spread estimated from two differences, "
                "and is fragile; a third seed would show whether it holds)"
            )
    elif row.p < stats.ALPHA:  # the interval alone excludes zero: the correction decides
        verdict = (
            f"no difference called after Holm over the {counted(int(row.family), 'comparison')} "
            f"at this size and budget: p = {row.p:.3g} alone, Holm p = {row.p_holm:.3g} "
            f"({scores}, {interval})"
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


def _all_diverged(runs: pd.DataFrame) -> dict:
    """label -> its runs, for the labels whose every run diverged (runs of one size)."""
    return {
        label: here for label, here in runs.groupby("label", sort=False) if diverged(here).all()
    }


def diverged_sentences(runs: pd.DataFrame, task: Task = TRANSLATION) -> list[str]:
    """A line for each variant (qk included) that diverged in every seed at one size."""
    lines = []
    for label, here in _all_diverged(runs).items():
        steps = ", ".join(str(int(s)) for s in here["diverged_at"])
        lines.append(
            f"- At size `{here['size'].iloc[0]}`, `{label}` diverged in every seed "
            f"(at step {steps}): no {task.short} to compare."
        )
    return lines


def _per_seed_p(row) -> str:
    family = f"Holm over {counted(int(row.holm_family), 'comparison')} at this size and seed"
    return f"approximate randomisation p = {row.seed_p_ar_holm.split(':')[-1]}, {family}"


def scaling_sentences(scale: pd.DataFrame, sizes: int, rates: dict | None = None) -> list[str]:
    """What each variant is worth in qk parameters, where a power law could be fitted;
    ``rates``: each recipe size's peak learning rate, said where they differ (the law is then
    of each size's recipe, rate included)."""
    fitted = scale.dropna(subset=["multiple"])
    if not len(fitted) or BASELINE not in set(scale["label"]):
        return [
            f"Scaling: no power law is fitted: the experiment has {sizes} model size"
            f"{'s' if sizes != 1 else ''}, and a fit needs at least three (a line through two "
            "points always fits)."
        ]
    qk = scale[scale["label"] == BASELINE].iloc[0]
    lines = [
        f"Scaling: `qk`'s best validation loss falls as N^(−{qk['b']:.3f}) in non-embedding "
        "parameters N. In qk parameters, each variant's runs are worth (95% bootstrap interval "
        "over seeds):",
        "",
    ]
    if rates and len(set(rates.values())) > 1:
        each = ", ".join(f"`{size}` {rate:g}" for size, rate in rates.items())
        lines[0] += (
            f" The sizes trained at peak learning rates of their own ({each}), set in the "
            "config before the runs: the law is of each size's recipe, its rate included."
        )

    for _, row in fitted[fitted["label"] != BASELINE].iterrows():
        lines.append(
            f"- `{row['label']}` at size `{row['size']}` ({row['params_non_embedding']:,.0f} "
            f"non-embedding parameters) reaches loss {row['loss']:.4f}, which qk reaches with "
            f"{row['qk_params']:,.0f}: a multiple of {row['multiple']:.2f} "
            f"({row['multiple_low']:.2f} to {row['multiple_high']:.2f})."
        )
    return lines


def size_table(
    comparison: pd.DataFrame, runs: pd.DataFrame, size: str, task: Task = TRANSLATION
) -> list[str]:
    """The table of every variant against qk at one size, whether its runs converged as
    runs.tsv says, in the ``task``'s measures."""
    m, second = task.measure, f"delta_{task.second}"
    here = runs[runs["size"] == size]
    base = here[here["label"] == BASELINE]
    finished = base[~diverged(base)]
    base_status = f"{int(flag(finished['converged']).sum())} of {len(finished)}"
    lines = [
        f"## Size `{size}`",
        "",
        table_header(task),
        f"| `qk` | {base['params_total'].mean():,.0f} | {len(finished)} "
        f"| {finished[f'test_{m}'].mean():.2f} | | baseline | | | {base_status} "
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
            else f" after Holm (p = {row.p:.3g} alone, Holm p = {row.p_holm:.3g})"
            if row.p < stats.ALPHA
            else f" (\\|Δ\\| < {row.detectable:.2f} undetectable)"
        )
        converged = "yes" if row.converged else f"no ({counted(row.unconverged_runs, 'run')})"
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


def summary_markdown(
    tables: dict, settings: dict, experiment: str, figures: list, dynamics_size: str
) -> str:
    """The summary: the budget or convergence first; on a ladder, the answer over the
    budgets (its figure, the claims at every budget); else the claims table; then at the
    largest budget the mechanism, every verdict, scaling, and per size the table of every
    variant against qk. ``tables``: comparison (every budget), runs (the largest budget's),
    every_budget (every budget's runs), dynamics, scaling, claims; ``settings``: test_set,
    which test set the scores are on, and provenance, the line that names the config and
    commit the report was made from.
    ``figures``: the figures' paths, the answer over the budget first."""
    every_budget = tables.get("every_budget", tables["runs"])
    runs = tables["runs"]
    task = task_of(settings.get("family", "encoder_decoder"))
    top = runs["budget"].max()
    comparison = tables["comparison"]
    comparison = comparison[comparison["budget"] == top]
    families = comparison.loc[comparison["holm_family"] > 0, "holm_family"]
    family = counted(int(families.max()) if len(families) else 0, "comparison")
    lines = [
        f"# attn-ablate: experiment `{experiment}`",
        "",
        *([settings["provenance"], ""] if settings.get("provenance") else []),
        convergence_line(every_budget),
        "",
    ]
    over_budgets = every_budget["budget"].nunique() > 1
    if over_budgets:
        answer, *figures = figures
        lines += ["## The answer over the training budget", ""]
        lines += [f"![{Path(answer).stem}]({Path(answer).name})", ""]
        if len(tables["claims"]):
            settle = settings["settle_margin"]
            over = ladder_claims_markdown(tables["claims"], every_budget, settle, task)
            lines += [*over, ""]
    if len(tables["claims"]):
        claims = tables["claims"]
        claims = claims[(claims["budget"] == top) | claims["budget"].isna()]
        at_top = f" at the largest budget, {int(top):,} steps" if over_budgets else ""
        lines += [f"## The claims, point by point{at_top}", ""]
        lines += [*claims_markdown(claims, task), ""]
    lines += replication_markdown(tables.get("replication", pd.DataFrame()))
    lines += carries_markdown(tables.get("carries", pd.DataFrame()))
    model_family = settings.get("family", "encoder_decoder")
    mechanism = dynamics_sentences(tables["dynamics"], dynamics_size, model_family)
    if mechanism:
        lines += ["## The mechanism", "", *mechanism, ""]
    at_start = self_at_start(tables["dynamics"], dynamics_size, model_family)
    lines += controls_section(runs, dynamics_size, at_start)
    lines += comparison_intro(experiment, settings, runs, family, top if over_budgets else None)
    for size in runs["size"].unique():
        lines += diverged_sentences(runs[runs["size"] == size], task)
        gone = set(_all_diverged(runs[runs["size"] == size]))
        for row in comparison[comparison["size"] == size].itertuples():
            if row.label not in gone:
                lines.append(comparison_sentence(row, task))
    recipe = runs[~runs["size"].isin(rate_checks(runs))]
    rates = recipe.groupby("size", sort=False)["lr"].first().to_dict() if "lr" in runs else {}
    lines += ["", *scaling_sentences(tables["scaling"], scaling.model_sizes(runs), rates), ""]
    for size in runs["size"].unique():
        lines += size_table(comparison, runs, size, task)
    if diverged(runs).any():
        lines += [f"Diverged runs (left out of every mean and test): {diverged_note(runs)}.", ""]
    lines += ["## Figures", ""]
    lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figures]
    if task is TRANSLATION:
        lines += ["", f"BLEU signature: `{runs['bleu_signature'].iloc[0]}`"]
    return "\n".join([*lines, ""])
