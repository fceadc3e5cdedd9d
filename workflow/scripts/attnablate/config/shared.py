"""An experiment that continues another's runs (``runs``): checked at the dry run against the
other's committed config, since a run of another recipe in the same folder would retrain it
and remove the other's resume states."""

from pathlib import Path

import yaml

from attnablate.config.experiment import Experiment
from attnablate.errors import ConfigurationError

# What an experiment that continues another's runs (``runs``) must agree on with it: every
# setting a run's numbers depend on. The ladder's budgets may differ (a longer ladder
# continues the stable runs), and so may how jobs run.
SHARED_RUN_KEYS = ("corpus", "tokenizer", "model", "device", "decode")


def check(config: dict) -> None:
    """An experiment that names another's ``runs`` agrees with that one's committed config
    (reports/<runs>/config.yaml) on everything its runs' numbers depend on: a run of another
    recipe in the same folder would retrain it, and remove the other's resume states."""
    other = config.get("runs")
    if not other or other == config["experiment"]:
        return
    path = Path("reports") / other / "config.yaml"
    if not path.is_file():
        raise ConfigurationError(
            "runs", f"{other!r}: no committed {path} to check the shared runs' recipe against"
        )
    theirs = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(theirs, dict):
        raise ConfigurationError("runs", f"{path} is not a YAML mapping")
    differ = [k for k in SHARED_RUN_KEYS if config.get(k) != theirs.get(k)]
    mine, their = Experiment.of(config), Experiment.of(theirs)
    for size in sorted(set(config["sizes"]) & set(theirs.get("sizes") or {})):
        if config["sizes"][size] != theirs["sizes"][size]:
            differ.append(f"sizes.{size}")
        ours, others = mine.train_settings(size), their.train_settings(size)
        differ += [
            f"train.{k}" for k in sorted(set(ours) | set(others)) if ours.get(k) != others.get(k)
        ]
    differ = list(dict.fromkeys(differ))
    if not differ and mine.ladder and their.ladder:
        # the same stable segments: the other's branch points are this ladder's up to its last
        points = their.branch_points
        if [p for p in mine.branch_points if p <= points[-1]] != list(points):
            differ.append("train.budgets (the branch points it has must all be this ladder's)")
    if differ:
        raise ConfigurationError(
            "runs",
            f"{other!r}: its runs are of another recipe than this experiment's ({path} differs "
            f"in {', '.join(differ)}); a shared run folder must hold the same runs",
        )
