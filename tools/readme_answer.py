"""Copy the answer from the committed reports into the README, between its sides markers:
the main answer (COURSE) per claim over its ladder of budgets; then one row per claim, one
short cell per report of REPORTS (its estimate, interval and one word of a legend, marked
where the runs had not converged), the legend, then per report where it ran and how its
claims fell. The reasons stay in the reports.

    .venv/bin/python tools/readme_answer.py      # after a run has regenerated a report

Nothing between the markers is written by hand; tests/test_style.py checks that it is what
this script makes of the committed reports.
"""

import re
import sys
import textwrap
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from attnablate.analysis.verdict import Verdict  # noqa: E402
from attnablate.report.markup import counted, table_cells  # noqa: E402
from attnablate.tasks import MASKED, TRANSLATION  # noqa: E402

SIDES_BEGIN, SIDES_END = "<!-- sides:begin -->", "<!-- sides:end -->"
CLAIMS_SECTION = "## The claims, point by point"
WIDTH = 100  # the README's prose is wrapped here; its tables cannot be
ROW_LIMIT = 220  # characters in one row of the README's table: read at a glance, not scrolled
# The reports shown side by side, each once its summary is committed: experiment, a short
# column label, and where and how its committed report was made (the machine is not in the
# report itself; docs/performance holds each run's raw output).
REPORTS = (
    ("default", "enc-dec, CPU", "2-core CPU, `config.yaml`, at its largest budget"),
    ("gpu", "enc-dec, GPU, earlier tests", "one H200, an earlier `configs/gpu.yaml`, no Holm"),
    (
        "decoder-only",
        "decoder-only, CPU",
        "2-core CPU, `configs/decoder-only.yaml`, largest budget",
    ),
    (
        "encoder-only",
        "encoder-only, CPU",
        "2-core CPU, `configs/encoder-only.yaml`, largest budget",
    ),
)
# The main answer, shown first over its whole ladder of budgets (its summary's budget table),
# once committed: experiment, and what ran, in words
COURSE = ("long", "the encoder-decoder trained on the CPU, `configs/long.yaml`")
BUDGETS_SECTION = "## The answer over the training budget"
BUDGET = re.compile(r"([\d,]+) steps")  # a budget's column in that table
CROSSED = re.compile(r"on the other side of zero from ([\d,]+) steps")  # the interval's sign
# a budget's cell worded verdict first: "opposite at 500 steps (…): `qq@enc` better by 2.46 (…)"
BY = re.compile(r"(better|worse)(?: than `[^`]+`)? by ([\d.]+) \(")
TURNED = re.compile(r"changes sign by (.+?) steps in (\d+ of \d+) seeds")  # the seeds' signs
# The same claims on other language pairs of the same corpus and recipe, side by side: the
# first is the report the others replicate (their summaries' "Beside" section); a pair shows
# once its report is committed.
PAIRS = (("default", "de→en"), ("fr-en", "fr→en"), ("es-en", "es→en"))
# A replication's verdict at its largest budget, in one word of the pairs' legend
SAME = {Verdict.REPLICATED: "same", Verdict.OUTSIDE: "differs", Verdict.UNRESOLVED: "open"}
MARGIN = re.compile(r"within ±([\d.]+) BLEU by two one-sided tests")  # a replication's own words
SAID = {Verdict.OUTSIDE: "outside "}  # the summary says "outside ±1 BLEU at 1,000 steps: ..."
# The README's one word per outcome a claim's cell can open with (an earlier report's
# "contradicted" is its own word), in the order the tally gives them
WORDS = {
    Verdict.REPLICATED: "supported",
    Verdict.OPPOSITE: "contradicted",
    Verdict.OUTSIDE: "contradicted",
    "contradicted": "contradicted",
    Verdict.UNRESOLVED: "unresolved",
    Verdict.UNTESTABLE: "untestable",
}
# A measure a claims table names ("Δ BLEU vs qk < 0"; "Δ BLEU (95% interval)"), in words
MEASURES = {TRANSLATION.short: "test BLEU", MASKED.short: "masked-token accuracy points"}
MEASURE = re.compile(rf"Δ ({'|'.join(MEASURES)})\b")
CARRIES_SECTION = "## Does it carry to another family? Beside "  # a summary's, as it heads it
# Whether a conclusion carries (the summary's words) -> the README's, in the order it tells them
CARRIES = {"carries": "carry", "does not carry": "do not", "not decided": "undecided"}
# The claims at several widths of one recipe, once its report is committed: experiment
WIDTHS = "sizes"
AT_SIZE = re.compile(r"`[^`]+` at `([^`]+)`$")  # a claims table's cell: "`qq@enc` at `tiny`"
UNCONVERGED = "†"  # marks a cell whose runs had not converged
MISSING = "–"  # a claim a report does not test


