"""Another experiment's committed report that a claim compares its Δ with (``reference``), or
that the experiment replicates (``replicates``), checked before anything runs: the folder lies
under reports/ and is not this experiment's own, its config is a YAML mapping, its comparison
table has the columns and numbers the claim reads, and the referenced cell is one of its rows.
The dry run (workflow/rules/common.smk) and the claims step read it through ``read``, so that
a bad reference stops the dry run, naming the file, rather than failing in the claims job.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from attnablate.errors import ConfigurationError
from attnablate.model.variants import cell_label, parse_sites
from attnablate.report.files import ReportFiles, reference_folders

ROOT = "reports"  # where every committed report lives
# what a claim reads of the reference's comparison table (comparison.COLUMNS names them all)
COLUMNS = ("label", "budget", "seed_deltas", "converged")


@dataclass(frozen=True)
class Reference:
    """A referenced report as read: its config and its comparison table's rows."""

    folder: str
    config: dict
    rows: list[dict]

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(row["label"] for row in self.rows))


def check(config: dict) -> None:
    """Every claim's reference (``claims[i].reference``) reads, and names a cell of it; the
    report the experiment replicates (``replicates``) reads."""
    for i, claim in enumerate(config.get("claims", [])):
        if "reference" in claim:
            key = f"claims[{i}].reference"
            reference = read(claim["reference"]["report"], key, config["experiment"])
            cell(reference, claim["reference"], key)
    if "replicates" in config:
        read(config["replicates"]["report"], "replicates", config["experiment"])
    if "carries" in config:
        claims_of(config["carries"]["report"], "carries", config["experiment"])


# what the claims step reads of the claims table of the report an experiment carries to
CLAIM_COLUMNS = (
    *("claim", "budget", "label", "measure", "verdict", "estimate", "low", "high"),
    *("delta_loss", "delta_loss_low", "delta_loss_high"),
)


def claims_of(folder: str, key: str, experiment: str):
    """The claims table of the report ``folder`` (checked as ``read`` checks it), as the
    claims step reads it."""
    import pandas as pd  # here, not above: every dry run imports this module to check

    read(folder, key, experiment)
    path = ReportFiles.of(folder).claims
    if not path.is_file():
        raise ConfigurationError(
            f"{key}.report",
            f"no such file: {path} (a report drawn before reports held their claims table: "
            "redraw it with its report step)",
        )
    try:
        table = pd.read_csv(path, dtype={"size": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"{key}.report", f"{path}: not a CSV table: {error}") from None
    missing = [c for c in CLAIM_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigurationError(f"{key}.report", f"{path}: no column {', '.join(missing)}")
    return table


def read(folder: str, key: str, experiment: str | None = None) -> Reference:
    """The report ``folder`` (``reports/<name>``), checked; ``experiment``: this one's name,
    whose own report cannot be its reference."""
    path = PurePosixPath(folder)
    if path.is_absolute() or len(path.parts) != 2 or path.parts[0] != ROOT or ".." in path.parts:
        raise ConfigurationError(
            f"{key}.report", f"{folder!r}: a committed report is a folder {ROOT}/<name>"
        )
    if path.parts[1] == experiment:
        raise ConfigurationError(
            f"{key}.report", f"{folder} is this experiment's own report, which it writes"
        )
    files = ReportFiles.of(folder)
    missing = [str(needed) for needed in (files.config, files.csv) if not needed.is_file()]
    if missing:
        raise ConfigurationError(
            f"{key}.report",
            f"no such file: {', '.join(missing)} (is {folder} the report of an experiment "
            "that has run?)",
        )
    return Reference(folder, _config(files.config, key), _rows(files.csv, key))


def comparison_tables(config: dict) -> dict:
    """report folder -> (its comparison table, whether it was made on this experiment's
    corpus and tokenizer), for every claim that compares with another experiment's report
    and for the report it replicates: what the claims step reads."""
    import pandas as pd  # here, not above: every dry run imports this module to check

    found = {}
    for folder in reference_folders(config):
        theirs = read(folder, "claims.reference", config["experiment"])
        same = all(theirs.config.get(key) == config[key] for key in ("corpus", "tokenizer"))
        table = pd.read_csv(ReportFiles.of(folder).csv, dtype={"size": str})
        found[folder] = (table, same)
    return found


def cell(reference: Reference, settings: dict, key: str) -> str:
    """The label of the referenced cell (``variant``, ``match``), checked against the
    report's family and rows."""
    family = reference.config.get("model", {}).get("architecture", "encoder_decoder")
    parse_sites(settings["variant"], f"{key}.variant", family)
    label = cell_label(settings["variant"], settings.get("match", "none"))
    if label not in reference.labels:
        raise ConfigurationError(
            f"{key}.variant",
            f"{label!r} is not a cell of {reference.folder} (its cells: "
            f"{', '.join(reference.labels)})",
        )
    return label


def _config(path: Path, key: str) -> dict:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise ConfigurationError(f"{key}.report", f"{path}: not YAML{line}: {error}") from None
    if not isinstance(config, dict):
        raise ConfigurationError(
            f"{key}.report", f"{path}: a report's config is a mapping, got {type(config).__name__}"
        )
    return config


def _rows(path: Path, key: str) -> list[dict]:
    """The comparison table's rows, every number a claim reads checked (line numbers as a
    text editor counts them, the header on line 1)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in COLUMNS if c not in columns]
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as error:
        raise ConfigurationError(f"{key}.report", f"{path}: not a CSV table: {error}") from None
    if missing:
        raise ConfigurationError(
            f"{key}.report",
            f"{path}: no column {', '.join(missing)} (it has: {', '.join(columns) or 'none'})",
        )
    if not rows:
        raise ConfigurationError(f"{key}.report", f"{path}: the table has no row")
    for line, row in enumerate(rows, start=2):
        _check_row(row, f"{path}:{line}", key)
    return rows


def _check_row(row: dict, where: str, key: str) -> None:
    budget = row["budget"] or ""
    if not budget.isdigit() or int(budget) < 1:
        raise ConfigurationError(f"{key}.report", f"{where}: budget {budget!r} is not a step count")
    for part in filter(None, (row["seed_deltas"] or "").split(";")):  # none: no seed paired
        seed, _, value = part.partition(":")
        try:
            delta = float(value)
        except ValueError:
            delta = None
        if not seed.strip().isdigit() or delta is None:
            raise ConfigurationError(
                f"{key}.report",
                f"{where}: seed_deltas {row['seed_deltas']!r} is not seed:Δ;seed:Δ… (at {part!r})",
            )
        if not math.isfinite(delta):
            raise ConfigurationError(
                f"{key}.report", f"{where}: seed {seed}'s Δ is {value}, not a finite number"
            )
    if row["converged"] not in ("True", "False"):
        raise ConfigurationError(
            f"{key}.report", f"{where}: converged {row['converged']!r} is not True or False"
        )
