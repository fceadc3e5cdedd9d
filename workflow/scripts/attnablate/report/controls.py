"""The summary's section on the controls: what a construction imposes at initialisation, told
apart from what its constraint does once trained, and whether a verdict hinges on the
learning rate the recipe was tuned with on qk.

- A control (``variants.CONTROLS``) is set beside the variant it controls for at the same
  sites, paired by seed at the largest budget: control − qk, and variant − control, the part
  of the variant's Δ that what the control changes accounts for (the two add up to the
  variant's Δ against qk, seed by seed).
- A learning-rate check is a size preset of another preset's shape at another peak rate
  (``sizes.<name>.lr``, with the few ``variants`` it checks): each variant there is set
  against qk at the recipe's rate (the first preset of that shape) and at its own.

These contrasts are the report's own, beside the claims: the controls' are one family and the
learning-rate checks' another, each Holm-corrected over its two-sided t-tests. A difference is
called (better, worse: the sign of Δ decides the word) only where its corrected p is below
0.05; otherwise the smallest difference the seeds could have detected is given.
"""

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.controls import (
    Family,
    best_rate,
    by_seed,
    call,
    control_name,
    controlled,
    decompositions,
    paired,
    shape_groups,
)
from attnablate.analysis.verdict import Verdict
from attnablate.model.variants import BASELINE, CONTROLS
from attnablate.report import markup
from attnablate.tasks import task_of_table


def delta_text(deltas: list[float], p_holm: float) -> str:
    """Δ with its 95% interval and what it calls after the family's correction: better,
    worse, or the undetectable size."""
    mean, low, high = stats.mean_interval(deltas)
    if len(deltas) < 2:
        return f"{mean:+.2f} (one seed: no interval)" if deltas else "no finished pair"
    interval = f"{mean:+.2f} ({low:+.2f} to {high:+.2f})"
    verdict = call(deltas, p_holm)
    if verdict != Verdict.NO_DIFFERENCE:
        return f"{interval}, {verdict} (Holm p {stats.p_is(p_holm)})"
    return (
        f"{interval}, no difference detected (Holm p {stats.p_is(p_holm)}): \\|Δ\\| < "
        f"{stats.detectable_difference(deltas):.2f} undetectable"
    )


def control_lines(runs: pd.DataFrame, size: str, self_at_start: dict[str, float]) -> list[str]:
    """One line per control run beside its variant at ``size``; where a variant has both
    decompositions (a control of its start and one of its constraint), how far they
    disagree; then which contrasts are separated. The contrasts are one family;
    ``self_at_start``: label -> a token's attention on itself at step 0 (encoder
    self-attention), where logged."""
    here = runs[runs["size"] == size]
    labels = list(dict.fromkeys(here["label"]))
    family, found = Family(), []
    for label in labels:
        variant = controlled(label)
        if variant is None or variant not in labels:
            continue
        own = family.add(paired(here, (label, size), (BASELINE, size)))
        part = family.add(paired(here, (variant, size), (label, size)))
        base = family.add(paired(here, (variant, size), (BASELINE, size)))
        found.append((label, variant, own, part, base))
    both = decompositions(labels)
    disagreement = {  # the start's part one way minus the other, seed by seed
        variant: family.add(
            list(
                (
                    by_seed(here, (start, size), (BASELINE, size))
                    - by_seed(here, (variant, size), (constraint, size))
                ).dropna()
            )
        )
        for variant, (start, constraint) in both.items()
    }
    p_holm = family.corrected()
    text = lambda i: delta_text(family.deltas[i], p_holm[i])  # noqa: E731
    lines = []
    for label, variant, own, part, base in found:
        _, keeps, measures = CONTROLS[control_name(label)]
        logged = [key for key in (BASELINE, variant, label) if key in self_at_start]
        start = (
            " A token's attention on itself at step 0: "
            + ", ".join(f"`{key}` {self_at_start[key]:.3f}" for key in logged)
            + "."
            if logged
            else ""
        )
        lines.append(
            f"- `{label}` ({keeps}): against qk {text(own)}; `{variant}` − `{label}` "
            f"({measures}) {text(part)}, of `{variant}`'s Δ against qk {text(base)}.{start}"
        )
    for variant, (start, constraint) in both.items():
        lines.append(
            f"- The two decompositions of `{variant}`'s Δ against qk: its start's part read as "
            f"`{start}` − qk and as `{variant}` − `{constraint}` differ by "
            f"{text(disagreement[variant])} (the constraint's parts differ by as much, "
            "the other way)."
        )
    called = [i for i in range(len(family.deltas)) if call(family.deltas[i], p_holm[i]).called]
    if lines:
        lines.append(
            f"- So: {markup.counted(len(called), 'contrast')} of "
            f"{len(family.deltas)} separated from the seeds' noise after Holm."
            if called
            else f"- So: no contrast of the {len(family.deltas)} is separated from the seeds' "
            "noise after Holm: these seeds do not tell the parts apart."
        )
    return lines


