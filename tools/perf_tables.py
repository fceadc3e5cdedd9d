"""The tables of measured figures in docs/performance/README.md, made from the raw output in
that folder, and the README's line on what the default run costs:

    .venv/bin/python tools/perf_tables.py      # after adding a measurement there

Each .txt file there is one measurement as it was printed, with its machine, versions and
command (a '#' line says what the printout does not: the command, the date, what was unusual).
Four kinds of printout hold figures:

- the benchmark's table (perf/benchmark.py; perf/printout.py reads its lines back);
- packing lines (tools/gpu_pack.py): N runs sharing one GPU against one alone;
- a study (tools/gpu-check.sh study): the whole DAG's wall time, and its runs.tsv;
- a pipeline run (a 'whole run:' line, its jobs' times and its runs): ./run.sh timed.

A file with none of them (a diagnosis, a tuning table) is cited by the docs only. The tables
go between the perf markers of docs/performance/README.md, one per file, newest first; the
default run's file (DEFAULT_RUN) also gives the README's cost line. tests/test_perf_tables.py
checks that both are what this script makes of the committed files.
"""

import collections
import csv
import re
import statistics
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "perf"), str(ROOT / "tools"), str(ROOT / "workflow" / "scripts")]

import gpu_pack  # noqa: E402
import printout  # noqa: E402
import readme_answer  # noqa: E402
from attnablate.convergence import CONVERGENCE_GAIN  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.tasks import MASKED, TRANSLATION  # noqa: E402

FOLDER = ROOT / "docs" / "performance"
PAGE = FOLDER / "README.md"
BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"
COST_BEGIN, COST_END = "<!-- cost:begin -->", "<!-- cost:end -->"  # in the README
DEFAULT_RUN = "cpu-2core-zen5-default.txt"  # ./run.sh of config.yaml, timed
WHOLE_RUN = "whole run (./run.sh; its invocations as said above)"  # a timed pipeline run's figure
SCORE_UNITS = {TRANSLATION.name: "BLEU", MASKED.name: "%"}  # a task's test score, in the tables
STUDY_SECONDS = 8 * 60  # a study's whole DAG must fit a GPU window: 8 minutes on one H100

_DATE = re.compile(r"\b(20\d\d-\d\d-\d\d)\b")
_GPU = re.compile(r"^(?P<gpu>[^,]+), \d+ MiB, (?P<driver>[\d.]+)$")  # nvidia-smi's csv line
_TORCH = re.compile(r"^torch (?P<torch>\S+) python (?P<python>\S+)$")
_PACKING = re.compile(
    r"^packing(?: (?P<label>[\w-]+))?: (?P<runs>\d+) run\(s\) of (?P<size>\S+), (?P<steps>\d+) "
    r"steps: wall (?P<wall>[\d.]+) s, tok/s each [^;]+; aggregate (?P<total>[\d,]+) "
    r"= (?P<ratio>[\d.]+)x one alone$"
)
_STUDY = re.compile(r"^study: exit (?P<status>\d+) after (?P<seconds>\d+) s wall$")
_WHOLE = re.compile(r"^whole run: (?P<wall>[\d:.]+) wall .*exit (?P<status>\d+)")
_JOB = re.compile(r"^job (?P<job>\S+) +n=(?P<n>\d+) mean +(?P<mean>[\d.]+) s")


@dataclass
class Measurement:
    """One file of docs/performance: where and when it ran, its notes and its figures (each a
    dict of perf/printout.py's fields, as printed)."""

    name: str
    date: str = ""
    machine: str = ""
    notes: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


def row(figure, ours, reference="-", unit="", ratio="", target="", met="", note="") -> dict:
    return {
        "figure": figure,
        "ours": ours,
        "reference": reference,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
        "indent": False,
    }


def machine(lines: list[str]) -> str:
    """The machine and versions: the benchmark's platform line, or nvidia-smi's and torch's;
    for a pipeline run, with the kernel sets its runs trained under (perf/run_times.py)."""
    trained = [line.split(": ", 1)[1] for line in lines if line.startswith("trained under: ")]
    under = f"; its runs trained under {'; '.join(trained)}" if trained else ""
    for line in lines:
        if line.startswith("platform: "):
            info = dict(part.split(": ", 1) for part in line.split(" | "))
            where = f"{info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else info["cpu"]
            cores = f", {info['cores']} cores" if "gpu" not in info else ""
            return f"{where}{cores}, torch {info['torch']}, Python {info['python']}{under}"
    gpu = next((m for m in map(_GPU.match, lines) if m), None)
    versions = next((m for m in map(_TORCH.match, lines) if m), None)
    if gpu and versions:
        return (
            f"{gpu['gpu']} (driver {gpu['driver']}), torch {versions['torch']}, "
            f"Python {versions['python']}"
        )
    return ""


