"""summary.md: sentences and tables rendered from the comparison frame (comparison.py), the
runs table, the attention dynamics and the scaling table. Nothing in it is written by hand,
and no sentence says more than its numbers: a difference is called only where the interval
over seeds excludes zero, and the first line says whether the runs converged."""

from pathlib import Path

import pandas as pd

from attnablate.analysis import controls, ladder, scaling
from attnablate.analysis.runs import diverged
from attnablate.convergence import ANNEALED_SCHEDULES, CONVERGENCE_GAIN
from attnablate.io import flag
from attnablate.model.variants import BASELINE
from attnablate.report.aggregate import KERNELS_JOIN
from attnablate.report.carries import carries_markdown
from attnablate.report.claims_summary import claims_markdown, ladder_claims_markdown
from attnablate.report.comparisons import (
    all_diverged,
    comparison_intro,
    comparison_sentence,
    diverged_sentences,
    size_table,
)
from attnablate.report.controls import controls_section
from attnablate.report.figures import diverged_note
from attnablate.report.markup import counted, times
from attnablate.report.mechanism import dynamics_sentences, self_at_start
from attnablate.report.replication import replication_markdown
from attnablate.tasks import MASKED, TRANSLATION, task_of, task_of_table

MIXED_NAMED = 5  # runs named in the kernels line; the rest are counted


def kernels_line(runs: pd.DataFrame) -> str:
    """Which kernel sets trained the runs (meta.kernel_set): the same config and seeds give
    these numbers to the bit only under the same set. A run that went on under another set
    after a resume is named: its numbers are those of that path alone."""
    if "kernels" not in runs:
        return (
            "**Kernels.** Not in runs.tsv: the aggregate step that wrote it predates kernel "
            "records (`--forcerun aggregate` reads them from the runs' meta.json)."
        )
    paths = runs["kernels"].astype(str)
    sets = paths.str.split(KERNELS_JOIN).explode().value_counts(sort=False)  # in order met
    if len(sets) == 1:
        line = (
            f"**Kernels.** Every run trained under `{sets.index[0]}`: the same config and seeds "
            "give these numbers to the bit under the same kernel set; under another, a run "
            "differs in its last bits from its first step and drifts apart as another seed "
            "would, so what carries over is what the intervals over seeds say."
        )
    else:
        each = ", ".join(f"`{name}` ({counted(n, 'run')})" for name, n in sets.items())
        line = (
            f"**Kernels.** The runs trained under {len(sets)} kernel sets, {each}: a run's "
            "numbers recur to the bit only under its own (runs.tsv's kernels)."
        )
    mixed = runs[paths.str.contains(KERNELS_JOIN)]
    if not len(mixed):
        return line
    named = [
        f"`{row.label}` seed {row.seed} at {int(row.budget):,} steps: {row.kernels}"
        for row in mixed.head(MIXED_NAMED).itertuples()
    ]
    more = len(mixed) - len(named)
    return line + (
        f" **{counted(len(mixed), 'run')} went on under another kernel set after a resume** "
        f"({'; '.join(named)}{f'; and {more} more' if more > 0 else ''}): their numbers are "
        "those of that path, not of a run under either set alone."
    )


