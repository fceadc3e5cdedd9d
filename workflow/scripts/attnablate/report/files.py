"""Where an experiment's tables and report live: ``results/<experiment>/`` and
``reports/<experiment>/``. The workflow's rules name the same files (workflow/rules/report.smk);
attnablate.steps checks that they agree."""

from dataclasses import dataclass, fields
from pathlib import Path

from attnablate.report.outputs import FIGURES


@dataclass(frozen=True)
class Tables:
    """results/<experiment>/: the aggregate step's tables, the claims step's and the report
    step's."""

    runs: Path  # a row per run
    curves: Path  # every run's validations
    stable: Path  # a ladder's stable runs' validations (the peak rate, not annealed)
    dynamics: Path  # every run's attention diagnostics
    significance: Path  # every paired test against the baseline, Holm-corrected
    comparison: Path  # a row per variant, size and budget: the verdict over seeds
    scaling: Path  # the power-law fits (the report step's)
    claims: Path  # each claim at each budget (the claims step's)
    replication: Path  # each claim beside the replicated report's (the claims step's)
    carries: Path  # each claim's verdict beside another family's report's (the claims step's)

    @classmethod
    def of(cls, folder) -> "Tables":
        return cls(**{f.name: Path(folder) / f"{f.name}.tsv" for f in fields(cls)})


@dataclass(frozen=True)
class ReportFiles:
    """reports/<experiment>/: the figures, the summary as Markdown and as HTML, the tables as
    HTML, LaTeX and CSV, the claims table as CSV (what another family's experiment sets its
    verdicts beside), and the config the report was made from."""

    figures: dict  # name (outputs.FIGURES) -> its .png
    summary: Path
    summary_html: Path
    tables_html: Path
    latex: Path
    csv: Path
    claims: Path
    config: Path

    @classmethod
    def of(cls, folder) -> "ReportFiles":
        folder = Path(folder)
        return cls(
            figures={name: folder / f"{name}.png" for name in FIGURES},
            summary=folder / "summary.md",
            summary_html=folder / "summary.html",
            tables_html=folder / "tables.html",
            latex=folder / "comparison.tex",
            csv=folder / "comparison.csv",
            claims=folder / "claims.csv",
            config=folder / "config.yaml",
        )


def reference_folders(config: dict) -> list[str]:
    """The other experiments' report folders that claims compare with, the one this
    experiment replicates and the other family's it ``carries`` to, each once."""
    claims = config.get("claims", [])
    folders = [c["reference"]["report"] for c in claims if "reference" in c]
    folders += [config[key]["report"] for key in ("replicates", "carries") if key in config]
    return list(dict.fromkeys(folders))


def reference_inputs(config: dict) -> list[Path]:
    """What the claims step reads of those reports: each one's comparison table and config,
    and the claims table of the report the experiment ``carries`` to."""
    reports = [ReportFiles.of(folder) for folder in reference_folders(config)]
    paths = [path for files in reports for path in (files.csv, files.config)]
    if "carries" in config:
        paths.append(ReportFiles.of(config["carries"]["report"]).claims)
    return paths
