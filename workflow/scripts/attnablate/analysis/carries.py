"""Whether the conclusions carry to another model family (config ``carries``): each claim of
this experiment set beside the same claim (the same words) in another family's committed
report (its claims.csv), at each budget both tested it.

Each family is judged in its own measure (BLEU for a translating model, masked-token accuracy
for an encoder-only one: tasks.py), so their Δs are not compared; their verdicts are. A
conclusion *carries* where both families' tests decide it the same way (both replicated, or
both opposite or outside the margin), *does not carry* where one replicates it and the other
contradicts it, and is *not decided* where either left it unresolved or untestable. Held-out
loss in nats is a measure of both: each family's Δ annealed validation loss (the cell against
what it is compared with, 95% interval over seeds) stands beside the other's.
"""

import pandas as pd

from attnablate.analysis import stats
from attnablate.analysis.verdict import Verdict
from attnablate.io import write_tsv

DECIDED = (Verdict.REPLICATED, Verdict.OPPOSITE, Verdict.OUTSIDE)
CARRIES, DOES_NOT_CARRY, NOT_DECIDED = "carries", "does not carry", "not decided"
SIDES = ("here", "there")
COLUMNS = [
    "claim",
    "budget",
    "carries",  # the report whose claims are set beside these
    *(f"{key}_{side}" for side in SIDES for key in ("label", "measure", "verdict")),
    *(f"{key}_{side}" for side in SIDES for key in stats.interval_columns("estimate")),
    *(f"{key}_{side}" for side in SIDES for key in stats.interval_columns("delta_loss")),
    "outcome",
]


def outcome(here: str, there: str) -> str:
    """Whether a conclusion carries, from the two families' verdicts on one claim."""
    if here not in DECIDED or there not in DECIDED:
        return NOT_DECIDED
    same = (here == Verdict.REPLICATED) == (there == Verdict.REPLICATED)
    return CARRIES if same else DOES_NOT_CARRY


def carries_table(mine: pd.DataFrame, theirs: pd.DataFrame, report: str) -> pd.DataFrame:
    """One row per claim and budget in both claims tables (``mine``, this experiment's, and
    ``theirs``, the other family's report's), at the recipe's one size of each."""
    rows = []
    for claim, here in mine.groupby("claim", sort=False):
        there = theirs[theirs["claim"] == claim]
        for budget in sorted(set(here["budget"].dropna()) & set(there["budget"].dropna())):
            a = here[here["budget"] == budget].iloc[0]
            b = there[there["budget"] == budget].iloc[0]
            row = {"claim": claim, "budget": int(budget), "carries": report}
            for side, source in zip(SIDES, (a, b)):
                estimate = zip(stats.interval_columns("estimate"), ("estimate", "low", "high"))
                loss = [(key, key) for key in stats.interval_columns("delta_loss")]
                named = [("label", "label"), ("measure", "measure"), ("verdict", "verdict")]
                for key, column in [*named, *estimate, *loss]:
                    row[f"{key}_{side}"] = source[column]
            row["outcome"] = outcome(a["verdict"], b["verdict"])
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def write_carries(config: dict, mine: pd.DataFrame, theirs: pd.DataFrame | None, path) -> None:
    """The claims step's table of this experiment's claims (``mine``) beside another family's
    report's (``theirs``, config ``carries``); no rows where the experiment names none."""
    table = pd.DataFrame(columns=COLUMNS)
    if config.get("carries"):
        table = carries_table(mine, theirs, config["carries"]["report"])
    write_tsv(path, table.to_dict("records"), COLUMNS)
