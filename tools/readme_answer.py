"""Copy the answer from the committed reports into the README, between its markers:

- answer: reports/default/summary.md's budget line, its answer over the training budget (or,
  from a report of one budget, its claims table) and its mechanism, as written, figures left
  out (the README shows the ladder's figure itself);
- sides: each claim's estimate and verdict in every report of REPORTS side by side, each
  column labelled with where it ran, and each report's first line (its budget or convergence);
- controls: reports/controls/summary.md's first line and its section on the controls.

    .venv/bin/python tools/readme_answer.py      # after a run has regenerated a report

Nothing in these sections is written by hand; tests/test_style.py checks that they are what
this script makes of the committed reports.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- answer:begin -->", "<!-- answer:end -->"
SIDES_BEGIN, SIDES_END = "<!-- sides:begin -->", "<!-- sides:end -->"
CONTROLS_BEGIN, CONTROLS_END = "<!-- controls:begin -->", "<!-- controls:end -->"
CONTROLS_REPORT, CONTROLS_SECTION = "controls", "## The controls"  # configs/controls.yaml's
SECTIONS = ("## The claims, point by point", "## The mechanism")
LADDER = "## The answer over the training budget"  # taken instead of the claims where present
# The reports shown side by side: experiment, and where its committed report was made (the
# machine is not in the report itself; docs/performance holds each run's raw output).
REPORTS = (
    ("default", "laptop: 2-core CPU, `config.yaml`, at its largest budget"),
    ("gpu", "one GPU: NVIDIA H200, `configs/gpu.yaml` as first run (dropout 0.3, 4 min)"),
)


def answer(summary: str) -> list[str]:
    """The first paragraph after the title, then the bodies of the sections named in
    SECTIONS, a ladder's answer over the budget replacing its claims (their headings are the
    summary's, not the README's), without their figures."""
    blocks = summary.split("\n## ")
    lines = [first_line(summary), ""]
    wanted = (LADDER, SECTIONS[1]) if f"\n{LADDER}\n" in summary else SECTIONS
    for block in blocks[1:]:
        heading, _, body = block.partition("\n")
        if f"## {heading}" in wanted:
            kept = [line for line in body.strip("\n").splitlines() if not line.startswith("![")]
            lines += [*"\n".join(kept).strip("\n").splitlines(), ""]
    return lines


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
    if SECTIONS[0] not in summary:
        return {}
    section = summary.split(SECTIONS[0])[1].split("\n## ")[0]
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
    for name, label in REPORTS:
        lines += [
            "",
            f"*{label}* ([report](reports/{name}/summary.md)): {first_line(summaries[name])}",
        ]
    return lines


def controls(summary: str) -> list[str]:
    """The controls report's first line and its section on the controls, as written."""
    section = summary.split(f"\n{CONTROLS_SECTION}\n")[1].split("\n## ")[0]
    return [first_line(summary), "", *section.strip("\n").splitlines()]


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
    found = summaries()
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    readme = fill(readme, BEGIN, END, answer(found["default"]))
    readme = fill(readme, SIDES_BEGIN, SIDES_END, sides(found))
    made = ROOT / "reports" / CONTROLS_REPORT / "summary.md"
    readme = fill(readme, CONTROLS_BEGIN, CONTROLS_END, controls(made.read_text(encoding="utf-8")))
    readme_path.write_text(readme, encoding="utf-8")
    print(f"README: answer and sides from {', '.join(f'reports/{n}' for n, _ in REPORTS)}")


if __name__ == "__main__":
    main()
