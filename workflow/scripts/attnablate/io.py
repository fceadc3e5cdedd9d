"""Atomic writes: every output is written to a temporary file and renamed over its path, so a
killed job leaves the old file or none, never half of one."""

import csv
import json
import os
from pathlib import Path

import numpy as np


def write_text(path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_lines(path, lines) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def write_json(path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_tsv(path, rows: list[dict], columns: list | None = None) -> None:
    """Rows as a tab-separated table; ``columns`` gives the header of a table with no rows."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    columns = columns or list(rows[0])
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_npz(path, **arrays) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def flag(column):
    """A True/False column of a table as booleans, whether it holds bools or their text (as
    pandas reads runs.tsv back): one reading for every table that stores flags."""
    return column.astype(str) == "True"


def read_tsv(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))
