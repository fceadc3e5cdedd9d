"""Whether the conclusions carry to another model family, in the summary's words: each claim's
verdict here beside the other family's report's (analysis/carries.py), each in its own
measure, with the one measure both have, Δ validation loss in nats, side by side."""

import pandas as pd

from attnablate.analysis import stats
from attnablate.report.claims_summary import with_interval
from attnablate.report.markup import text
from attnablate.tasks import PARAMS, task_of_measure

LOSS = stats.interval_columns("delta_loss")  # Δ annealed validation loss, nats


def _judged(row: dict, side: str) -> str:
    """One family's verdict with its estimate, in its measure."""
    measure = row[f"measure_{side}"]
    what = "worth in qk parameters" if measure == PARAMS else f"Δ {task_of_measure(measure).short}"
    estimate = with_interval(
        {k: row[f"{k}_{side}"] for k in ("estimate", "estimate_low", "estimate_high")},
        "estimate",
        2,
    )
    shown = f"{what} {estimate}: " if estimate else ""
    return f"`{row[f'label_{side}']}`: {shown}{row[f'verdict_{side}']}"


def carries_markdown(table: pd.DataFrame) -> list[str]:
    """The section, or nothing where the experiment sets itself beside no other family."""
    if not len(table):
        return []
    report = text(table["carries"].iloc[0])
    lines = [
        f"## Does it carry to another family? Beside `{report}`",
        "",
        f"The same claims (the same words) as tested in `{report}`, a model of another family, "
        "at each budget both ran. Each family is judged in its own measure, so their Δs are not "
        "compared; their verdicts are: the conclusion *carries* where both decide the claim "
        "the same way (both replicated, or both opposite or outside the margin), *does not "
        "carry* where one replicates it and the other contradicts it, and is *not decided* "
        "where either left it unresolved. The one measure both families have, Δ annealed "
        "validation loss in nats (95% interval over seeds), stands beside each.",
        "",
        "| claim | budget | here | there | Δ valid loss here | Δ valid loss there | carries? |",
        "|---|---:|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        losses = [
            with_interval({k: row[f"{k}_{side}"] for k in LOSS}, "delta_loss", 3)
            for side in ("here", "there")
        ]
        lines.append(
            f"| {text(row['claim'])} | {int(row['budget']):,} | {_judged(row, 'here')} "
            f"| {_judged(row, 'there')} | {losses[0]} | {losses[1]} | {row['outcome']} |"
        )
    return [*lines, ""]
