"""The report of an experiment: its figures, summary.md (and summary.html, the same text as
one self-contained page), from the aggregated tables.

The tables come from aggregate.py (runs, curves, dynamics, significance, and the comparison
frame the sentences are rendered from) and the claims step (analysis/claims.py); figures.py
draws, summary.py writes the prose."""

import base64
import json
import re
import subprocess
from pathlib import Path

import markdown
import numpy as np
import pandas as pd
import yaml

from attnablate.analysis import claims, controls, scaling
from attnablate.analysis.runs import diverged, read_table, with_labels
from attnablate.config.experiment import Experiment
from attnablate.io import write_text, write_tsv
from attnablate.model.variants import BASELINE, cell_label
from attnablate.report import figures, paper_tables
from attnablate.report.files import ReportFiles, Tables
from attnablate.report.summary import summary_markdown
from attnablate.tasks import MASKED, TRANSLATION, task_of


def largest_size(runs: pd.DataFrame) -> str:
    """The size whose dynamics and attention maps are drawn: the largest with a finished run,
    by qk's parameter count (of sizes of one shape, the first: the others check a setting)."""
    finished = runs[~diverged(runs)]
    pool = finished if len(finished) else runs
    qk = pool[pool["variant"] == BASELINE]
    pool = qk if len(qk) else pool
    params = pool.groupby("size", sort=False)["params_total"].mean()
    return params.idxmax()


def attention_maps(paths, size: str) -> dict:
    """label -> the attention maps of its first seed at ``size``."""
    maps = {}
    for path in paths:  # runs/<exp>/<variant>/<size>/<match>/seed<seed>/steps<N>/attention.npz
        variant, run_size, match, _seed, _budget = Path(path).parts[-6:-1]
        label = cell_label(variant, match)
        if run_size == size and label not in maps:
            with np.load(path) as data:
                maps[label] = {key: data[key] for key in data.files}
    return maps


def summary_html(markdown_text: str, summary_path, experiment: str) -> str:
    """The summary as one self-contained HTML page (figures inlined), for the HTML report and
    any browser."""
    folder = Path(summary_path).parent

    def inline(found: re.Match) -> str:
        data = base64.b64encode((folder / found.group(2)).read_bytes()).decode()
        return f'<img alt="{found.group(1)}" src="data:image/png;base64,{data}"'

    body = markdown.markdown(markdown_text, extensions=["tables"])
    body = re.sub(r'<img alt="([^"]*)" src="([^"/]+\.png)"', inline, body)
    return paper_tables.html_page(f"attn-ablate: {experiment}", body)


def commit() -> str:
    """The commit of the code the report is drawn by, marked where tracked files outside
    reports/ (which the report itself rewrites) have changes not committed ("unknown"
    outside a git checkout)."""
    root = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "HEAD")
    if not head:
        return "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ":(top,exclude)reports")
    return head + (" (with uncommitted changes)" if changed else "")


