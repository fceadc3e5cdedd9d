"""Outside the work: per rule of a finished DAG, the seconds its jobs spent besides their work
(interpreter, imports, reading data and models before it; writing outputs and records after
it), summed, and their share of the jobs' time and of the DAG's wall time on its cores.

    python perf/outside_work.py [--snakemake-log .snakemake/log/<run>.snakemake.log ...]
        [--cores 2]

Each job's wall time comes from Snakemake's own log (its start and its "Finished" line, to the
second); the work of a training or translation job from the ``job time`` line its log ends
with (attnablate/timing.py): steps, evaluation, states, decoding. A job of another rule (score,
compare, attention, tables, report) has no such line: it is short, and counted whole as outside
the work, since its own computation is a small part of it. The DAG's wall time is from the
first job's start to the last one's end, times the cores it ran on.
"""

import argparse
import re
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from attnablate.timing import read_line  # noqa: E402

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")
LOG = re.compile(r"^\s+log: (\S+)")
WORK = ("steps", "evaluation", "states", "decoding")  # the parts of a job that are its work


def jobs_of(snakemake_log: Path) -> list[dict]:
    """Every finished job of one Snakemake invocation: rule, start, end (Unix seconds), log."""
    started, done = {}, []
    stamp = rule = None
    for line in snakemake_log.read_text(encoding="utf-8").splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := STARTED.match(line):
            rule = {"rule": m.group(1), "start": stamp, "log": None}
        elif (m := LOG.match(line)) and rule is not None:
            rule["log"] = m.group(1).split(",")[0]
        elif (m := JOBID.match(line)) and rule is not None:
            started[m.group(1)] = rule
            rule = None
        elif m := FINISHED.match(line):
            job = started.pop(m.group(1), None)
            if job is not None:
                done.append({**job, "end": stamp})
    return done


def table(jobs: list[dict], root: Path) -> tuple[list[dict], float]:
    """Per rule: jobs, their seconds, the work's and outside it; and the DAG's wall time. A
    job of a rule whose other jobs give their job time, but which gives none (written by
    older code), is left out of its rule's sums and counted as ``untimed``."""
    rows = defaultdict(lambda: defaultdict(float))
    logs = [root / job["log"] if job["log"] else None for job in jobs]
    parts_of = [
        read_line(log.read_text(encoding="utf-8", errors="replace"))
        if log and log.is_file()
        else None
        for log in logs
    ]
    timed_rules = {job["rule"] for job, parts in zip(jobs, parts_of) if parts}
    for job, parts in zip(jobs, parts_of):
        row = rows[job["rule"]]
        if job["rule"] in timed_rules and not parts:
            row["untimed"] += 1
            continue
        wall = job["end"] - job["start"]
        row["jobs"] += 1
        row["seconds"] += wall
        work = sum(parts.get(k, 0.0) for k in WORK) if parts else 0.0
        row["work"] += min(work, wall)
        row["steps"] += parts.get("steps", 0.0) if parts else 0.0
        row["timed"] += 1 if parts else 0
    wall = max(j["end"] for j in jobs) - min(j["start"] for j in jobs) if jobs else 0.0
    return [{"rule": rule, **row} for rule, row in rows.items()], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snakemake-log", type=Path, nargs="+", help="default: the newest")
    parser.add_argument("--cores", type=int, default=2, help="the cores the DAG ran on")
    args = parser.parse_args()
    logs = args.snakemake_log or sorted((ROOT / ".snakemake" / "log").glob("*.log"))[-1:]
    jobs = [job for log in logs for job in jobs_of(log)]
    rows, wall = table(jobs, ROOT)
    wall *= args.cores  # core-seconds
    total = sum(r["seconds"] for r in rows)
    print(f"# {len(jobs)} jobs from {', '.join(str(p) for p in logs)}")
    print(
        f"DAG wall time {wall / args.cores:,.0f} s on {args.cores} cores; "
        f"jobs' time {total:,.0f} s\n"
    )
    print(
        f"{'rule':<14}{'jobs':>6}{'timed':>7}{'job s':>10}{'work s':>10}{'outside s':>11}"
        f"{'of jobs':>9}{'of wall':>9}{'steps':>8}"
    )
    for r in sorted(rows, key=lambda r: -r["seconds"]):
        outside = r["seconds"] - r["work"]
        print(
            f"{r['rule']:<14}{int(r['jobs']):>6}{int(r['timed']):>7}{r['seconds']:>10,.0f}"
            f"{r['work']:>10,.0f}{outside:>11,.0f}{outside / total:>9.1%}"
            f"{outside / wall if wall else 0:>9.1%}"
            f"{r['steps'] / r['seconds'] if r['steps'] else 0:>8.1%}"
        )
    outside = total - sum(r["work"] for r in rows)
    print(
        f"{'all':<14}{len(jobs):>6}{'':>7}{total:>10,.0f}{total - outside:>10,.0f}{outside:>11,.0f}"
        f"{outside / total if total else 0:>9.1%}{outside / wall if wall else 0:>9.1%}"
    )
    print("\nof wall: outside seconds over the DAG's wall time times its cores; steps: the")
    print("share of a rule's job time spent in training steps (the bare step's rate: 100%)")
    untimed = int(sum(r.get("untimed", 0) for r in rows))
    if untimed:
        print(f"left out: {untimed} jobs of timed rules whose logs give no job time")


if __name__ == "__main__":
    main()
