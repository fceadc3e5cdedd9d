"""Where a run reads and writes: the tokenised corpus it trains on, and its own folder.

The workflow's rules name the same files (workflow/rules/train.smk); attnablate.steps, the
one module that knows the rules' names, checks that they agree.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataFiles:
    """A tokenised corpus as training reads it."""

    train: Path  # training pairs, ids (.npz)
    valid: Path  # valid pairs, ids (.npz)
    spm: Path  # the sentencepiece model (its vocabulary is the model's)
    valid_ref: Path  # valid references, plain text, one a line

    @classmethod
    def of(cls, tokenised, corpus) -> "DataFiles":
        """The files of ``tokenised`` (the tokenizer's folder) and ``corpus`` (its parent:
        the prepared text), as the workflow lays them out."""
        tokenised, corpus = Path(tokenised), Path(corpus)
        return cls(
            tokenised / "train.ids.npz",
            tokenised / "valid.ids.npz",
            tokenised / "spm.model",
            corpus / "valid.tgt",
        )


@dataclass(frozen=True)
class RunFiles:
    """One run's folder. A ladder's stable run keeps branch states, not a model: it writes no
    checkpoint. Resume states live in ``resume/`` inside it; a ladder cell's branch states in
    ``branches/`` beside its runs' folders, where no job declares them (a rerun job loses its
    declared outputs, and these must outlive it)."""

    folder: Path
    keeps_model: bool = True  # False: a ladder's stable run

    @property
    def checkpoint(self) -> Path | None:
        return self.folder / "checkpoint.pt" if self.keeps_model else None

    @property
    def curves(self) -> Path:
        return self.folder / "curves.tsv"

    @property
    def dynamics(self) -> Path:
        return self.folder / "dynamics.tsv"

    @property
    def meta(self) -> Path:
        return self.folder / "meta.json"

    @property
    def resume(self) -> Path:
        return self.folder / "resume"

    @property
    def branches(self) -> Path:
        return self.folder.parent / "branches"
