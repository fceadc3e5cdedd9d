"""What the analysis reads of the runs table beyond its numbers, and how a table of runs is
read back."""

import pandas as pd

from attnablate.io import flag
from attnablate.model.variants import cell_label


def read_table(path) -> pd.DataFrame:
    """A tab-separated table of the aggregate step: a size named "1" stays a name."""
    return pd.read_csv(path, sep="\t", dtype={"size": str})


def with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each row's cell label (variant, and its match where matched)."""
    return frame.assign(label=[cell_label(v, m) for v, m in zip(frame["variant"], frame["match"])])


def diverged(runs: pd.DataFrame) -> pd.Series:
    """True for the runs whose loss became NaN or infinite."""
    return flag(runs["diverged"])
