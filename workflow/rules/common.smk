# Helpers shared by every stage: the library on the path, the config checked, run paths.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from attnablate import experiment  # noqa: E402

# Every run's model is built (on no device) now, so a bad variant or size fails the dry run.
experiment.check(config)

EXP = config["experiment"]


wildcard_constraints:
    experiment=r"[A-Za-z0-9_.-]+",
    size=r"[A-Za-z0-9_-]+",
    match=r"none|total|non_embedding",
    seed=r"[0-9]+",


def final_outputs():
    return [f"results/{EXP}/models.tsv"]
