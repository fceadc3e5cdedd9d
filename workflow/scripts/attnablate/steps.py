"""The body of each Snakemake step: one function per rule, called by its step script."""

import csv
import os
from pathlib import Path

from attnablate import experiment


def write_tsv(rows: list[dict], path) -> None:
    """Write rows to a temporary file and rename it: a table is whole or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_model_table(config: dict, path) -> None:
    vocab_size = config.get("tokenizer", {}).get("vocab_size", 8000)
    rows = experiment.model_table(config, vocab_size)
    write_tsv(rows, path)
    print(f"{len(rows)} models written to {path}", flush=True)
