"""The claims in the summary's words: a table at the largest budget, a table over the budget
ladder, a sentence per claim on its trend, and what the verdicts rest on. Rendered from the
claims table (claims.py) alone; no sentence says more than its numbers."""

import math

import pandas as pd

from attnablate.analysis import claims, ladder, stats
from attnablate.analysis.verdict import Verdict
from attnablate.model.variants import BASELINE
from attnablate.report.markup import counted, text, times
from attnablate.tasks import MASKED, PARAMS, TRANSLATION, Task, task_of_measure

# which way each task's measures are better
BETTER = {
    TRANSLATION.name: "higher BLEU and chrF, lower loss are better",
    MASKED.name: "higher accuracy, lower masked-token and validation loss are better",
}


def _short(row: dict) -> str:
    """The short name of a claim's test measure (BLEU, accuracy)."""
    return task_of_measure(row["measure"]).short


def _unit(row: dict) -> str:
    """What a difference of a claim's test measure is counted in (BLEU, accuracy points)."""
    return task_of_measure(row["measure"]).unit


def _number(value: float, measure: str, signed: bool = True) -> str:
    if measure == PARAMS:
        return times(value)
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def estimate_text(row: dict) -> str:
    """A claim's estimate with its 95% interval: Δ of its measure, or its worth in qk
    parameters."""
    if pd.isna(row.get("estimate")):
        return ""
    measure = row["measure"]
    shown = _number(row["estimate"], measure)
    if pd.isna(row["low"]) or (measure == PARAMS and row["low"] == row["high"]):
        return shown  # a worth past the law's range at both ends is one phrase
    return f"{shown} ({_number(row['low'], measure)} to {_number(row['high'], measure)})"


def claim_test(row: dict) -> str:
    """What a claim's test asks, in symbols: ``Δ BLEU vs qk < 0`` and the like."""
    short = "" if row["measure"] == PARAMS else _short(row)
    margin, expect = row["margin"], row["expect"]
    if row["measure"] == PARAMS:
        subject = "worth in qk parameters"
        if expect == "same":
            return f"{subject} within {1 - margin:.2f}× to {1 + margin:.2f}×"
        if expect == "not_better":
            return f"{subject} < {1 + margin:.2f}×"
        return f"{subject} {'<' if expect == 'worse' else '>'} 1×"
    against = BASELINE if row["against"] == BASELINE else f"`{row['against']}`"
    subject = f"Δ {short} vs {against}"
    if _reference(row):
        return f"{subject} − Δ {short} of `{text(row['reference'])}` within ±{margin:g}"
    if expect == "same":
        return f"{subject} within ±{margin:g}"
    if expect == "not_better":
        return f"{subject} < +{margin:g}"
    return f"{subject} {'<' if expect == 'worse' else '>'} 0"


def _seen(row: dict) -> str:
    """What was seen where a claim did not hold: who was better, by how much."""
    label, measure = f"`{row['label']}`", row["measure"]
    if _reference(row):
        return (
            f"{label}'s Δ {_short(row)} differs from `{text(row['reference'])}`'s by "
            f"{row['estimate']:+.2f} ({row['low']:+.2f} to {row['high']:+.2f})"
        )
    if measure == PARAMS:
        return f"{label} worth {estimate_text(row)} in qk parameters, as a multiple of its own"
    side = "better" if row["estimate"] > 0 else "worse"
    than = "" if row["against"] == BASELINE else f" than `{row['against']}`"
    return (
        f"{label} {side}{than} by {abs(row['estimate']):.2f} "
        f"({row['low']:+.2f} to {row['high']:+.2f})"
    )


def _reference(row: dict) -> bool:
    """Whether a claim row compares with another experiment's report."""
    return isinstance(row.get("reference"), str) and bool(row["reference"])


