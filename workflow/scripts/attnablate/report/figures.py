"""The report's figures (seaborn), each drawn from the aggregated tables."""

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from attnablate.analysis import ladder, scaling, stats  # noqa: E402
from attnablate.analysis.runs import diverged  # noqa: E402
from attnablate.io import replace_atomically  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.tasks import MASKED, TRANSLATION, task_of_table  # noqa: E402

DYNAMICS_MEASURES = ["symmetry", "diag_mass", "entropy"]


def mark_diverged(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (curves, ...) with " (diverged)" added to the label of diverged runs' rows."""
    keys = ["variant", "size", "match", "seed", "budget"]
    bad = runs.loc[diverged(runs), keys].astype(str).agg("/".join, axis=1)
    ids = frame[keys].astype(str).agg("/".join, axis=1)
    return frame.assign(label=frame["label"].where(~ids.isin(bad), frame["label"] + " (diverged)"))


def diverged_note(runs: pd.DataFrame) -> str:
    bad = runs[diverged(runs)]
    return "; ".join(
        f"{r.label}/{r.size} seed {r.seed} at step {int(r.diverged_at)}" for r in bad.itertuples()
    )


def save(fig, path) -> None:
    """A figure as PNG, written atomically like every output."""
    write = lambda tmp: fig.savefig(  # noqa: E731
        tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None}
    )
    replace_atomically(path, write)
    plt.close(fig)


# each task's quality axis and title in plot_bleu_vs_params
QUALITY_AXES = {
    TRANSLATION.name: ("test BLEU (beam search)", "Translation quality against model size"),
    MASKED.name: ("test masked-token accuracy (%)", "Masked-token accuracy against model size"),
}


def plot_bleu_vs_params(runs: pd.DataFrame, path) -> None:
    """The task's test measure (BLEU, or masked-token accuracy) against total parameters."""
    task = task_of_table(runs.columns)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    order = runs["label"].unique()  # runs.tsv order: qk first
    sns.lineplot(
        data=runs[~diverged(runs)].sort_values("params_total"),
        x="params_total",
        y=f"test_{task.measure}",
        hue="label",
        hue_order=order,
        style="label",
        style_order=order,
        markers=True,
        dashes=False,
        errorbar=("ci", 95),
        seed=0,
        ax=ax,
    )
    ax.set_xscale("log")
    ylabel, title = QUALITY_AXES[task.name]
    ax.set(xlabel="parameters (total, log scale)", ylabel=ylabel)
    ax.set_title(title)
    ax.legend(title="variant", fontsize="small")
    if diverged(runs).any():  # no score to plot: say which runs are missing, and why
        ax.text(
            0.01,
            -0.2,
            f"diverged (no {task.label}): {diverged_note(runs)}",
            fontsize="small",
            color="firebrick",
            transform=ax.transAxes,
            wrap=True,
        )
    save(fig, path)


def plot_curves(curves: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, path) -> None:
    grid = sns.relplot(
        data=curves,
        x=x,
        y=y,
        hue="label",
        col="size",
        kind="line",
        errorbar=("ci", 95),
        seed=0,
        height=3.4,
        aspect=1.15,
        facet_kws={"sharey": False, "sharex": False},
    )
    grid.set_axis_labels(xlabel, ylabel)
    grid.set_titles("size: {col_name}")
    grid.legend.set_title("variant")
    save(grid.figure, path)


