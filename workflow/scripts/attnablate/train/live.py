"""Live learning curves: TensorBoard event files in a run's folder, holding the numbers of
curves.tsv and dynamics.tsv as they are written (rank 0 only). Each run's folder is one
TensorBoard run, so `tensorboard --logdir runs/<experiment>` compares an experiment's runs
while they train. The files are for watching; curves.tsv stays the record.
"""

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

# curves.tsv column -> TensorBoard tag
CURVE_TAGS = {
    "train_loss": "loss/train",
    "valid_loss": "loss/valid",
    "valid_bleu": "bleu/valid_greedy",
    "valid_accuracy": "accuracy/valid_masked",
    "lr": "train/lr",
    "grad_norm": "train/grad_norm",
}
MEASURES = ("symmetry", "eig_mean", "eig_std", "neg_share", "diag_mass", "entropy")


class LiveCurves:
    """The event files of one run. ``fresh``: a run starting from step 0, whose folder may
    still hold the event files of an earlier, different run: those go."""

    def __init__(self, folder, fresh: bool):
        folder = Path(folder)
        if fresh:
            for old in folder.glob("events.out.tfevents.*"):
                old.unlink()
        self.writer = SummaryWriter(log_dir=str(folder), flush_secs=20)

    def curves(self, row: dict) -> None:
        """One row of curves.tsv, and the tokens per second it implies."""
        step = int(row["step"])
        for column, tag in CURVE_TAGS.items():
            if row.get(column) is not None:
                self.writer.add_scalar(tag, float(row[column]), step)
        if row.get("seconds"):
            self.writer.add_scalar("train/tokens_per_second", row["tokens"] / row["seconds"], step)

    def dynamics(self, rows: list[dict]) -> None:
        """Rows of dynamics.tsv of one step: each measure's mean over layers and heads, per
        site."""
        if not rows:
            return
        step = int(rows[0]["step"])
        for site in dict.fromkeys(row["site"] for row in rows):
            here = [row for row in rows if row["site"] == site]
            for measure in MEASURES:
                values = [float(row[measure]) for row in here if row.get(measure) is not None]
                if values:
                    self.writer.add_scalar(
                        f"dynamics/{site}/{measure}", sum(values) / len(values), step
                    )

    def close(self) -> None:
        self.writer.close()