def claim_verdict(row: dict) -> str:
    """A claim's outcome in words: replicated with its corrected p-value; otherwise what was
    seen and where, or what these seeds could have decided."""
    verdict, budget = row["verdict"], int(row["budget"]) if pd.notna(row["budget"]) else 0
    holm = f"Holm p {stats.p_is(row['p_holm'])}" if pd.notna(row.get("p_holm")) else ""
    if verdict == Verdict.REPLICATED:
        return f"replicated ({holm})"
    against = (
        f"Holm p {stats.p_is(row['p_against_holm'])}" if pd.notna(row.get("p_against_holm")) else ""
    )
    if verdict == Verdict.OPPOSITE:
        return f"opposite at {budget:,} steps ({against}): {_seen(row)}"
    if verdict == Verdict.OUTSIDE:
        unit = "" if row["measure"] == PARAMS else f" {_unit(row)}"
        return f"outside ±{row['margin']:g}{unit} at {budget:,} steps ({against}): {_seen(row)}"
    if verdict == Verdict.UNTESTABLE:
        return f"{verdict}: {row['reason']}"
    if verdict != Verdict.UNRESOLVED:
        return verdict
    claims = counted(int(row["family"]), "claim")
    if row["p"] < stats.ALPHA:
        return f"not resolved after Holm over the {claims}: p {stats.p_is(row['p'])} alone, {holm}"
    if row["p_against"] < stats.ALPHA:
        word = "outside the margin" if row["expect"] == "same" else "opposite"
        return (
            f"not resolved after Holm over the {claims}: {word} at "
            f"p {stats.p_is(row['p_against'])} alone, {against}"
        )
    return f"not resolved ({holm}): {_decidable(row)}"


def _decidable(row: dict) -> str:
    """What an unresolved claim's seeds could have decided, with 80% power."""
    expect, margin, detectable = row["expect"], row["margin"], row["detectable"]
    if row["measure"] == PARAMS:
        return (
            f"{claims.test_level(expect):.0%} interval {times(row['test_low'])} to "
            f"{times(row['test_high'])}, not decided by {claim_test(row)}"
        )
    if math.isnan(detectable):
        return "no spread over seeds to judge by"
    unit = _unit(row)
    if expect in ("worse", "better"):
        return f"\\|Δ\\| < {detectable:.2f} {unit} undetectable"
    test = "non-superiority" if expect == "not_better" else "equivalence"
    reach = (
        f"for a margin above {detectable:.2f} {unit} (the claim's: {margin:g})"
        if expect == "not_better"
        else f"within ±{detectable:.2f} {unit} (the claim's: ±{margin:g})"
    )
    if detectable <= margin:  # the seeds had the power: the estimate is what fell short
        return (
            f"these seeds could show {test} {reach} had Δ been 0; the estimate, "
            f"{row['estimate']:+.2f} ({row['test_low']:+.2f} to {row['test_high']:+.2f} at "
            f"{claims.test_level(expect):.0%}), is what kept it from being shown"
        )
    return f"{test} could be shown only {reach}"


def method_note(table: pd.DataFrame, task: Task = TRANSLATION) -> str:
    """How the verdicts were reached, and what they rest on at this many seeds."""
    tested = table[table["p"].notna()]
    seeds = int(tested["seeds"].min()) if len(tested) else 0
    families = tested.groupby("budget").size()
    family = counted(int(families.max()) if len(families) else 0, "test")
    floor = stats.sign_flip_floor(seeds)
    rests = (
        f"With {seeds} seeds an exact sign-flip test of the per-seed differences cannot go "
        f"below p = {floor:.3g}"
        + (
            ", so no verdict here can come from the signs alone: every one rests on the "
            "t-test's assumption that the per-seed differences are normally distributed."
            if floor >= stats.ALPHA
            else "; the verdicts use the t-test, which assumes the per-seed differences are "
            "normally distributed."
        )
        if seeds
        else ""
    )
    return (
        "Each claim is tested as it was stated, against the margin its config entry gives "
        "(written before the runs): a difference (*worse*, *better*) by the two-sided t-test "
        "of Δ = 0 over seeds; *not better* as non-superiority (the one-sided test of Δ ≥ "
        "margin: the 90% interval's upper end below it); *the same* as equivalence (two "
        "one-sided tests: the 90% interval inside ±margin). A claim about quality per "
        "parameter reads the bootstrap over seeds of qk's scaling law, with a band 1 ± margin "
        "around 1×. The claims are one family at each budget "
        f"({family} per budget), and every verdict word comes from a test Holm-corrected over "
        f"it: *replicated* where the corrected p of the claim's own test is below "
        f"{stats.ALPHA:g}; otherwise *opposite* where the corrected test of the other outcome "
        "is (a difference of the other sign; for not better: better, its 95% interval wholly "
        "above zero), *outside the margin* where an equivalence's is (its 95% interval "
        "wholly outside ±margin); each side of a two-sided question at twice its one-sided "
        "p; *not resolved* otherwise, with the smallest difference (or margin) these seeds could "
        "have decided with 80% power (exact, noncentral t). Δ is the cell − what it is "
        f"compared with: {BETTER[task.name]}. {rests}"
        + (
            " A claim compared with another experiment's report tests the difference of the "
            "two experiments' mean Δ: their models share no weights, so their seeds do not "
            "pair, and the interval is Welch's (its smallest decidable margin by the normal "
            "approximation)."
            if table["reference"].map(lambda r: isinstance(r, str) and bool(r)).any()
            else ""
        )
    )


