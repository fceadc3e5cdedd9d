"""Copy the answer from the committed reports into the README, between its sides markers:
each claim's estimate and verdict in every report of REPORTS side by side, each column
labelled with where it ran, then per report how its verdicts fall and its first line (its
budget or convergence).

    .venv/bin/python tools/readme_answer.py      # after a run has regenerated a report

Nothing between the markers is written by hand; tests/test_style.py checks that it is what
this script makes of the committed reports.
"""

import re
import sys
import textwrap
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from attnablate.report.verdict import Verdict  # noqa: E402

SIDES_BEGIN, SIDES_END = "<!-- sides:begin -->", "<!-- sides:end -->"
CLAIMS_SECTION = "## The claims, point by point"
WIDTH = 100  # the README's prose is wrapped here; its tables cannot be
# The reports shown side by side: experiment, and where its committed report was made (the
# machine is not in the report itself; docs/performance holds each run's raw output).
REPORTS = (
    ("default", "laptop: 2-core CPU, `config.yaml`, at its largest budget"),
    ("gpu", "one GPU: NVIDIA H200, an earlier `configs/gpu.yaml`"),
    (
        "decoder-only",
        "laptop: 2-core CPU, decoder-only, `configs/decoder-only.yaml`, at its largest budget",
    ),
)
# the outcomes a claim's cell can open with, in the order the tally gives them
OUTCOMES = (
    Verdict.REPLICATED,
    Verdict.OPPOSITE,
    Verdict.OUTSIDE,
    Verdict.UNRESOLVED,
    Verdict.UNTESTABLE,
)
SAID = {Verdict.OUTSIDE: "outside "}  # the summary says "outside ±1 BLEU at 1,000 steps: ..."


PROVENANCE = "Made by the pipeline from `config.yaml`"  # how a summary names its config
# the estimate's column in a claims table, as the summary heads it (an older report's first)
ESTIMATES = ("estimate (95% interval)", "Δ BLEU (95% interval)")


def first_line(summary: str) -> str:
    """The summary's first paragraph after its provenance: its budget or convergence."""
    paragraphs = summary.split("\n## ")[0].split("\n\n")[1:]
    return next(p for p in paragraphs if not p.startswith(PROVENANCE)).strip()


def claim_cells(summary: str) -> dict[str, str]:
    """claim -> "estimate (95% interval): verdict", from the summary's claims table (none in
    an experiment without claims)."""
    if CLAIMS_SECTION not in summary:
        return {}
    section = summary.split(CLAIMS_SECTION)[1].split("\n## ")[0]
    cells = {}
    table = [line for line in section.strip().splitlines() if line.startswith("|")]
    split = lambda line: [f.strip() for f in re.split(r"(?<!\\)\|", line)[1:-1]]  # noqa: E731
    header = split(table[0])
    estimate = next(header.index(name) for name in ESTIMATES if name in header)
    for line in table[2:]:  # after the header and its rule
        fields = split(line)
        claim, value, verdict = fields[0], fields[estimate], fields[-1]
        cells[claim] = f"{value}: {verdict}" if value else verdict
    return cells


def column_label(label: str, summary: str) -> str:
    """A report's column heading: where it ran, whether its runs converged, and whether its
    claims were tested as they are now (a report that names its config was)."""
    marks = []
    if "**Not converged" in first_line(summary):
        marks.append("**not converged**")
    if PROVENANCE not in summary:
        marks.append("verdicts by the earlier tests (Δ against qk only, ±1 BLEU, no Holm)")
    return label + "".join(f"; {mark}" for mark in marks)


def sides(summaries: dict[str, str]) -> list[str]:
    """Every claim's estimate and verdict in each report, side by side, then each report's
    first line under the label of where it ran."""
    columns = [
        (column_label(label, summaries[name]), claim_cells(summaries[name]))
        for name, label in REPORTS
    ]
    claims = list(dict.fromkeys(claim for _, cells in columns for claim in cells))
    lines = [
        "| claim | "
        + " | ".join(f"{label}: estimate (95% interval), verdict" for label, _ in columns)
        + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for claim in claims:
        lines.append(
            f"| {claim} | "
            + " | ".join(c.get(claim, "not in this report") for _, c in columns)
            + " |"
        )
    for (name, label), (_, cells) in zip(REPORTS, columns, strict=True):
        paragraph = (
            f"*{label}* ([report](reports/{name}/summary.md)): {tally(cells)} "
            f"{first_line(summaries[name])}"
        )
        lines += ["", *textwrap.wrap(paragraph, WIDTH, break_on_hyphens=False)]
    return lines


def tally(cells: dict[str, str]) -> str:
    """How the claims of one report fall, counted by the outcome their verdict opens with."""
    counts = Counter(outcome(cell) for cell in cells.values())
    told = [f"{counts[o]} {o}" for o in OUTCOMES if counts[o]]
    return f"{len(cells)} claims: {', '.join(told)}." if cells else "no claims."


def outcome(cell: str) -> str:
    """The outcome a claim's cell gives: its verdict's first words, after any estimate."""
    for text in (cell, cell.partition(": ")[2]):
        found = next((o for o in OUTCOMES if text.startswith(SAID.get(o, o))), None)
        if found:
            return found
    return "other"


def fill(readme: str, begin: str, end: str, lines: list[str]) -> str:
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    body = "\n".join(lines).strip("\n")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def summaries(root: Path = ROOT) -> dict[str, str]:
    return {
        name: (root / "reports" / name / "summary.md").read_text(encoding="utf-8")
        for name, _ in REPORTS
    }


def main() -> None:
    readme_path = ROOT / "README.md"
    readme = fill(
        readme_path.read_text(encoding="utf-8"), SIDES_BEGIN, SIDES_END, sides(summaries())
    )
    readme_path.write_text(readme, encoding="utf-8")
    print(f"README: the claims of {', '.join(f'reports/{n}' for n, _ in REPORTS)}")


if __name__ == "__main__":
    main()
