"""The comparison table for papers: LaTeX (booktabs) and CSV, from the comparison frame that the
summary's Markdown is rendered from (comparison.py), so that the three never disagree; and the
report's tables as one HTML page, for reading them in the HTML report or any browser.

A difference is marked only where the summary calls one: a difference of the task's test
measure (BLEU, masked-token accuracy) whose t-test over paired seeds, Holm-corrected over the
comparisons at its size and budget, rejects Δ = 0 (the row's verdict). The second measure
(chrF, masked-token loss) and validation loss are shown with their intervals and never called.
"""

import pandas as pd

from attnablate.analysis.comparison import columns
from attnablate.analysis.verdict import Verdict
from attnablate.io import write_text
from attnablate.tasks import MASKED, TRANSLATION, task_of_table

MARK = r"$^{\dagger}$"  # the summary calls a difference of the test measure (the row's verdict)
# each task's caption: which way is better, and who scored the test set
CAPTIONS = {
    TRANSLATION.name: (
        "higher BLEU and chrF, lower validation loss in nats per token are better",
        "Test BLEU and chrF by sacrebleu; BLEU is the variant's mean over seeds.",
    ),
    MASKED.name: (
        "higher accuracy, lower masked-token and validation loss in nats per token are better",
        "Masked-token accuracy and loss on the test split's pieces masked from one fixed seed; "
        "accuracy is the variant's mean over seeds.",
    ),
}
UNCONVERGED = r"$^{\ddagger}$"  # some run of the cell had not converged at its budget


def _tex(text: str) -> str:
    """``text`` safe inside LaTeX (variant specs hold _ and @; labels hold parentheses)."""
    for char, escaped in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("#", r"\#"),
        ("$", r"\$"),
    ):
        text = text.replace(char, escaped)
    return text


def _delta(row: dict, mean: str, bounds: str, digits: int, called: bool) -> str:
    """Δ with its interval; the mark where the summary ``called`` a difference."""
    value, low, high = row[mean], row[f"{bounds}_low"], row[f"{bounds}_high"]
    if pd.isna(value):
        return "--"
    mark = r"^{\dagger}" if called else ""
    interval = "" if pd.isna(low) else f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return f"${value:+.{digits}f}{mark}${interval}"


def _millions(count) -> str:
    return "--" if pd.isna(count) else f"{count / 1e6:.2f}M"


def comparison_latex(frame: pd.DataFrame, experiment: str) -> str:
    """A booktabs table: one row per variant cell and size, Δ against qk with its interval."""
    task = task_of_table(frame.columns)
    m, short, second = task.measure, _tex(task.short), f"delta_{task.second}"
    better, scored = CAPTIONS[task.name]
    lines = [
        r"% Written by attn-ablate's report step from results/" + experiment + "/comparison.tsv;"
        r" needs \usepackage{booktabs}.",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{llrrrlll}",
        r"\toprule",
        rf"Size & Cell & Params & Seeds & {short} & $\Delta$ {short} "
        rf"& $\Delta$ {_tex(task.second_label)} & $\Delta$ valid loss \\",
        r"\midrule",
    ]
    any_unconverged = False
    for row in frame.to_dict("records"):
        converged = row["converged"] in (True, "True")
        any_unconverged |= not converged
        cell = r"\texttt{" + _tex(str(row["label"])) + "}" + ("" if converged else UNCONVERGED)
        bleu = "--" if pd.isna(row[m]) else f"{row[m]:.2f}"
        lines.append(
            f"{_tex(str(row['size']))} & {cell} & {_millions(row['params_total'])} "
            f"& {int(row['seeds'])} & {bleu} "
            f"& {_delta(row, f'delta_{m}', 'delta', 2, Verdict(row['verdict']).called)} "
            f"& {_delta(row, second, second, 2, False)} "
            f"& {_delta(row, 'delta_loss', 'delta_loss', 3, False)} \\\\"
        )
    caption = (
        r"Each attention variant against \texttt{qk} of the same size. $\Delta$ = variant "
        r"$-$ \texttt{qk}: the mean over paired seeds, with its 95\% $t$-interval over seeds "
        rf"in brackets ({better}). {MARK}: a {short} difference is called (its $t$-test, "
        r"Holm-corrected over the comparisons at that size and budget); without the mark none "
        rf"was detected at this number of seeds, and {_tex(task.second_label)} and "
        rf"loss are not tested. {scored}"
    )
    if any_unconverged:
        caption += rf" {UNCONVERGED}: a run of this cell had not converged at its budget."
    return "\n".join(
        [
            *lines,
            r"\bottomrule",
            r"\end{tabular}",
            rf"\caption{{{caption}}}",
            rf"\label{{tab:attn-ablate-{_tex(experiment)}}}",
            r"\end{table}",
            "",
        ]
    )


def write_tables(frame: pd.DataFrame, experiment: str, latex_path, csv_path) -> None:
    """The comparison frame as LaTeX and as CSV (every column of comparison.tsv)."""
    write_text(latex_path, comparison_latex(frame, experiment))
    write_text(
        csv_path,
        frame.to_csv(
            columns=[c for c in columns(task_of_table(frame.columns)) if c in frame.columns],
            index=False,
        ),
    )


def write_html_tables(tables: dict, experiment: str, path) -> None:
    """``tables`` (heading -> DataFrame) as one self-contained HTML page."""
    parts = [f"<h1>attn-ablate: tables of experiment {experiment}</h1>"]
    for heading, frame in tables.items():
        parts += [f"<h2>{heading}</h2>", frame.to_html(index=False, na_rep="", border=0)]
    write_text(path, html_page(f"attn-ablate: tables of {experiment}", "\n".join(parts)))


def html_page(title: str, body: str) -> str:
    """One self-contained HTML page of the report's (summary.html, tables.html)."""
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em;line-height:1.4}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
        "img{max-width:100%}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}'
        f"</title><style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )
