"""What a run records as it trains (rank 0): curves.tsv, dynamics.tsv and, for watching it
live, TensorBoard event files. The rows also travel in every resume state, since a rerun job
starts without the files."""

from pathlib import Path

from attnablate.io import write_text, write_tsv
from attnablate.tasks import TRANSLATION, Task
from attnablate.train.dynamics import COLUMNS as DYNAMICS_COLUMNS
from attnablate.train.files import RunFiles
from attnablate.train.live import LiveCurves

# curves.tsv's columns; then the task's own measure (tasks.py: valid_bleu, valid_accuracy)
CURVE_COLUMNS = (
    "step",
    "epoch",
    "tokens",  # targets trained on (the masked task: chosen pieces)
    "seconds",
    "lr",
    "train_loss",
    "grad_norm",
    "valid_loss",
)


class Curves:
    """curves.tsv, rewritten row by row so that a person can follow a run while it trains;
    ``measure``: the column of its task's valid measure, last."""

    def __init__(self, path, rows: list | None = None, measure: str = TRANSLATION.valid_measure):
        self.path = Path(path)
        self.rows = list(rows or [])
        self.columns = (*CURVE_COLUMNS, measure)
        write_text(self.path, self._text())

    def add(self, **row) -> None:
        self.rows.append({column: _fmt(row.get(column)) for column in self.columns})
        write_text(self.path, self._text())

    def _text(self) -> str:
        lines = ["\t".join(self.columns)] + ["\t".join(r.values()) for r in self.rows]
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class Records:
    """A run's curves and attention diagnostics, in their files and, with ``tensorboard``, as
    event files beside them. ``state``: a resume or branch state to continue the rows of;
    ``fresh``: the run starts anew here (no state of its own), so event files of an earlier
    run in the folder go."""

    def __init__(
        self,
        files: RunFiles,
        state: dict | None,
        fresh: bool,
        tensorboard: bool,
        task: Task = TRANSLATION,
    ):
        self.files = files
        self.curves = Curves(files.curves, state["curves"] if state else [], task.valid_measure)
        self.dynamics = state["dynamics"] if state else []
        self.live = LiveCurves(files.folder, fresh=fresh) if tensorboard else None

    def validation(self, row: dict) -> None:
        """One validation's row of curves.tsv."""
        self.curves.add(**row)
        if self.live:
            self.live.curves(row)

    def restart_dynamics(self, rows: list[dict]) -> None:
        """The diagnostics at step 0, replacing any carried over (a run starting anew)."""
        self.dynamics = []
        self.add_dynamics(rows)

    def add_dynamics(self, rows: list[dict]) -> None:
        """Diagnostics of one step."""
        self.dynamics.extend(rows)
        self.write_dynamics()
        if self.live:
            self.live.dynamics(rows)

    def write_dynamics(self) -> None:
        write_tsv(self.files.dynamics, self.dynamics, DYNAMICS_COLUMNS)

    def close(self) -> None:
        if self.live:
            self.live.close()