def packing_rows(lines: list[str]) -> list[dict]:
    """N runs together against one alone (the first count of the same label)."""
    rows, alone = [], {}
    for match in filter(None, map(_PACKING.match, lines)):
        label, runs = match["label"] or "", int(match["runs"])
        how = f" ({label})" if label else ""
        note = f"{match['steps']} steps each, wall {match['wall']} s"
        if label not in alone:
            alone[label] = match["total"]
            rows.append(row(f"train tok/s, one {match['size']} run alone{how}", match["total"]))
            rows[-1].update(unit="tok/s", note=note)
            continue
        goal = runs == gpu_pack.TARGET_RUNS
        met = float(match["ratio"]) >= gpu_pack.TARGET_RATIO
        rows.append(
            row(
                f"aggregate train tok/s, {runs} packed {match['size']} runs{how}",
                match["total"],
                alone[label],
                "tok/s",
                f"{match['ratio']}x",
                f">={gpu_pack.TARGET_RATIO}x" if goal else "",
                ("yes" if met else "NO") if goal else "",
                note + "; reference: one alone",
            )
        )
    return rows


def study_rows(lines: list[str]) -> list[dict]:
    """The whole DAG's wall time, then from its runs.tsv (the tab-separated lines after
    '## per run'): how many runs converged, their steps and their tokens/s together."""
    rows = []
    for match in filter(None, map(_STUDY.match, lines)):
        seconds = int(match["seconds"])
        rows.append(
            row(
                "study end to end (the whole Snakemake DAG)",
                f"{seconds:,}",
                unit="s",
                target=f"<={STUDY_SECONDS}",
                met="yes" if seconds <= STUDY_SECONDS and match["status"] == "0" else "NO",
                note=f"exit status {match['status']}",
            )
        )
        break  # a file may repeat its last line
    start = next((i for i, line in enumerate(lines) if line.startswith("## per run")), None)
    table = []
    for line in lines[start + 1 :] if start is not None else []:
        if "\t" not in line:
            break
        table.append(line)
    runs = list(csv.DictReader(table, delimiter="\t"))
    if not runs:  # a study cut before its runs.tsv
        return rows
    converged = sum(
        r["converged"] == "True"
        if "converged" in r
        else float(r["last_quarter_gain"]) < CONVERGENCE_GAIN
        for r in runs
    )
    gains = [float(r["last_quarter_gain"]) for r in runs]
    steps = [int(r["steps"]) for r in runs]
    rate = sum(float(r["tokens_per_second"]) for r in runs)
    rows += [
        row(
            "runs converged (the report's rule)",
            f"{converged} of {len(runs)}",
            target="all",
            met="yes" if converged == len(runs) else "NO",
            note=f"median last-quarter gain {statistics.median(gains):.1%}",
        ),
        row("steps a run", f"{min(steps):,}–{max(steps):,}", unit="steps", note=ended(runs)),
        row(f"aggregate train tok/s, {len(runs)} packed runs", f"{rate:,.0f}", unit="tok/s"),
    ]
    return rows


def benchmark_rows(lines: list[str]) -> list[dict]:
    """The figure lines of a benchmark table (those after its header line)."""
    rows, inside = [], False
    for line in lines:
        if line.startswith(printout.HEADER.rstrip()):
            inside = True
            continue
        found = printout.parse_row(line) if inside else None
        if found:
            rows.append(found)
    return rows


def run_table(lines: list[str]) -> list[dict]:
    """The runs of a pipeline run's printout: the space-aligned table after its 'variant' head."""
    start = next((i for i, line in enumerate(lines) if line.startswith("variant ")), None)
    if start is None:
        return []
    head = re.split(r"\s{2,}", lines[start].strip())
    return [dict(zip(head, line.split(), strict=False)) for line in lines[start + 1 :] if line]