def budget_line(runs: pd.DataFrame) -> str:
    """The first line for runs annealed to one budget: what the budget is, and that how far
    it is from convergence takes a ladder of budgets to measure."""
    finished = runs[~diverged(runs)]
    epochs = pd.to_numeric(finished["epochs_seen"]).mean()
    return (
        f"**A comparison at one stated budget, not at convergence.** Every run trains "
        f"{int(runs['steps'].max()):,} steps (about {finished['tokens'].mean():,.0f} "
        f"{task_of_table(runs.columns).targets}, {epochs:.1f} epochs of the training set) "
        "under a learning rate that decays to zero at the end, so each run ends at its best "
        "for this budget; the differences below are differences at this budget. How far it "
        "is from convergence, and whether the differences hold at other budgets, is not "
        "measured here: a ladder of budgets (train.budgets) measures both."
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
        f"largest about {top['tokens']:,.0f} {task_of_table(runs.columns).targets}, "
        f"{top['epochs_seen']:.1f} epochs of the training set), so each point below is an "
        "annealed run of that length."
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


def scaling_sentences(scale: pd.DataFrame, sizes: int, rates: dict | None = None) -> list[str]:
    """What each variant is worth in qk parameters, where qk's law is read (scaling.py);
    ``rates``: each recipe size's peak learning rate, said where they differ (the law is then
    of each size's recipe, rate included)."""
    if sizes < scaling.MIN_SIZES or BASELINE not in set(scale["label"]):
        return [
            f"Scaling: no power law is fitted: the experiment has {sizes} model size"
            f"{'s' if sizes != 1 else ''}, and a fit needs at least three (a line through two "
            "points always fits)."
        ]
    own_rates = ""
    if rates and len(set(rates.values())) > 1:
        each = ", ".join(f"`{size}` {rate:g}" for size, rate in rates.items())
        own_rates = (
            f" The sizes trained at peak learning rates of their own ({each}), set in the "
            "config before the runs: the law is of each size's recipe, its rate included."
        )
    no_law = scaling.no_law(scale)
    if no_law:
        return [f"Scaling: no law is read: {no_law}.{own_rates}"]
    qk, others = scale[scale["label"] == BASELINE], scale[scale["label"] != BASELINE]
    low, high = scaling.read_span(qk["params_non_embedding"])
    lines = [
        f"Scaling: `qk`'s best validation loss falls as N^(−{qk['b'].iloc[0]:.3f}) in "
        f"non-embedding parameters N, read from {low:,.0f} to {high:,.0f} (its sizes, and "
        f"{scaling.EXTRAPOLATION:g}× past each end).{own_rates}"
    ]
    if len(others):
        lines[0] += (
            " In qk parameters, each variant's runs are worth (95% bootstrap interval over seeds):"
        )
        lines.append("")
    for _, row in others.iterrows():
        count = row["qk_params"]
        reach = f", which qk reaches with {count:,.0f}" if 0 < count < float("inf") else ""
        lines.append(
            f"- `{row['label']}` at size `{row['size']}` ({row['params_non_embedding']:,.0f} "
            f"non-embedding parameters) reaches loss {row['loss']:.4f}{reach}: worth "
            f"{times(row['multiple'])} ({times(row['multiple_low'])} to "
            f"{times(row['multiple_high'])})."
        )
    return lines


def baseline_line(runs: pd.DataFrame, size: str, baseline: dict) -> str:
    """For the masked task: what guessing the test's masked pieces from their training
    frequencies alone scores (``baseline``, the masked_baseline step's), beside `qk`'s finished
    runs at ``size`` (``runs``: one budget's), so that a reader sees how far training got
    beyond the pieces' frequencies, the scale every Δ of the report is read on."""
    acc, loss = f"test_{MASKED.measure}", f"test_{MASKED.second}"
    qk = runs[(runs["label"] == BASELINE) & (runs["size"] == size) & ~diverged(runs)]
    line = (
        f"**What a run gets for nothing.** Guessing each masked test piece from its frequency "
        f"in the training split alone, without its sentence, scores "
        f"{baseline[MASKED.measure]:.2f}% accuracy and {baseline[MASKED.second]:.2f} nats per "
        f"piece on the pieces every run is scored on"
    )
    if not len(qk):
        return line + "."
    accuracy, nats = pd.to_numeric(qk[acc]).mean(), pd.to_numeric(qk[loss]).mean()
    gain, drop = accuracy - baseline[MASKED.measure], baseline[MASKED.second] - nats
    return (
        f"{line}; `qk` at `{size}` reaches {accuracy:.2f}% and {nats:.2f} nats "
        f"({counted(len(qk), 'finished run')} at {int(qk['budget'].max()):,} steps): accuracy "
        f"{abs(gain):.2f} points {'above' if gain >= 0 else 'below'} guessing's and loss "
        f"{abs(drop):.2f} nats {'below' if drop >= 0 else 'above'} it."
    )


def summary_markdown(
    tables: dict, settings: dict, experiment: str, figures: list, dynamics_size: str
) -> str:
    """The summary: the budget or convergence first; on a ladder, the answer over the
    budgets (its figure, the claims at every budget); else the claims table; then at the
    largest budget the mechanism, every verdict, scaling, and per size the table of every
    variant against qk. ``tables``: comparison (every budget), runs (the largest budget's),
    every_budget (every budget's runs), dynamics, scaling, claims; ``settings``: test_set,
    which test set the scores are on, provenance, the line that names the config and
    commit the report was made from, and for the masked task baseline, the masked_baseline
    step's scores.
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
        *(
            [baseline_line(runs, dynamics_size, settings["baseline"]), ""]
            if "baseline" in settings
            else []
        ),
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
        gone = set(all_diverged(runs[runs["size"] == size]))
        for row in comparison[comparison["size"] == size].itertuples():
            if row.label not in gone:
                lines.append(comparison_sentence(row, task))
    recipe = controls.recipe(runs)
    rates = recipe.groupby("size", sort=False)["lr"].first().to_dict() if "lr" in runs else {}
    lines += ["", *scaling_sentences(tables["scaling"], scaling.model_sizes(recipe), rates), ""]
    for size in runs["size"].unique():
        lines += size_table(comparison, runs, size, task)
    if diverged(runs).any():
        lines += [f"Diverged runs (left out of every mean and test): {diverged_note(runs)}.", ""]
    lines += ["## Figures", ""]
    lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figures]
    if task is TRANSLATION:
        lines += ["", f"BLEU signature: `{runs['bleu_signature'].iloc[0]}`"]
    lines += ["", kernels_line(every_budget)]
    return "\n".join([*lines, ""])