def claims_markdown(table: pd.DataFrame, task: Task = TRANSLATION) -> list[str]:
    """The claims table at one budget: claim → its test → what was measured → verdict (a
    verdict from runs that did not converge says so), in the ``task``'s measures."""
    if not len(table):
        return []
    lines = [
        f"| claim | cell | test | seeds | estimate (95% interval) | Δ {task.second_label} "
        "(95% interval) "
        "| Δ best valid loss (95% interval) | verdict |",
        "|---|---|---|---:|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        where = f" at `{row['size']}`" if row["size"] != "-" else ""
        verdict = claim_verdict(row)
        if not row["converged"] and pd.notna(row["p"]):
            verdict += " (not converged)"
        lines.append(
            f"| {text(row['claim'])} | `{row['label']}`{where} | {claim_test(row)} "
            f"| {int(row['seeds'])} | {estimate_text(row)} "
            f"| {with_interval(row, f'delta_{task.second}', 2)} "
            f"| {with_interval(row, 'delta_loss', 3)} | {verdict} |"
        )
    return [*lines, "", method_note(table, task)]


def with_interval(row: dict, key: str, digits: int) -> str:
    """``row[key]`` signed, with its ``_low`` to ``_high`` interval where there is one."""
    mean, low, high = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    if mean is None or pd.isna(mean):
        return ""
    if pd.isna(low):
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} ({low:+.{digits}f} to {high:+.{digits}f})"


def ladder_claims_markdown(
    table: pd.DataFrame, runs: pd.DataFrame, settle_margin: float, task: Task = TRANSLATION
) -> list[str]:
    """The claims over the budgets: one row per claim (and size), a column per budget with
    the estimate, its interval and the verdict there, where a claim's Δ of the ``task``'s
    test measure changes sign
    (its interval over seeds, and seed by seed), and whether its answer has settled by the
    largest budget (ladder.settling, within its margin, else ``settle_margin``); then one
    sentence per claim with the trend as the numbers give it. ``runs``: every budget's."""
    budgets = sorted(int(b) for b in table["budget"].dropna().unique())
    lines = [
        "| claim | cell | test | "
        + " | ".join(f"{b:,} steps" for b in budgets)
        + f" | sign of Δ {task.short}: its interval; seed by seed | settled? |",
        "|---|---|---|" + "---|" * len(budgets) + "---|---|",
    ]
    judged = _judged_over_budgets(table, runs, settle_margin, task)
    trends = []
    for (claim, size), group in table.groupby(["claim", "size"], sort=False):
        first = group.iloc[0].to_dict()
        label = first["label"]
        if size == "-":
            empty = " | " * len(budgets)
            lines.append(
                f"| {text(claim)} | `{label}` | {claim_test(first)} | {empty}not run | — |"
            )
            continue
        at = {int(r["budget"]): r for r in group.to_dict("records")}
        shown = at.get(budgets[-1], {}).get("reason")  # the next table's, at the largest budget
        cells = [_ladder_cell(at[b], shown) if b in at else "" for b in budgets]
        sign, settled = "—", "—"
        if (claim, size) in judged:
            deltas, settling = judged[claim, size]
            seeds = ladder.sign_change_text(ladder.sign_changes(deltas))
            sign = f"{ladder.interval_sign_text(deltas)}; seed by seed: {seeds}"
            if settling is not None:
                settled = ladder.settling_text(settling)
        lines.append(
            f"| {text(claim)} | `{label}` at `{size}` | {claim_test(first)} | "
            + " | ".join(cells)
            + f" | {sign} | {settled} |"
        )
        rows = [at[b] for b in budgets if b in at]
        if first["verdict"] != Verdict.UNTESTABLE:
            trends.append(_trend_sentence(claim, label, size, rows, sign, settled, task))
    return [
        *lines,
        "",
        f"Each cell: the estimate (Δ test {task.short}, or the worth in qk parameters) with its "
        "95% interval over seeds, and the verdict at that budget, from the test in the third "
        "column (see below the next table). The sign column gives, per seed, the first budget "
        "at which Δ has the opposite sign of its Δ at the smallest budget, first for the 95% "
        "interval of the mean Δ (wholly across zero), then for each seed. An answer has "
        "settled at the largest budget B where the change Δ(B) − Δ(B/2) lies within ±the "
        "claim's margin (for a claim without one, ±the config's settle_margin) by two "
        "one-sided tests over seeds (their 90% interval shown), Holm-corrected over the "
        "claims so tested, like the claims' own tests; otherwise it is still moving.",
        "",
        *trends,
    ]


