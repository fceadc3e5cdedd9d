"""What the seeds decided, as words with one meaning each.

A comparison of a cell against the baseline (comparison.py) ends in one of the first five; a
claim tested as it was stated (claims.py) in one of the rest. The values are the words the
tables and the summary print, so a verdict read back from a TSV compares equal to its member.
"""

from enum import StrEnum

from attnablate.analysis.stats import ALPHA


class Verdict(StrEnum):
    # a cell against the baseline, from the 95% interval of the per-seed differences
    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no difference detected"
    ONE_SEED = "one seed"
    NO_PAIR = "no finished pair"
    # a claim, from its own test after Holm over the claims of its budget
    REPLICATED = "replicated"
    OPPOSITE = "opposite"
    OUTSIDE = "outside the margin"
    UNRESOLVED = "not resolved"
    UNTESTABLE = "cannot be tested here"
    NOT_RUN = "not run in this experiment"
    CLAIM_ONE_SEED = "no verdict (one seed)"
    CLAIM_NO_PAIR = "no verdict (no finished pair)"

    @property
    def called(self) -> bool:
        """Whether the seeds decided something (a difference, or a claim's outcome)."""
        return self in CALLED


CALLED = frozenset(
    {Verdict.BETTER, Verdict.WORSE, Verdict.REPLICATED, Verdict.OPPOSITE, Verdict.OUTSIDE}
)


def difference(mean: float, p_holm: float) -> Verdict:
    """A difference against a baseline after its family's correction: better or worse by the
    sign of the mean Δ where the corrected p is below ALPHA, else no difference detected."""
    if not p_holm < ALPHA:
        return Verdict.NO_DIFFERENCE
    return Verdict.BETTER if mean > 0 else Verdict.WORSE
