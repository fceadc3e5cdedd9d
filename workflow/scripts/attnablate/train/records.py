"""What a run records as it trains (rank 0): curves.tsv, dynamics.tsv and, for watching it
live, TensorBoard event files. The rows also travel in every resume state, since a rerun job
starts without the files."""

from pathlib import Path

from attnablate.io import write_text, write_tsv
from attnablate.train.dynamics import COLUMNS as DYNAMICS_COLUMNS
from attnablate.train.files import RunFiles
from attnablate.train.live import LiveCurves

CURVE_COLUMNS = (
    "step",
    "epoch",
    "tokens",
    "seconds",
    "lr",
    "train_loss",
    "grad_norm",
    "valid_loss",
    "valid_bleu",
)


class Curves:
    """curves.tsv, rewritten row by row so that a person can follow a run while it trains."""

    def __init__(self, path, rows: list | None = None):
        self.path = Path(path)
        self.rows = list(rows or [])
        write_text(self.path, self._text())

    def add(self, **row) -> None:
        self.rows.append({column: _fmt(row.get(column)) for column in CURVE_COLUMNS})
        write_text(self.path, self._text())

    def _text(self) -> str:
        lines = ["\t".join(CURVE_COLUMNS)] + ["\t".join(r.values()) for r in self.rows]
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

    def __init__(self, files: RunFiles, state: dict | None, fresh: bool, tensorboard: bool):
        self.files = files
        self.curves = Curves(files.curves, state["curves"] if state else [])
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