PROVENANCE = "Made by the pipeline from `config.yaml`"  # how a summary names its config
# the estimate's column in a claims table, as the summary heads it (an older report's first)
ESTIMATES = ("estimate (95% interval)", "Δ BLEU (95% interval)")


def first_line(summary: str) -> str:
    """The summary's first paragraph after its provenance: its budget or convergence."""
    paragraphs = summary.split("\n## ")[0].split("\n\n")[1:]
    return next(p for p in paragraphs if not p.startswith(PROVENANCE)).strip()


def at_largest_budget(rows: list[list[str]], column: int) -> list[list[str]]:
    """The table ``rows`` (their cells) whose budget, in ``column``, is the largest."""
    budget = lambda row: int(row[column].replace(",", ""))  # noqa: E731
    top = max(map(budget, rows), default=None)
    return [row for row in rows if budget(row) == top]


def claim_rows(summary: str) -> list[tuple[list[str], str]]:
    """Each row of the summary's claims table (none in an experiment without claims): its
    cells, and "estimate (95% interval): verdict"."""
    if CLAIMS_SECTION not in summary:
        return []
    section = summary.split(CLAIMS_SECTION)[1].split("\n## ")[0]
    table = [line for line in section.strip().splitlines() if line.startswith("|")]
    header = table_cells(table[0])
    estimate = next(header.index(name) for name in ESTIMATES if name in header)
    rows = []
    for fields in map(table_cells, table[2:]):  # after the header and its rule
        value, verdict = fields[estimate], fields[-1]
        rows.append((fields, f"{value}: {verdict}" if value else verdict))
    return rows


def claim_cells(summary: str) -> dict[str, str]:
    """claim -> "estimate (95% interval): verdict", from the summary's claims table."""
    return {fields[0]: cell for fields, cell in claim_rows(summary)}


def converged(summary: str) -> bool:
    """Whether a report's runs converged, as its first line says."""
    return "**Not converged" not in first_line(summary)


def short_cell(cell: str, report_converged: bool) -> str:
    """A claim's cell as the README shows it: the estimate and its interval (a Δ, or a worth
    in qk parameters), one word of the legend, and the mark of runs that had not converged."""
    head, _, rest = cell.partition(": ")
    value, verdict = (head, rest) if rest and outcome(head) == "other" else ("", cell)
    word = WORDS.get(outcome(verdict), outcome(verdict))
    trained = word != "untestable"  # an untestable claim rests on no run's quality
    unsettled = not report_converged or "not converged" in verdict
    mark = UNCONVERGED if trained and unsettled else ""
    return " ".join(part for part in (value, f"{word}{mark}") if part)


def estimate(cell: str) -> str:
    """Δ in a budget's cell, signed: its leading estimate, or the size its verdict gives it."""
    if cell[:1] in "+-":
        return cell.split(" ")[0]
    found = BY.search(cell)
    return f"{'+' if found[1] == 'better' else '-'}{found[2]}" if found else MISSING