def learning_rate_lines(runs: pd.DataFrame) -> list[str]:
    """Per learning-rate check, each variant there against qk at the recipe's rate and at
    its own, and each variant and qk at its best rate; the contrasts one family; ``runs``:
    one budget's, with their ``lr``."""
    groups = shape_groups(runs) if "lr" in runs else {}
    family, checks = Family(), []
    for recipe, sizes in groups.items():
        for size in sizes:
            for label in dict.fromkeys(runs.loc[runs["size"] == size, "label"]):
                if label == BASELINE:
                    continue
                contrasts = (
                    paired(runs, (label, recipe), (BASELINE, recipe)),  # at the recipe's rate
                    paired(runs, (label, size), (BASELINE, recipe)),  # against qk at the recipe's
                    paired(runs, (label, size), (BASELINE, size)),  # both at this rate
                    paired(runs, (BASELINE, size), (BASELINE, recipe)),  # qk moved
                )
                checks.append((recipe, size, label, [family.add(d) for d in contrasts]))
    best = {}  # label -> (its best rate's preset, qk's, the contrast of the two)
    for recipe, sizes in groups.items():
        tried = [recipe, *sizes]
        for label in dict.fromkeys(runs.loc[runs["size"].isin(sizes), "label"]):
            if label != BASELINE:
                mine, theirs = best_rate(runs, label, tried), best_rate(runs, BASELINE, tried)
                best[label] = (
                    mine,
                    theirs,
                    family.add(paired(runs, (label, mine), (BASELINE, theirs))),
                )
    p_holm = family.corrected()
    text = lambda i: delta_text(family.deltas[i], p_holm[i])  # noqa: E731
    verdict = lambda i: call(family.deltas[i], p_holm[i])  # noqa: E731
    rate = lambda size: runs.loc[runs["size"] == size, "lr"].iloc[0]  # noqa: E731
    lines, verdicts = [], {}
    for recipe, size, label, (at_recipe, against_recipe, same_rate, qk_moved) in checks:
        verdicts.setdefault(label, (verdict(at_recipe), []))[1].append(
            (rate(size), verdict(against_recipe))
        )
        lines.append(
            f"- `{label}` at peak rate {rate(size):g} (preset `{size}`; the recipe's "
            f"{rate(recipe):g}, where its Δ against qk is {text(at_recipe)}): "
            f"against qk at the recipe's rate {text(against_recipe)}; against "
            f"qk at {rate(size):g} {text(same_rate)}. qk itself at {rate(size):g} "
            f"against the recipe's rate: {text(qk_moved)}."
        )
    for label, (mine, theirs, contrast) in best.items():
        lines.append(
            f"- Each at its best rate (by validation loss): `{label}` at {rate(mine):g} against "
            f"qk at {rate(theirs):g}: {text(contrast)}."
        )
    for label, (verdict_at_recipe, checked) in verdicts.items():
        lines.append(_rate_verdict(label, verdict_at_recipe, checked))
    return lines


def _rate_verdict(label: str, call: Verdict, checked: list[tuple[float, Verdict]]) -> str:
    """Whether a variant's verdict against qk at the recipe's rate holds with the variant
    at every other rate, against that same qk."""
    rates = ", ".join(f"{lr:g}" for lr, _ in checked)
    if call == Verdict.NO_DIFFERENCE:
        seen = "; ".join(
            f"at {lr:g} {c if c == Verdict.NO_DIFFERENCE else f'{c} than it'}" for lr, c in checked
        )
        return (
            f"- So: at the recipe's rate no difference between `{label}` and qk was detected; "
            f"with `{label}` at the other rates, against qk at the recipe's: {seen}."
        )
    broken = [f"{lr:g}" for lr, c in checked if c != call]
    if not broken:
        return (
            f"- So: `{label}` {call} than qk holds with `{label}` at every rate tried ({rates}): "
            "the verdict does not hinge on the learning rate tuned for qk."
        )
    return (
        f"- So: `{label}` {call} than qk at the recipe's rate is not called with `{label}` "
        f"at {', '.join(broken)}: the verdict hinges on the learning rate."
    )


def controls_section(runs: pd.DataFrame, size: str, self_at_start: dict[str, float]) -> list[str]:
    """The section, or nothing where the experiment runs no control and no rate check."""
    controls, rates = control_lines(runs, size, self_at_start), learning_rate_lines(runs)
    if not controls and not rates:
        return []
    budget = int(runs["budget"].max())
    lines = [
        "## The controls",
        "",
        f"Test {task_of_table(runs.columns).label} at the largest budget, {budget:,} steps, Δ "
        "with its 95% interval over "
        "seeds, paired by seed; the controls' contrasts are one family, the learning-rate "
        "checks' another, and a difference is called only where its two-sided t-test, "
        "Holm-corrected over its family, rejects Δ = 0.",
        "",
    ]
    if controls:
        lines += [
            f"What the construction imposes at the start, told apart from what its constraint "
            f"does once trained, at size `{size}` (the two Δ of each line add up to the "
            "variant's Δ against qk, seed by seed):",
            "",
            *controls,
            "",
        ]
    if rates:
        lines += [
            "Whether a verdict hinges on the learning rate, which was tuned on qk alone:",
            "",
            *rates,
            "",
        ]
    return lines
