"""Text from a config or a corpus (a claim, a corpus's name), made literal for the report's
Markdown and so for its HTML: no value from input becomes markup, and none breaks a table."""

import html
import re

# what can open inline Markdown inside a line, a table cell included ("|" ends a cell)
INLINE = re.compile(r"([\\`*_\[\]|])")


def text(value) -> str:
    """``value`` as literal text: one line, ``& < >`` as HTML entities (Markdown passes raw
    HTML through), inline Markdown punctuation escaped with a backslash."""
    one_line = " ".join(str(value).split())
    return INLINE.sub(r"\\\1", html.escape(one_line, quote=False))


def counted(n: int, noun: str) -> str:
    """``n`` and its noun in agreement: "1 claim", "3 claims", "no claims"."""
    n = int(n)
    return f"{n or 'no'} {noun}{'' if n == 1 else 's'}"


def table_cells(line: str) -> list[str]:
    """The cells of one row of a report's Markdown table, stripped (a bar escaped by ``text``,
    ``\\|``, stays in its cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def times(multiple: float) -> str:
    """A worth in qk parameters as a multiple of a cell's own: 0 and infinity are past the
    range a scaling law is read at (scaling.read_span)."""
    if multiple == 0:
        return "below the law's range"
    if multiple == float("inf"):
        return "above the law's range"
    return f"{multiple:.2f}×"
