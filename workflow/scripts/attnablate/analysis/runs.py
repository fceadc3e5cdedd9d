"""What the analysis reads of the runs table beyond its numbers."""

import pandas as pd

from attnablate.io import flag


def diverged(runs: pd.DataFrame) -> pd.Series:
    """True for the runs whose loss became NaN or infinite."""
    return flag(runs["diverged"])
