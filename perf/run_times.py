"""A finished experiment's run times in the form docs/performance/ keeps them: each kind of
job's mean, least and most seconds (from Snakemake's benchmark files), then its runs table.

    python perf/run_times.py EXPERIMENT [--workdir .] [--wall H:MM:SS]

Prints a 'whole run:' line first where --wall gives the run's wall time (measured outside, as
/usr/bin/time or Snakemake's log give it), then a 'trained under:' line per kernel set the
runs trained under (runs.tsv's kernels: the machine the numbers come from, whichever machine
prints them); tools/perf_tables.py reads them back.
"""

import argparse
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from attnablate.io import read_tsv  # noqa: E402
from attnablate.report.aggregate import KERNELS_JOIN  # noqa: E402
from attnablate.report.markup import counted  # noqa: E402
from attnablate.tasks import MASKED, TRANSLATION  # noqa: E402

# the runs table's columns, as runs.tsv names them and as the printout heads them
RUN_COLUMNS = {
    "variant": "variant",
    "size": "size",
    "match": "match",
    "seed": "seed",
    "budget": "budget",
    "steps": "steps",
    "epochs_seen": "epochs_seen",
    "best_valid_loss": "best valid loss",
    **{f"test_{task.measure}": f"test {task.short}" for task in (TRANSLATION, MASKED)},
    "doubling_gain": "doubling_gain",
}


LABELS = ("variant", "size", "match")  # left-aligned; the numbers are right-aligned


def job_kind(benchmark: Path) -> str:
    """'stable' for every stable segment; else the run and the rule: 'steps1000/train'."""
    run, rule = benchmark.parent.name, benchmark.stem
    return "stable" if run.startswith("stable") else f"{run}/{rule}"


def whole_line(wall: str) -> list[str]:
    return [f"whole run: {wall} wall (measured outside this script), exit 0", ""]


def own_jobs(folder: Path, table: Path | None) -> list[Path]:
    """The benchmark files of the experiment's own jobs: in a runs folder it shares with
    another experiment (``runs:``), those of the cells in its runs table, up to its largest
    budget (every file where there is no table)."""
    paths = sorted(folder.rglob("*.tsv"))
    if table is None:
        return paths
    rows = read_tsv(table)
    cells = {(r["variant"], r["size"], r["match"], f"seed{r['seed']}") for r in rows}
    top = max(int(r["budget"]) for r in rows)
    return [
        path
        for path in paths
        if tuple(path.relative_to(folder).parts[:4]) in cells
        and int(re.sub(r"\D", "", path.parent.name)) <= top
    ]


def job_lines(folder: Path, table: Path | None = None) -> list[str]:
    seconds = defaultdict(list)
    for path in own_jobs(folder, table):
        seconds[job_kind(path)].append(float(read_tsv(path)[-1]["s"]))
    order = lambda kind: (kind != "stable", int(re.sub(r"\D", "", kind) or 0), kind)  # noqa: E731
    return [
        f"job {kind:<22} n={len(s)} mean {statistics.mean(s):6.1f} s  min {min(s):6.1f}  "
        f"max {max(s):6.1f}"
        for kind, s in sorted(seconds.items(), key=lambda item: order(item[0]))
    ]


def kernels_lines(table: Path) -> list[str]:
    """A 'trained under:' line per kernel set in runs.tsv, with how many runs trained under
    it (a run resumed under another counts under each); none for a table without them."""
    counts = Counter(
        kernels
        for row in read_tsv(table)
        for kernels in (row["kernels"].split(KERNELS_JOIN) if row.get("kernels") else [])
    )
    return [f"trained under: {kernels} ({counted(n, 'run')})" for kernels, n in counts.items()]


def runs_lines(table: Path) -> list[str]:
    rows = read_tsv(table)
    columns = [c for c in RUN_COLUMNS if rows and c in rows[0]]
    cells = [[RUN_COLUMNS[c] for c in columns], *([row[c] for c in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return [
        "  ".join(
            v.ljust(w) if column in LABELS else v.rjust(w)
            for column, v, w in zip(columns, line, widths, strict=True)
        ).rstrip()
        for line in cells
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--wall", help="the whole run's wall time, measured outside")
    args = parser.parse_args()
    config = yaml.safe_load(
        (args.workdir / "reports" / args.experiment / "config.yaml").read_text()
    )
    runs = config.get("runs") or args.experiment  # where an experiment continuing another's trains
    table = args.workdir / "results" / args.experiment / "runs.tsv"
    lines = [
        *(whole_line(args.wall) if args.wall else []),
        *kernels_lines(table),
        *job_lines(args.workdir / "benchmarks" / runs, table),
        "",
        *runs_lines(table),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
