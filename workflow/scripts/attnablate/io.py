"""Atomic writes: every output is written to a temporary file beside it and renamed over its
path, so a killed job leaves the old file or none, never half of one. A temporary file is
named for the host and process that write it (``.<name>.<host>-<pid>.tmp``): one a killed
writer left behind is found and removed at the next run's start
(``remove_stale_temporaries``), while another process's write in progress is left alone."""

import csv
import json
import os
import re
import socket
import time
from pathlib import Path

import numpy as np

# .<name>.<host>-<pid>.tmp<suffix>: what ``temporary`` names
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<host>[^.]+)-(?P<pid>[0-9]+)\.tmp(?P<suffix>\.[a-z]+)?")
FOREIGN_AGE = 24 * 3600  # seconds: a temporary of another host is stale after this long


def temporary(path, suffix: str = "") -> Path:
    """The temporary file of a write to ``path`` by this process (``suffix``: an extension
    the writer insists on, as numpy's savez does ``.npz``)."""
    path = Path(path)
    host = socket.gethostname().split(".")[0].replace("-", "_") or "host"
    return path.with_name(f".{path.name}.{host}-{os.getpid()}.tmp{suffix}")


def replace_atomically(path, write, suffix: str = "") -> None:
    """``write(tmp)`` writes the content to a temporary file, which then replaces ``path``;
    a write that fails leaves no temporary behind."""
    tmp = temporary(path, suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(roots) -> list[Path]:
    """Remove, under each of ``roots``, the temporaries whose writer is gone: of this host,
    where no process has their pid; of another host (a cluster node), a day after their last
    change. Returns what was removed."""
    host = temporary("x").name.split(".")[2].rsplit("-", 1)[0]
    removed = []
    for root in map(Path, roots):
        for tmp in root.rglob(".*.tmp*") if root.is_dir() else ():
            found = TEMPORARY.fullmatch(tmp.name)
            if not found or not tmp.is_file():
                continue
            if found["host"] == host:
                stale = not _alive(int(found["pid"]))
            else:
                stale = time.time() - tmp.stat().st_mtime > FOREIGN_AGE
            if stale:
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def write_text(path, text: str) -> None:
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path, data: bytes) -> None:
    """``data`` to ``path``, flushed to the disk before it replaces the old file."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, write)


def write_lines(path, lines) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def write_json(path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_tsv(path, rows: list[dict], columns: list | None = None) -> None:
    """Rows as a tab-separated table; ``columns`` gives the header of a table with no rows."""
    columns = columns or list(rows[0])

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    replace_atomically(path, write)


def write_npz(path, **arrays) -> None:
    replace_atomically(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")


def flag(column):
    """A True/False column of a table as booleans, whether it holds bools or their text (as
    pandas reads runs.tsv back): one reading for every table that stores flags."""
    return column.astype(str) == "True"


def read_tsv(path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))