def plot_scaling(runs: pd.DataFrame, table: pd.DataFrame, path) -> None:
    """Best validation loss against non-embedding parameters (log-log), with each variant's
    fitted power law where one was fitted (three sizes or more)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    palette = dict(zip(runs["label"].unique(), sns.color_palette(n_colors=runs["label"].nunique())))
    sns.scatterplot(
        data=runs[~diverged(runs)],
        x="params_non_embedding",
        y="best_valid_loss",
        hue="label",
        palette=palette,
        ax=ax,
    )
    span = np.geomspace(runs["params_non_embedding"].min(), runs["params_non_embedding"].max())
    fitted = table.dropna(subset=["a"]).groupby("label")[["a", "b"]].first()
    for label, fit in fitted.iterrows():
        ax.plot(span, fit["a"] * span ** -fit["b"], color=palette[label], lw=1)
    title = "loss = a·N^(−b) per variant" if len(fitted) else "no fit: fewer than three sizes"
    if scaling.no_law(table):
        title = "fits drawn, no law read: qk's loss does not fall with size"
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters (log)")
    ax.set(ylabel="best validation loss (log)", title=f"Scaling: {title}")
    ax.legend(title="variant", fontsize="small")
    save(fig, path)


def plot_dynamics(frame: pd.DataFrame, size: str, path) -> None:
    """Symmetry, self-attention mass and entropy over training, per site, at one size: the
    mean over seeds with a 95% band, at every validation of the largest budget's runs (its
    stable phase included). The lines start at step 0, before any training: what a variant
    has there is its construction, not something learned."""
    frame = frame[frame["size"] == size]
    long = frame.melt(
        id_vars=["label", "site", "step"],
        value_vars=DYNAMICS_MEASURES,
        var_name="measure",
        value_name="value",
    ).dropna()
    if long.empty:  # every run of the size diverged before its first validation
        fig, ax = plt.subplots(figsize=(6.5, 2))
        ax.text(0.5, 0.5, f"no attention diagnostics at size {size}", ha="center")
        ax.set_axis_off()
        save(fig, path)
        return
    grid = sns.relplot(
        data=long,
        x="step",
        y="value",
        hue="label",
        row="measure",
        col="site",
        kind="line",
        errorbar=("ci", 95),  # a band over seeds
        seed=0,
        marker="o",
        markersize=3,
        height=2.6,
        aspect=1.3,
        facet_kws={"sharey": "row"},
    )
    for ax in grid.axes.flat:
        ax.axvline(0, color="grey", lw=0.6, ls=":")
    grid.set_titles("{row_name} · {col_name}")
    grid.set_axis_labels("training step (0: at initialisation)", "")
    grid.legend.set_title(f"variant (size {size})")
    save(grid.figure, path)


def literal(label: str) -> str:
    """A label drawn as written: matplotlib reads text between two ``$`` as mathtext."""
    return str(label).replace("$", r"\$")


# The attention maps a run writes (train.dynamics.attention_maps), in the order drawn, each
# with the pieces along its rows (queries) and columns (keys): an encoder-decoder's sites, a
# decoder-only model's blocks of its packed row, or an encoder-only model's one site.
MAP_AXES = {
    "enc": ("src", "src"),
    "dec": ("tgt", "tgt"),
    "cross": ("tgt", "src"),
    "prefix": ("src", "src"),
    "target": ("tgt", "tgt"),
    "target_prefix": ("tgt", "src"),
    "self": ("src", "src"),
}


def plot_attention_maps(maps: dict, size: str, path) -> None:
    """One row per variant, one column per site: head-averaged weights on the probe sentence,
    every piece labelled (keys written vertically), one colour scale from 0 to 1.

    Drawn with imshow rather than seaborn's heatmap, which lays the whole figure out again
    for each map to decide whether its labels overlap (two thirds of a report's time)."""
    labels = list(maps)
    sites = [site for site in MAP_AXES if site in maps[labels[0]]]
    fig, axes = plt.subplots(
        len(labels), len(sites), figsize=(10, 3.1 * len(labels)), squeeze=False
    )
    for row, label in enumerate(labels):
        data = maps[label]
        for col, site in enumerate(sites):
            ax = axes[row, col]
            rows_tokens, cols_tokens = (data[side] for side in MAP_AXES[site])
            image = ax.imshow(data[site], cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(range(len(cols_tokens)), [literal(t) for t in cols_tokens], rotation=90)
            ax.set_yticks(range(len(rows_tokens)), [literal(t) for t in rows_tokens])
            ax.tick_params(labelsize=6, length=0)
            ax.set_title(f"{label} · {site}", fontsize=9)
        fig.colorbar(image, ax=axes[row, -1])
    fig.suptitle(f"attention of the last layer, size {size}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # 0.3 in for the title
    save(fig, path)


def plot_budget_curves(runs: pd.DataFrame, stable: pd.DataFrame, size: str, path) -> None:
    """Each variant − qk against the training budget at one size: the test measure and annealed
    validation loss at every budget (mean and 95% interval over seeds, each seed a dot), and
    along the stable runs (the peak rate, not annealed) the validation loss with its band."""
    here = runs[runs["size"] == size]
    task = task_of_table(runs.columns)
    labels = [label for label in here["label"].unique() if label != BASELINE]
    palette = dict(zip(labels, sns.color_palette(n_colors=max(len(labels), 1))))
    # constrained: a long axis label makes room instead of running into the next panel
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    panels = (
        (f"test_{task.measure}", f"Δ test {task.label} (variant − qk)"),
        ("best_valid_loss", "Δ annealed validation loss (variant − qk)"),
    )
    for ax, (column, ylabel) in zip(axes, panels):
        for i, label in enumerate(labels):
            deltas = ladder.seed_deltas(here, label, size, column)
            nudge = 1.03 ** (i - (len(labels) - 1) / 2)  # side by side, on a log axis
            points = [(b, *stats.mean_interval(list(deltas[b].dropna()))) for b in deltas]
            if not points:
                continue
            budgets, means, lows, highs = map(np.array, zip(*points))
            spans = np.nan_to_num(np.array([means - lows, highs - means]))
            ax.errorbar(
                budgets * nudge,
                means,
                yerr=spans,
                color=palette[label],
                marker="o",
                capsize=3,
                label=label,
            )
            for budget in deltas:
                seeds = deltas[budget].dropna()
                ax.scatter(
                    [budget * nudge] * len(seeds), seeds, s=9, color=palette[label], alpha=0.35
                )
        ax.axhline(0, color="grey", lw=0.8)
        _budget_ticks(ax, ladder.budget_axis(here), task.targets)
        ax.set(ylabel=ylabel, title=f"annealed at each budget · size {size}")
    axes[0].legend(title="variant", fontsize="small")
    ax = axes[2]
    for label in labels:
        band = ladder.stable_deltas(stable, label, size) if len(stable) else pd.DataFrame()
        if band.empty:
            continue
        ax.plot(band["step"], band["mean"], color=palette[label], label=label)
        ax.fill_between(band["step"], band["low"], band["high"], color=palette[label], alpha=0.2)
    if not ax.lines:
        ax.text(
            0.5, 0.5, "no stable run (not a budget ladder)", ha="center", transform=ax.transAxes
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="training step (peak learning rate)",
        ylabel="Δ validation loss (variant − qk)",
        title="stable phase, NOT annealed (95% band over seeds)",
    )
    save(fig, path)


def _budget_ticks(ax, axis: pd.DataFrame, targets: str) -> None:
    """A log axis of the budgets, each labelled in steps, ``targets`` (the task's: target
    tokens, masked pieces) and epochs."""
    ax.set_xscale("log")
    ax.set_xticks(axis["budget"])
    ax.set_xticklabels(
        [
            f"{int(b):,}\n{t / 1e6:.2g}M\n{e:.2g} ep"
            for b, t, e in zip(axis["budget"], axis["tokens"], axis["epochs_seen"])
        ],
        fontsize="small",
    )
    ax.minorticks_off()
    ax.set_xlabel(f"budget: steps, {targets}, epochs (log)")