def _judged_over_budgets(table, runs, settle_margin: float, task: Task) -> dict:
    """(claim, size) -> the per-seed Δ of the ``task``'s test measure over the budgets and
    its settling rows (None for a claim against another report's Δ, which the rule does not
    judge), for every run claim in that measure; the claims' settling tests at the largest
    budget corrected as one family (ladder.settled_family)."""
    judged = {}
    for (claim, size), group in table.groupby(["claim", "size"], sort=False):
        first = group.iloc[0].to_dict()
        if size == "-" or first["measure"] != task.measure:
            continue
        column = f"test_{task.measure}"
        deltas = ladder.seed_deltas(runs, first["label"], size, column, first["against"])
        settling = None
        if not _reference(first):
            margin = first["margin"] if pd.notna(first["margin"]) else settle_margin
            settling = ladder.settling(deltas, margin)
        judged[claim, size] = deltas, settling
    ladder.settled_family([rows[-1] for _, rows in judged.values() if rows])
    return judged


def _ladder_cell(row: dict, shown: str | None) -> str:
    """One budget's cell: the estimate and the verdict (whose words carry the estimate
    where the claim did not hold). Why a claim cannot be tested is pointed to where the next
    table (the largest budget's) gives the same reason (``shown``), else said here."""
    if row["verdict"] == Verdict.UNTESTABLE:
        if row["reason"] == shown:
            return f"{Verdict.UNTESTABLE} (why: the next table)"
        return claim_verdict(row)
    verdict = claim_verdict(row)
    if row["verdict"] in (Verdict.OPPOSITE, Verdict.OUTSIDE) or not estimate_text(row):
        return verdict
    return f"{estimate_text(row)}: {verdict}"


def _trend_sentence(
    claim: str, label: str, size: str, rows: list[dict], sign: str, settled: str, task: Task
) -> str:
    """What a claim's estimate does over the budgets, in numbers: each budget's and verdict."""
    values = "; ".join(
        f"{int(r['budget']):,} steps {estimate_text(r) or r['verdict']}" for r in rows
    )
    verdicts = " → ".join(r["verdict"] for r in rows)
    called = sum(Verdict(r["verdict"]).called for r in rows)
    reference = _reference(rows[0])
    short = task.short
    if reference:  # the other experiment's loss is not read: only its Δ is compared
        what = f"Δ test {short} − `{text(rows[0]['reference'])}`'s Δ"
    else:
        what = "worth in qk parameters" if rows[0]["measure"] == PARAMS else f"Δ test {short}"
    line = (
        f"- *{text(claim)}* (`{label}` at `{size}`): {what} {values}. Decided at {called} of "
        f"{len(rows)} budgets; verdicts {verdicts}."
    )
    if rows[0]["measure"] == task.measure:
        if not reference:
            loss = " → ".join(f"{r['delta_loss']:+.3f}" for r in rows)
            line += f" Δ annealed validation loss {loss} nats."
        line += f" Sign of Δ {short}: {sign}."
        if not reference:
            line += f" Over the last doubling the answer is {settled}."
    return line
