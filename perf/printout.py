"""One line of the benchmark's printed table, written and read back.

The printed table is what docs/performance keeps of every run (the JSON stays with the run), so
tools/perf_tables.py reads docs/performance's tables back from these lines. Both directions live
here so that the layout has one home:

    figure (44, left)  ours (12, right)  reference (12, right)  unit (9)  ratio (7, right)
    target (8)  met (4: yes, NO or blank)  note
"""

import re

HEADER = (
    f"{'figure':<44} {'ours':>12} {'reference':>12} {'unit':<9} {'ratio':>7} "
    f"{'target':<8} {'met':<4} note"
)
MARKS = {True: "yes", False: "NO", None: ""}

# A number as number() prints it (a saving may be negative), or "-" for none.
_NUMBER = r"-|-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?"
# The figure's name may hold numbers itself ("ladder 1.1"): the unit after the two numbers (9
# characters, letters only) is what anchors them. Columns are padded with spaces, never tabs
# (a tab-separated table beside the printout is not a figure).
_ROW = re.compile(
    rf"^(?P<figure> *[^ \t][^\t]*?) +(?P<ours>{_NUMBER}) +(?P<reference>{_NUMBER}) "
    r"(?P<unit>[A-Za-z/ ]{9}) (?P<ratio>[ \d.x+e-]{7}) (?P<target>.{8}) (?P<met>yes |NO  |    )"
    r"(?: (?P<note>.*))?$"
)


def number(value) -> str:
    """A figure's value as the table shows it: three significant digits below 10, whole
    numbers with thousands separators above."""
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) < 10:
        return f"{value:.3g}"
    return f"{value:,.0f}"


def ratio_text(ratio) -> str:
    """A figure's ratio as its 7-character column shows it: two decimals, fewer digits where
    it is large (a time saving measured under load can be a hundred times its FLOP share)."""
    if ratio is None:
        return ""
    texts = (f"{ratio:.2f}x", f"{ratio:.0f}x", f"{ratio:.0e}x")
    return next((text for text in texts if len(text) <= 7), texts[-1])


def machine_line(info: dict) -> str:
    """The printout's machine line (measures.machine's fields), as perf_tables reads it."""
    return " | ".join(f"{k}: {v}" for k, v in info.items())


def format_row(figure: dict) -> str:
    """The printed line of one figure (the benchmark's Report.add fields)."""
    ratio = ratio_text(figure.get("ratio"))
    return (
        f"{figure['figure']:<44} {number(figure['ours']):>12} {number(figure['reference']):>12} "
        f"{figure['unit']:<9} {ratio:>7} {figure.get('target') or '':<8} "
        f"{MARKS[figure.get('holds')]:<4} {figure.get('note', '')}"
    ).rstrip()


def parse_row(line: str) -> dict | None:
    """The fields of a printed figure line, as printed (strings, stripped; ``indent``: a
    sub-figure of the line above), or None for any other line."""
    padded = line.rstrip("\n").ljust(len(HEADER) + 40)  # printed lines lose trailing blanks
    match = _ROW.match(padded)
    if not match:
        return None
    fields = {key: (value or "").strip() for key, value in match.groupdict().items()}
    fields["indent"] = match["figure"].startswith(" ")
    return fields
