"""The replication in the summary's words: each claim's Δ here beside the replicated
report's (analysis/replication.py), one row per claim, size and budget, every word from the
replication's own Holm family."""

import pandas as pd

from attnablate.report.claims_summary import with_interval
from attnablate.report.markup import counted, text


def replication_markdown(table: pd.DataFrame) -> list[str]:
    """The section, or nothing where the experiment replicates no report."""
    if not len(table):
        return []
    report, margin = table["replicates"].iloc[0], table["margin"].iloc[0]
    tested = table[table["p"].notna()]
    family = counted(int(tested["family"].max()), "comparison") if len(tested) else ""
    lines = [
        f"## Beside `{text(report)}`",
        "",
        f"The same claims in `{text(report)}` (another pair or corpus: the two experiments "
        "share no weights and no test set, so their seeds do not pair). Each claim's Δ BLEU "
        "against qk here and there, with 95% intervals over seeds, and the difference of the "
        "two with Welch's 95% interval: the answer is *replicated* where the difference lies "
        f"within ±{margin:g} BLEU by two one-sided tests, *outside the margin* where it is "
        "shown outside, else *not resolved* (with the smallest margin these seeds could have "
        "shown); Holm-corrected over the claims of each budget"
        + (f" ({family} a family, apart from the claims')" if family else "")
        + ".",
        "",
        "| claim | cell | budget | Δ here | Δ there | difference (95% interval) | verdict |",
        "|---|---|---:|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        verdict = str(row["verdict"])
        if verdict == "not resolved" and pd.notna(row["detectable"]):
            verdict += f" (could have shown ±{row['detectable']:.2f})"
        if pd.notna(row["p"]) and not row["converged"]:
            verdict += " (not converged)"
        if isinstance(row.get("reason"), str):
            verdict += f": {text(row['reason'])}"
        lines.append(
            f"| {text(row['claim'])} | `{row['label']}` at `{row['size']}` "
            f"| {int(row['budget']):,} | {with_interval(row, 'delta', 2)} "
            f"| {with_interval(row, 'delta_there', 2)} | {with_interval(_difference(row), 'd', 2)} "
            f"| {verdict} |"
        )
    return [*lines, ""]


def _difference(row: dict) -> dict:
    return {"d": row["estimate"], "d_low": row["low"], "d_high": row["high"]}