def course(summaries: dict[str, str]) -> list[str]:
    """The main answer (COURSE's report), once committed: per claim, its Δ at every budget of
    the ladder, its cell at the largest, where the interval and the seeds change sign, and
    whether it has settled, from its summary's budget table; then the legend."""
    name, what = COURSE
    if name not in summaries:
        return []
    summary = summaries[name]
    section = summary.split(BUDGETS_SECTION)[1].split("\n## ")[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    header = table_cells(table[0])
    budgets = [i for i, h in enumerate(header) if BUDGET.fullmatch(h)]
    sign = next(i for i, h in enumerate(header) if h.startswith("sign of"))
    ladder = ", ".join(BUDGET.fullmatch(header[i])[1] for i in budgets)
    cells, done = claim_cells(summary), converged(summary)
    lines = [
        f"| claim | Δ at {ladder} steps | at {header[budgets[-1]]} | interval across zero "
        "| seeds whose Δ turned | settled? |",
        "|---" * 6 + "|",
    ]
    for row in map(table_cells, table[2:]):  # after the header and its rule
        steps = [estimate(row[i]) for i in budgets]
        interval, judged, per_seed = row[sign].partition("; seed by seed: ")
        crossed, turned = CROSSED.match(interval), TURNED.match(per_seed)
        across = f"from {crossed[1]}" if crossed else "no" if judged else MISSING
        seeds = f"{turned[2]} ({turned[1].replace(' to ', '–')})" if turned else "none"
        seeds = seeds if judged else MISSING  # "—": a claim the ladder does not judge
        settled = row[-1].partition(":")[0]
        largest = short_cell(cells[row[0]], done)
        lines.append(
            f"| {row[0]} | {' → '.join(steps)} | {largest} | {across} | {seeds} | {settled} |"
        )
    lead = (
        f"The main answer, {what} ([its report](reports/{name}/summary.md)): each claim's Δ "
        "over the ladder of training budgets, each cooled down from one run at the peak rate:"
    )
    legend = (
        "*interval across zero*: the first budget whose 95% interval of Δ (uncorrected) lies "
        "wholly on the "
        f"other side of zero from Δ at {header[budgets[0]]}; *seeds whose Δ turned*: how many "
        "seeds' own Δ changes sign, and by which budgets; *settled?*: whether Δ(B) − Δ(B/2) at "
        "the largest budget lies within the claim's margin by two one-sided tests (Holm over "
        "the claims), else still moving. The verdict words and † as in the legend below."
    )
    return [
        *textwrap.wrap(lead, WIDTH, break_on_hyphens=False),
        "",
        *lines,
        "",
        *textwrap.wrap(legend, WIDTH, break_on_hyphens=False),
    ]


def sides(summaries: dict[str, str]) -> list[str]:
    """One row per claim with a short cell per committed report of REPORTS (estimate,
    interval, one word of the legend), a row of whether the conclusions carry where a report
    sets itself beside another family's, the legend, then per report a line: where it ran, its
    measure and how its claims fell."""
    shown = [report for report in REPORTS if report[0] in summaries]
    columns = [
        (short, claim_cells(summaries[name]), converged(summaries[name]))
        for name, short, _ in shown
    ]
    claims = list(dict.fromkeys(claim for _, cells, _ in columns for claim in cells))
    lines = [
        "| claim (Δ, 95% interval) | " + " | ".join(s for s, _, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for claim in claims:
        cells = [short_cell(c[claim], done) if claim in c else MISSING for _, c, done in columns]
        lines.append(f"| {claim} | " + " | ".join(cells) + " |")
    carry = carries_rows(summaries, shown)
    lines += carry
    legend = (
        "*supported*: the claim's own test rejects after Holm's correction over its family; "
        "*contradicted*: the test of the other side (or of the margin) does; *unresolved*: "
        "neither, at these seeds; *untestable*: the experiment cannot test it (one model size); "
        f"{UNCONVERGED} the runs had not converged; {MISSING} not in that report."
    )
    if carry:
        legend += (
            " Whether the conclusions carry, per claim: *carry*, both families decide it alike "
            "(each in its own measure); *do not*, one supports what the other contradicts; "
            "*undecided*, either leaves it unresolved or cannot test it."
        )
    lines += ["", *textwrap.wrap(legend, WIDTH, break_on_hyphens=False), ""]
    for (name, short, where), (_, cells, _) in zip(shown, columns, strict=True):
        measure = f"Δ in {measure_of(summaries[name])}"
        lines.append(f"- [{short}](reports/{name}/summary.md): {where}, {measure}; {tally(cells)}")
    main = course(summaries)
    if main:  # the reports' table follows the main answer, introduced as such
        beside = (
            "The same claims beside the other families and the earlier GPU run, each report at "
            "its largest budget:"
        )
        main += ["", *textwrap.wrap(beside, WIDTH, break_on_hyphens=False), ""]
    return main + lines + pairs(summaries) + widths(summaries)


def measure_of(summary: str) -> str:
    """The measure a report's claims are judged in, as its claims table's tests name it."""
    found = MEASURE.search(summary.split(CLAIMS_SECTION)[-1].split("\n## ")[0])
    return MEASURES[found[1]] if found else "its claims' measures"


def carried(summary: str) -> tuple[str, Counter] | None:
    """The report a summary sets its claims beside (its "Does it carry" section) and how the
    conclusions fell at the largest budget both ran, counted by outcome; None without one."""
    _, _, section = summary.partition(CARRIES_SECTION)
    if not section:
        return None
    beside = section.split("`")[1]
    lines = [line for line in section.split("\n## ")[0].splitlines() if line.startswith("| ")]
    rows = [table_cells(line) for line in lines[1:]]  # no header
    return beside, Counter(row[-1] for row in at_largest_budget(rows, 1))


def carries_rows(summaries: dict[str, str], shown: list) -> list[str]:
    """Per other family's report that a shown report sets itself beside, a row: for each
    report that does, how many of its claims carry (decided alike by both families, each in
    its own measure), do not carry, or are undecided there; marked where its runs had not
    converged."""
    found = [carried(summaries[name]) for name, _, _ in shown]
    done = [converged(summaries[name]) for name, _, _ in shown]
    rows = []
    for beside in dict.fromkeys(f[0] for f in found if f):
        label = next((short for name, short, _ in REPORTS if beside == f"reports/{name}"), beside)
        cells = [
            carries_cell(f[1]) + ("" if ok else UNCONVERGED) if f and f[0] == beside else MISSING
            for f, ok in zip(found, done, strict=True)
        ]
        rows.append(
            f"| the conclusions carry: verdicts as in {label} | " + " | ".join(cells) + " |"
        )
    return rows


def carries_cell(outcomes: Counter) -> str:
    """How one report's claims fell beside another family's: "1 of 5 carry, 4 undecided"."""
    told = [(outcomes[o], word) for o, word in CARRIES.items() if outcomes[o]]
    total = sum(outcomes.values())
    return ", ".join(
        f"{n} of {total} {word}" if i == 0 else f"{n} {word}" for i, (n, word) in enumerate(told)
    )


def replication_words(summary: str) -> dict[str, str]:
    """claim -> one word of SAME for the summary's replication of another report, at its
    largest budget (nothing where the summary replicates no report)."""
    section = next((part for part in summary.split("\n## ")[1:] if part.startswith("Beside `")), "")
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    rows = [table_cells(line) for line in lines[1:]]  # no header
    return {
        row[0]: next(w for v, w in SAME.items() if row[-1].startswith(v))
        for row in at_largest_budget(rows, 2)
    }


def pairs(summaries: dict[str, str]) -> list[str]:
    """The claims on every language pair whose report is in ``summaries`` (PAIRS): one short
    cell per pair, the replicating pairs' cells followed by their replication's word; nothing
    while only one pair has a report."""
    shown = [(name, label) for name, label in PAIRS if name in summaries]
    if len(shown) < 2:
        return []
    # per pair, read once: its claims' cells, its replication's words, its convergence
    read = [
        (claim_cells(summaries[n]), replication_words(summaries[n]), converged(summaries[n]))
        for n, _ in shown
    ]
    lines = [
        "| claim, on each pair | " + " | ".join(label for _, label in shown) + " |",
        "|---" * (len(shown) + 1) + "|",
    ]
    for claim in read[0][0]:
        cells = []
        for cells_of, words, done in read:
            short = short_cell(cells_of[claim], done) if claim in cells_of else MISSING
            cells.append(f"{short}, {words[claim]}" if claim in words else short)
        lines.append(f"| {claim} | " + " | ".join(cells) + " |")
    margins = [MARGIN.search(summaries[name]) for name, _ in shown[1:]]
    margin = " or ".join(dict.fromkeys(f"±{m[1]}" for m in margins if m)) or "a margin"
    lead = "The same recipe and claims on other pairs of the same verses:"
    legend = (
        f"After a pair's cell (a claim against qk): *same*, its Δ lies within {margin} BLEU of "
        f"{shown[0][1]}'s (two one-sided tests, Holm over the claims); *differs*, shown outside "
        "that margin; *open*, neither."
    )
    return ["", lead, "", *lines, "", *textwrap.wrap(legend, WIDTH, break_on_hyphens=False)]


def widths(summaries: dict[str, str], root: Path = ROOT) -> list[str]:
    """The claims at each width of WIDTHS' report, at its largest budget: one row per claim,
    one short cell per width (d_model, from the config beside the report); nothing until it
    is committed."""
    if WIDTHS not in summaries:
        return []
    summary = summaries[WIDTHS]
    config = yaml.safe_load((root / "reports" / WIDTHS / "config.yaml").read_text())
    width = {name: f"d{size['d_model']}" for name, size in config["sizes"].items()}
    budget = summary.split(CLAIMS_SECTION)[1].partition(", ")[2].partition("\n")[0]
    rows: dict[str, dict[str, str]] = {}
    for fields, cell in claim_rows(summary):
        sizes = AT_SIZE.search(fields[1])[1].split(", ")  # an untestable claim names them all
        rows.setdefault(fields[0], {}).update(dict.fromkeys(sizes, cell))
    done = converged(summary)
    lines = [
        "| claim, at each width | " + " | ".join(width.values()) + " |",
        "|---" * (len(width) + 1) + "|",
    ]
    for claim, cells in rows.items():
        shown = [short_cell(cells[n], done) if n in cells else MISSING for n in width]
        lines.append(f"| {claim} | " + " | ".join(shown) + " |")
    lead = (
        f"The same recipe and claims at {len(width)} widths ([its report](reports/{WIDTHS}/"
        f"summary.md), `configs/{WIDTHS}.yaml`, each width at its own peak rate), at {budget}; "
        "quality per weight as the worth of a cell's runs in qk parameters, a multiple of its "
        "own count:"
    )
    return ["", *textwrap.wrap(lead, WIDTH, break_on_hyphens=False), "", *lines]


def tally(cells: dict[str, str]) -> str:
    """How the claims of one report fall, counted by the legend's word for their outcome."""
    counts = Counter(WORDS.get(outcome(cell), "other") for cell in cells.values())
    words = [*dict.fromkeys(WORDS.values()), "other"]  # other: a verdict the legend lacks
    told = [f"{counts[w]} {w}" for w in words if counts[w]]
    return f"{counted(len(cells), 'claim')}: {', '.join(told)}." if cells else "no claims."


def outcome(cell: str) -> str:
    """The outcome a claim's cell gives: its verdict's first words, after any estimate."""
    for text in (cell, cell.partition(": ")[2]):
        found = next((o for o in WORDS if text.startswith(SAID.get(o, o))), None)
        if found:
            return found
    return "other"


def fill(readme: str, begin: str, end: str, lines: list[str]) -> str:
    head, rest = readme.split(begin)
    _, tail = rest.split(end)
    body = "\n".join(lines).strip("\n")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def shown() -> list[str]:
    """The experiments whose reports the README shows: COURSE's, REPORTS', PAIRS', WIDTHS'."""
    names = [COURSE[0], *(name for name, _, _ in REPORTS), *(name for name, _ in PAIRS), WIDTHS]
    return list(dict.fromkeys(names))


def summaries(root: Path = ROOT) -> dict[str, str]:
    """Every committed summary the README shows (``shown``), as the working tree has it."""
    found = {name: root / "reports" / name / "summary.md" for name in shown()}
    return {
        name: path.read_text(encoding="utf-8") for name, path in found.items() if path.is_file()
    }


def main() -> None:
    readme_path = ROOT / "README.md"
    found = summaries()
    readme = fill(readme_path.read_text(encoding="utf-8"), SIDES_BEGIN, SIDES_END, sides(found))
    readme_path.write_text(readme, encoding="utf-8")
    print(f"README: the claims of {', '.join(f'reports/{n}' for n in found)}")


if __name__ == "__main__":
    main()