def write_config(config: dict, made_at: str, path) -> None:
    """The config a report was made from, with the commit, beside its summary."""
    header = (
        f"# The config reports/{config['experiment']}/ was made from (schema defaults "
        f"filled in), at commit {made_at}.\n"
    )
    write_text(path, header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def write_html_tables(frames: dict, significance: pd.DataFrame, experiment: str, path) -> None:
    """tables.html: the claims (and beside the replicated report, and another family's, where
    there is one), the
    comparison frame, every run and every per-seed test, each a table of one page."""
    replicated, carried = frames["replication"], frames["carries"]
    paper_tables.write_html_tables(
        {
            "The claims": frames["claims"],
            **({"The claims beside the replicated report": replicated} if len(replicated) else {}),
            **({"The claims beside another family's report": carried} if len(carried) else {}),
            "Each variant against qk (the comparison frame)": frames["comparison"],
            "Runs": frames["every_budget"].drop(columns=["label"]),
            "Per-seed paired tests": significance,
        },
        experiment,
        path,
    )


# each task's learning curves' axes: validation loss and the valid measure (against steps,
# and against the task's targets trained on)
CURVE_AXES = {
    TRANSLATION.name: ("validation loss (NLL per token)", "valid BLEU (greedy)"),
    MASKED.name: ("validation loss (NLL per masked piece)", "valid masked-token accuracy (%)"),
}


def report_settings(corpus, config: dict, made_at: str, baseline=None) -> dict:
    """What the summary says beside its tables: the test set (from ``corpus``, the prepare
    step's prepare.json), the provenance line, the planned experiment's facts, and for the
    masked task the ``baseline`` step's scores (JSON)."""
    corpus = json.loads(Path(corpus).read_text())
    test_set = corpus.get("test_set", "split here from the corpus")
    planned = Experiment.of(config)
    return {
        "test_set": f"{test_set}; {corpus['splits']['test']:,} segments",
        "provenance": f"Made by the pipeline from `config.yaml` beside this summary, at commit "
        f"`{made_at}`.",
        "unrun_matched": planned.unrun_matched_variants,
        "family": planned.family,
        "settle_margin": config["settle_margin"],
        **({"baseline": json.loads(Path(baseline).read_text())} if baseline else {}),
    }


def build_report(
    tables: Tables,
    corpus,
    attention: list,
    report: ReportFiles,
    experiment: str,
    config: dict,
    baseline=None,
) -> None:
    """An experiment's report from its ``tables``: the figures, the summary, the tables for
    papers, and the ``config`` it was made from; its own table of scaling fits goes beside
    the others. ``corpus``: the prepare step's prepare.json; ``attention``: the
    attention maps (.npz) of the runs at the largest budget; ``baseline``: for the masked task,
    the masked_baseline step's scores (JSON)."""
    made_at = commit()
    write_config(config, made_at, report.config)
    settings = report_settings(corpus, config, made_at, baseline)
    every_budget = with_labels(read_table(tables.runs))
    stable = read_table(tables.stable)
    stable = with_labels(stable) if len(stable) else stable
    # the views of one budget (curves, sizes, mechanism) show the largest: its runs' curves
    # hold the whole stable phase and the longest cooldown
    top = every_budget["budget"].max()
    runs = every_budget[every_budget["budget"] == top]
    curves, dyn = (with_labels(read_table(path)) for path in (tables.curves, tables.dynamics))
    curves, dyn = curves[curves["budget"] == top], dyn[dyn["budget"] == top]
    comparison = read_table(tables.comparison)
    size = largest_size(runs)
    scale = scaling.scaling_table(controls.recipe(runs))  # a law of the recipe's sizes
    write_tsv(tables.scaling, scale.to_dict("records"), scaling.COLUMNS)
    verdicts = claims.read_claims(tables.claims)
    replicated = claims.read_judged(tables.replication)
    # the claims as the claims step tested them: what another family's experiment reads
    write_text(report.claims, read_table(tables.claims).to_csv(index=False))
    carried = read_table(tables.carries)
    drawn = report.figures
    figures.plot_budget_curves(every_budget, stable, size, drawn["budget_curves"])
    figures.plot_scaling(runs, scale, drawn["scaling"])
    figures.plot_bleu_vs_params(runs, drawn["bleu_vs_params"])
    curves = figures.mark_diverged(curves, runs)
    task = task_of(settings["family"])
    loss_label, measure_label = CURVE_AXES[task.name]
    figures.plot_curves(
        curves, "step", "valid_loss", "training step", loss_label, drawn["valid_loss"]
    )
    figures.plot_curves(
        curves,
        "tokens",
        task.valid_measure,
        f"{task.targets} trained on",
        measure_label,
        drawn["bleu_vs_tokens"],
    )
    figures.plot_dynamics(dyn, size, drawn["dynamics"])
    figures.plot_attention_maps(attention_maps(attention, size), size, drawn["attention_maps"])
    frames = {
        "comparison": comparison,
        "runs": runs,
        "every_budget": every_budget,
        "dynamics": dyn,
        "scaling": scale,
        "claims": verdicts,
        "replication": replicated,
        "carries": carried,
    }
    paper_tables.write_tables(comparison, experiment, report.latex, report.csv)
    write_html_tables(frames, read_table(tables.significance), experiment, report.tables_html)
    paths = list(drawn.values())
    markdown_text = summary_markdown(frames, settings, experiment, paths, size)
    write_text(report.summary, markdown_text)
    write_text(report.summary_html, summary_html(markdown_text, report.summary, experiment))
    print(f"report of {len(runs)} runs written")