def run_rows(lines: list[str]) -> list[dict]:
    """A timed ./run.sh: its wall time, each job's mean, and the baseline's test score (BLEU,
    or masked-token accuracy) at the largest budget (mean over its seeds)."""
    whole = next(filter(None, map(_WHOLE.match, lines)), None)
    if not whole:
        return []
    rows = [row(WHOLE_RUN, whole["wall"], unit="wall")]
    rows[-1]["note"] = f"exit status {whole['status']}"
    for match in filter(None, map(_JOB.match, lines)):
        rows.append(
            row(f"job {match['job']}", match["mean"], unit="s", note=f"mean of {match['n']}")
        )
        rows[-1]["indent"] = True
    runs = [
        r for r in run_table(lines) if r.get("variant") == BASELINE and r.get("match") == "none"
    ]
    size = runs[0].get("size") if runs else None  # the first size's (a table that has sizes)
    runs = [r for r in runs if r.get("size") == size]
    # the task's test score, as perf/run_times.py heads it: "test BLEU", "test accuracy"
    score = next((t for t in (TRANSLATION, MASKED) if runs and f"test {t.short}" in runs[0]), None)
    if score:
        top = max(int(r["budget"]) for r in runs)
        values = [float(r[f"test {score.short}"]) for r in runs if int(r["budget"]) == top]
        rows.append(
            row(
                f"{BASELINE} test {score.short} at {top:,} steps",
                f"{statistics.mean(values):.2f}",
                unit=SCORE_UNITS[score.name],
                note=(f"size {size}, " if size else "")
                + f"mean of {len(values)} seeds: "
                + ", ".join(f"{v:.2f}" for v in values),
            )
        )
    return rows


def cost(found: list[Measurement]) -> list[str]:
    """The README's line on what the default run costs and gives, from DEFAULT_RUN."""
    run = next(m for m in found if m.name == DEFAULT_RUN)
    bleu = next(r for r in run.rows if r["figure"].startswith(f"{BASELINE} test BLEU"))
    line = (
        f"Measured ([{run.name}](docs/performance/{run.name}), {run.machine}): {_wall(run)} "
        f"wall from an empty checkout; {bleu['figure']}: {bleu['ours']} ({bleu['note']})."
    )
    return textwrap.wrap(line, readme_answer.WIDTH, break_on_hyphens=False)


def _wall(run: Measurement) -> str:
    return next(r["ours"] for r in run.rows if r["figure"] == WHOLE_RUN)


def ended(runs: list[dict]) -> str:
    """What ended the runs, counted (runs.tsv's stopped_by; older tables lack it)."""
    if "stopped_by" not in runs[0]:
        return ""
    counts = collections.Counter(r["stopped_by"] for r in runs)
    return "stopped by " + ", ".join(f"{why}: {n}" for why, n in sorted(counts.items()))


def read(path: Path) -> Measurement:
    lines = path.read_text(encoding="utf-8").splitlines()
    # '# ' lines are notes written beside the printout ('## ' heads a section of it)
    notes = [line[2:].strip() for line in lines if line.startswith("# ")]
    dates = [_DATE.search(line) for line in lines if line.startswith(("# ", "date: "))]
    dated = [m[1] for m in dates if m]
    rows = benchmark_rows(lines) + packing_rows(lines) + study_rows(lines) + run_rows(lines)
    return Measurement(path.name, dated[0] if dated else "", machine(lines), notes, rows)


def measurements(folder: Path = FOLDER) -> list[Measurement]:
    """Every file with figures, newest first."""
    found = [read(path) for path in sorted(folder.glob("*.txt"))]
    found = [m for m in found if m.rows]
    return sorted(found, key=lambda m: m.date, reverse=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(measurement: Measurement) -> list[str]:
    link = f"[{measurement.name}]({measurement.name})"
    lines = [f"**{link}**, {measurement.date or 'undated'}: {measurement.machine}."]
    lines += ["", "> " + " ".join(measurement.notes)] if measurement.notes else []
    lines += [
        "",
        "| figure | ours | reference | unit | ratio | target | met | note |",
        "|---|---:|---:|---|---:|---|---|---|",
    ]
    marks = {"yes": "✓", "NO": "✗", "": ""}
    for r in measurement.rows:
        name = f"↳ {r['figure']}" if r["indent"] else r["figure"]
        cells = [name, r["ours"], r["reference"], r["unit"], r["ratio"], r["target"]]
        cells += [marks[r["met"]], r["note"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def tables(found: list[Measurement]) -> list[str]:
    lines = []
    for measurement in found:
        lines += [*table(measurement), ""]
    return lines


def main() -> None:
    found = measurements()
    page = readme_answer.fill(PAGE.read_text(encoding="utf-8"), BEGIN, END, tables(found))
    PAGE.write_text(page, encoding="utf-8")
    readme_path = ROOT / "README.md"
    readme = readme_answer.fill(
        readme_path.read_text(encoding="utf-8"), COST_BEGIN, COST_END, cost(found)
    )
    readme_path.write_text(readme, encoding="utf-8")
    print(f"docs/performance/README.md: {len(found)} tables; README: the default run's cost")


if __name__ == "__main__":
    main()
