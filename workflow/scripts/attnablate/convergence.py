"""The convergence rule, in one place: training stops by it (``stop_at_convergence``) and the
report judges every run by it.

A run has converged when its best validation loss improved by less than 1% over the last
quarter of its steps, that is when the best loss of the whole run is within 1% of the best loss
among the validations in its first three quarters. A run with no validation in its first three
quarters cannot be judged and counts as not converged. A run whose learning rate decays to zero
at its budget (``schedule: linear`` or ``wsd``, ANNEALED_SCHEDULES) is never called converged
by this rule: its loss flattens because the schedule ends, not because the model has learned
what it can. For such runs a budget ladder (``train.budgets``) gives the rule instead: a cell
has converged at a budget when doubling it improves its annealed validation loss by less than
the same 1% (ladder.doubling_gains).
"""

import math

CONVERGENCE_WINDOW = 0.25  # the last quarter of a run's steps ...
CONVERGENCE_GAIN = 0.01  # ... must improve its best validation loss by less than 1%
# The schedules whose learning rate decays to zero at the step budget: a run ends annealed.
ANNEALED_SCHEDULES = ("linear", "wsd")


def never_converges(schedule: str) -> str:
    """Why stop_at_convergence and an annealed schedule do not go together."""
    return (
        f"the {schedule} schedule decays to zero at max_steps, and a run annealed so is never "
        "called converged: use schedule inverse_sqrt"
    )


def convergence(curve_rows: list[dict], annealed: bool = False) -> dict:
    """``converged`` and ``last_quarter_gain`` (relative improvement of the best validation
    loss over the last quarter of the steps; NaN when it cannot be judged) of one run's
    curves.tsv rows (strings or numbers); ``annealed``: its schedule decays to zero at the
    budget."""
    points = [
        (int(r["step"]), float(r["valid_loss"]))
        for r in curve_rows
        if r["valid_loss"] not in ("", None)
    ]
    points = [(step, loss) for step, loss in points if math.isfinite(loss)]
    if not points:
        return {"converged": False, "last_quarter_gain": math.nan}
    last = max(step for step, _ in points)
    early = [loss for step, loss in points if step <= (1 - CONVERGENCE_WINDOW) * last]
    if not early:
        return {"converged": False, "last_quarter_gain": math.nan}
    before, best = min(early), min(loss for _, loss in points)
    gain = (before - best) / before
    converged = gain < CONVERGENCE_GAIN and not annealed
    return {"converged": converged, "last_quarter_gain": round(gain, 6)}
