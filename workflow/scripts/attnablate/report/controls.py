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

import re

import pandas as pd

from attnablate.model.variants import BASELINE, CONTROLS
from attnablate.report import markup, stats
from attnablate.report.figures import diverged
from attnablate.report.significance import holm
from attnablate.report.verdict import Verdict, difference

# The two controls that split a tied variant's Δ two ways: one keeps its start without its
# constraint, the other its constraint without its start.
START_CONTROL, CONSTRAINT_CONTROL = "qk_symstart", "qq_centred"


def paired(runs: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> list[float]:
    """Test BLEU of cell ``a`` − cell ``b`` per seed, both (label, size), over the seeds
    where both finished; ``runs``: one budget's."""
    return list(by_seed(runs, a, b))


def by_seed(runs: pd.DataFrame, a: tuple[str, str], b: tuple[str, str]) -> pd.Series:
    """``paired``'s differences indexed by seed."""
    finished = runs[~diverged(runs)]

    def cell(label: str, size: str) -> pd.Series:
        here = finished[(finished["label"] == label) & (finished["size"] == size)]
        return here.set_index("seed")["test_bleu"]

    return (cell(*a) - cell(*b)).dropna().sort_index()


class Family:
    """The contrasts of one family, each a list of per-seed Δ: added first, then judged
    together (Holm over their two-sided t-tests)."""

    def __init__(self):
        self.deltas: list[list[float]] = []

    def add(self, deltas: list[float]) -> int:
        self.deltas.append(deltas)
        return len(self.deltas) - 1

    def corrected(self) -> list[float]:
        """Each contrast's Holm-corrected p (NaN below two seeds)."""
        p = [stats.t_p_value(d) for d in self.deltas]
        tested = [i for i, value in enumerate(p) if value == value]
        adjusted = dict(zip(tested, holm([p[i] for i in tested])))
        return [adjusted.get(i, float("nan")) for i in range(len(p))]


def call(deltas: list[float], p_holm: float) -> Verdict:
    """What a contrast calls after its family's correction (verdict.difference)."""
    return difference(sum(deltas) / len(deltas), p_holm) if deltas else Verdict.NO_DIFFERENCE


def delta_text(deltas: list[float], p_holm: float) -> str:
    """Δ with its 95% interval and what it calls after the family's correction: better,
    worse, or the undetectable size."""
    mean, low, high = stats.mean_interval(deltas)
    if len(deltas) < 2:
        return f"{mean:+.2f} (one seed: no interval)" if deltas else "no finished pair"
    interval = f"{mean:+.2f} ({low:+.2f} to {high:+.2f})"
    verdict = call(deltas, p_holm)
    if verdict != Verdict.NO_DIFFERENCE:
        return f"{interval}, {verdict} (Holm p = {p_holm:.3g})"
    return (
        f"{interval}, no difference detected (Holm p = {p_holm:.3g}): \\|Δ\\| < "
        f"{stats.detectable_difference(deltas):.2f} undetectable"
    )


def controlled(spec: str) -> str | None:
    """The variant spec a control spec is set beside (``qq_centred@enc`` -> ``qq@enc``), or
    None where the spec names no control."""
    tokens = re.split(r"([+;@,])", spec)
    if not any(token in CONTROLS for token in tokens):
        return None
    return "".join(CONTROLS[t][0] if t in CONTROLS else t for t in tokens)


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
        name = next(t for t in re.split(r"[+;@,]", label) if t in CONTROLS)
        _, keeps, measures = CONTROLS[name]
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


def decompositions(labels: list[str]) -> dict[str, tuple[str, str]]:
    """Variant -> (the control that keeps its start, the one that keeps its constraint),
    where the experiment runs both beside it: two ways to split one Δ."""
    found: dict[str, dict[str, str]] = {}
    for label in labels:
        variant = controlled(label)
        if variant in labels:
            name = next(t for t in re.split(r"[+;@,]", label) if t in CONTROLS)
            found.setdefault(variant, {})[name] = label
    return {
        variant: (controls[START_CONTROL], controls[CONSTRAINT_CONTROL])
        for variant, controls in found.items()
        if START_CONTROL in controls and CONSTRAINT_CONTROL in controls
    }


def shape_groups(runs: pd.DataFrame) -> dict[str, list[str]]:
    """First preset of a shape -> the presets of that shape after it (learning-rate checks),
    by qk's dimensions and parameter count there."""
    qk = runs[runs["label"] == BASELINE].drop_duplicates("size")
    groups: dict[tuple, list[str]] = {}
    for row in qk.itertuples():
        groups.setdefault((row.d_model, row.d_ff, row.params_total), []).append(row.size)
    return {sizes[0]: sizes[1:] for sizes in groups.values() if len(sizes) > 1}


def rate_checks(runs: pd.DataFrame) -> set[str]:
    """The presets that are learning-rate checks: their contrasts are this section's family,
    not the claims' (a claim is stated of the recipe)."""
    if "lr" not in runs:
        return set()
    return {size for later in shape_groups(runs).values() for size in later}


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


def best_rate(runs: pd.DataFrame, label: str, sizes: list[str]) -> str:
    """The preset among ``sizes`` (one shape at several rates) where ``label``'s finished
    runs reach the lowest mean best validation loss: chosen on validation data, so that the
    test BLEU compared at it is not the one it was chosen by."""
    finished = runs[~diverged(runs) & (runs["label"] == label) & runs["size"].isin(sizes)]
    return str(finished.groupby("size")["best_valid_loss"].mean().idxmin())


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
        f"Test BLEU at the largest budget, {budget:,} steps, Δ with its 95% interval over "
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
