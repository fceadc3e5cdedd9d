"""Aggregating runs into tables, and the figures and summary a person reads."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from attnablate import compare, dynamics, scaling  # noqa: E402
from attnablate.io import read_tsv, write_text, write_tsv  # noqa: E402

RUN_KEYS = ("experiment", "variant", "size", "match", "seed")
FIGURE_OUTPUTS = (
    "bleu_vs_params", "valid_loss", "bleu_vs_tokens", "scaling", "dynamics", "attention_maps",
)  # fmt: skip
TABLE_HEADER = (
    "| variant | parameters | seeds | test BLEU | Δ BLEU | test chrF | Δ chrF "
    "| p (AR, Holm, max over seeds) | best valid loss |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def run_row(meta: dict, scores: dict) -> dict:
    """One tidy row of runs.tsv from a run's meta.json and scores.json."""
    model = meta["model_config"]
    return {
        **{key: meta[key] for key in RUN_KEYS},
        "d_model": model["d_model"],
        "d_ff": model["d_ff"],
        "params_total": meta["params_total"],
        "params_non_embedding": meta["params_non_embedding"],
        "steps": meta["steps"],
        "tokens": meta["tokens"],
        "train_seconds": meta["train_seconds"],
        "tokens_per_second": meta["tokens_per_second"],
        "best_step": meta["best_step"],
        "best_valid_loss": meta["best_valid_loss"],
        "best_valid_bleu": meta["best_valid_bleu"],
        "test_bleu": scores["bleu"],
        "test_chrf": scores["chrf"],
        "diverged": meta["diverged"],
        "diverged_at": meta["diverged_at"],
        "device": meta["device"],
        "bleu_signature": scores["bleu_signature"],
    }


def run_aggregate(inputs, outputs) -> None:
    """Step ``aggregate``: ``runs`` (one row per run), ``curves`` and ``dynamics`` (every
    run's, with its keys) and ``significance`` (every comparison with qk)."""
    rows, curve_rows, dynamics_rows = [], [], []
    for meta_path, scores_path, curves_path, dynamics_path in zip(
        inputs["meta"], inputs["scores"], inputs["curves"], inputs["dynamics"]
    ):
        meta = json.loads(Path(meta_path).read_text())
        keys = {key: meta[key] for key in RUN_KEYS}
        rows.append(run_row(meta, json.loads(Path(scores_path).read_text())))
        curve_rows += [{**keys, **point} for point in read_tsv(curves_path)]
        dynamics_rows += [{**keys, **point} for point in read_tsv(dynamics_path)]
    write_tsv(outputs["runs"], rows)
    write_tsv(outputs["curves"], curve_rows)
    write_tsv(outputs["dynamics"], dynamics_rows, [*RUN_KEYS, *dynamics.COLUMNS])
    tests = [row for path in inputs["significance"] for row in read_tsv(path)]
    write_tsv(outputs["significance"], tests, compare.COLUMNS)
    print(f"{len(rows)} runs, {len(curve_rows)} curve points, {len(tests)} comparisons")


def _label(frame: pd.DataFrame) -> pd.Series:
    """variant, with the matching in brackets where it is not 'none'."""
    suffix = frame["match"].map(lambda m: "" if m == "none" else f" (matched: {m})")
    return frame["variant"] + suffix


def _save(fig, path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def diverged(runs: pd.DataFrame) -> pd.Series:
    """True for the runs whose loss became NaN or infinite."""
    return runs["diverged"].astype(str) == "True"


def mark_diverged(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (curves, ...) with " (diverged)" added to the label of diverged runs' rows."""
    keys = ["variant", "size", "match", "seed"]
    bad = runs.loc[diverged(runs), keys].astype(str).agg("/".join, axis=1)
    ids = frame[keys].astype(str).agg("/".join, axis=1)
    return frame.assign(label=frame["label"].where(~ids.isin(bad), frame["label"] + " (diverged)"))


def _diverged_note(runs: pd.DataFrame) -> str:
    bad = runs[diverged(runs)]
    return "; ".join(
        f"{r.label}/{r.size} seed {r.seed} at step {int(r.diverged_at)}" for r in bad.itertuples()
    )


def plot_bleu_vs_params(runs: pd.DataFrame, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    order = runs["label"].unique()  # runs.tsv order: qk first
    sns.lineplot(
        data=runs[~diverged(runs)].sort_values("params_total"), x="params_total", y="test_bleu",
        hue="label", hue_order=order, style="label", style_order=order, markers=True,
        dashes=False, errorbar=("ci", 95), ax=ax,
    )  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="parameters (total, log scale)", ylabel="test BLEU (beam search)")
    ax.set_title("Translation quality against model size")
    ax.legend(title="variant", fontsize="small")
    if diverged(runs).any():  # no BLEU to plot: say which runs are missing, and why
        ax.text(0.01, -0.2, f"diverged (no BLEU): {_diverged_note(runs)}", fontsize="small",
                color="firebrick", transform=ax.transAxes, wrap=True)  # fmt: skip
    _save(fig, path)


def plot_curves(curves: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str, path) -> None:
    grid = sns.relplot(
        data=curves, x=x, y=y, hue="label", col="size", kind="line", errorbar=("ci", 95),
        height=3.4, aspect=1.15, facet_kws={"sharey": False, "sharex": False},
    )  # fmt: skip
    grid.set_axis_labels(xlabel, ylabel)
    grid.set_titles("size: {col_name}")
    grid.legend.set_title("variant")
    _save(grid.figure, path)


# two-sided 95% critical values of Student's t by degrees of freedom (1.96 beyond 30)
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip
ALPHA = 0.05
SYMMETRY_MARGIN = 0.02  # a smaller encoder-decoder difference in symmetry is not called one


def mean_interval(values) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds; with one seed the interval is the value itself."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, mean, mean
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    half = (_T95[len(values) - 2] if len(values) <= 31 else 1.96) * sd / len(values) ** 0.5
    return mean, mean - half, mean + half


def _sentence(size: str, label: str, runs: pd.DataFrame, tests: pd.DataFrame) -> str:
    """One sentence, from the numbers alone, on one variant at one size against qk."""
    mine, base = runs[runs["label"] == label], runs[runs["label"] == "qk"]
    bleu, base_bleu = mine["test_bleu"].mean(), base["test_bleu"].mean()
    saved = 1 - mine["params_total"].mean() / base["params_total"].mean()
    seeds = len(tests)
    if seeds == 1:
        low, high = float(tests["delta_ci_low"].iloc[0]), float(tests["delta_ci_high"].iloc[0])
        interval = f"95% paired-bootstrap interval {low:+.2f} to {high:+.2f}"
    else:
        _, low, high = mean_interval(tests["delta_bleu"])
        interval = f"95% interval over {seeds} seeds {low:+.2f} to {high:+.2f}"
    significant = int((tests["p_ar_holm"].astype(float) < ALPHA).sum())
    if seeds == 1:
        p = float(tests["p_ar_holm"].iloc[0])
        verdict = ("significant" if significant else "not significant") + (
            f" after Holm correction (approximate randomisation, p = {p:.4f})"
        )
    else:
        verdict = f"significant after Holm correction in {significant} of {seeds} seeds"
    size_words = (
        f"{saved:.1%} fewer parameters than qk" if saved > 0.0005
        else "the same parameter count as qk" if saved > -0.0005
        else f"{-saved:.1%} more parameters than qk"
    )  # fmt: skip
    direction = "better" if bleu > base_bleu else "worse" if bleu < base_bleu else "the same"
    return (
        f"- At size `{size}`, `{label}` ({size_words}) scores {bleu:.2f} BLEU against "
        f"{base_bleu:.2f} for `qk`: {direction} by {abs(bleu - base_bleu):.2f} ({interval}); "
        f"{verdict}."
    )


def largest_size(runs: pd.DataFrame) -> str:
    """The size whose dynamics and attention maps are drawn: the largest with a finished run."""
    finished = runs[~diverged(runs)]
    return (finished if len(finished) else runs).groupby("size")["params_total"].mean().idxmax()


def plot_scaling(runs: pd.DataFrame, table: pd.DataFrame, path) -> None:
    """Best validation loss against non-embedding parameters (log-log), with each variant's
    fitted power law."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    palette = dict(zip(runs["label"].unique(), sns.color_palette(n_colors=runs["label"].nunique())))
    sns.scatterplot(data=runs[~diverged(runs)], x="params_non_embedding", y="best_valid_loss",
                    hue="label", palette=palette, ax=ax)  # fmt: skip
    span = np.geomspace(runs["params_non_embedding"].min(), runs["params_non_embedding"].max())
    for label, fit in table.groupby("label")[["a", "b"]].first().iterrows():
        if np.isfinite(fit["a"]):
            ax.plot(span, fit["a"] * span ** -fit["b"], color=palette[label], lw=1)
    ax.set(xscale="log", yscale="log", xlabel="non-embedding parameters (log)")
    ax.set(ylabel="best validation loss (log)", title="Scaling: loss = a·N^(−b) per variant")
    ax.legend(title="variant", fontsize="small")
    _save(fig, path)


def plot_dynamics(frame: pd.DataFrame, size: str, path) -> None:
    """Symmetry, self-attention mass and entropy over training, per site, at one size."""
    frame = frame[frame["size"] == size]
    long = frame.melt(
        id_vars=["label", "site", "step"], value_vars=["symmetry", "diag_mass", "entropy"],
        var_name="measure", value_name="value",
    ).dropna()  # fmt: skip
    if long.empty:  # every run of the size diverged before its first validation
        fig, ax = plt.subplots(figsize=(6.5, 2))
        ax.text(0.5, 0.5, f"no attention diagnostics at size {size}", ha="center")
        ax.set_axis_off()
        _save(fig, path)
        return
    grid = sns.relplot(
        data=long, x="step", y="value", hue="label", row="measure", col="site", kind="line",
        errorbar=None, height=2.6, aspect=1.3, facet_kws={"sharey": "row"},
    )  # fmt: skip
    grid.set_titles("{row_name} · {col_name}")
    grid.set_axis_labels("training step", "")
    grid.legend.set_title(f"variant (size {size})")
    _save(grid.figure, path)


def plot_attention_maps(maps: dict, size: str, path) -> None:
    """One row per variant, one column per site: head-averaged weights on the probe sentence."""
    sites = ["enc", "dec", "cross"]
    labels = list(maps)
    fig, axes = plt.subplots(len(labels), 3, figsize=(10, 3.1 * len(labels)), squeeze=False)
    for row, label in enumerate(labels):
        data = maps[label]
        axis_tokens = {"enc": (data["src"], data["src"]), "dec": (data["tgt"], data["tgt"]),
                       "cross": (data["tgt"], data["src"])}  # fmt: skip
        for col, site in enumerate(sites):
            ax = axes[row, col]
            rows_tokens, cols_tokens = axis_tokens[site]
            sns.heatmap(data[site], ax=ax, cmap="viridis", vmin=0, vmax=1, cbar=col == 2,
                        xticklabels=list(cols_tokens), yticklabels=list(rows_tokens))  # fmt: skip
            ax.tick_params(labelsize=6)
            ax.set_title(f"{label} · {site}", fontsize=9)
    fig.suptitle(f"attention of the last layer, size {size}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def summary_markdown(
    runs: pd.DataFrame,
    tests: pd.DataFrame,
    dyn: pd.DataFrame,
    scale: pd.DataFrame,
    experiment: str,
    figures: list,
) -> str:
    """The summary: sentences generated from the numbers, then per size the table of every
    variant against qk."""
    lines = [
        f"# attn-ablate: experiment `{experiment}`",
        "",
        f"Generated by the pipeline from `results/{experiment}/runs.tsv` and "
        f"`significance.tsv`; do not edit. Test BLEU and chrF are sacrebleu's, on the test "
        "set translated with beam search; differences are against the `qk` baseline of the "
        "same size and seed, means over seeds.",
        "",
        "## What the numbers say",
        "",
    ]
    tests = tests.assign(label=_label(tests)) if len(tests) else tests
    if "diverged" in tests:  # comparisons with a diverged side have no numbers
        tests = tests[tests["diverged"].isna()]
    finished = runs[~diverged(runs)]
    for size in runs["size"].unique():
        for label in runs.loc[runs["size"] == size, "label"].unique():
            cell = (
                tests[(tests["size"] == size) & (tests["label"] == label)] if len(tests) else tests
            )
            here = runs[(runs["size"] == size) & (runs["label"] == label)]
            if diverged(here).all():
                steps = ", ".join(str(int(s)) for s in here["diverged_at"])
                lines.append(f"- At size `{size}`, `{label}` diverged in every seed "
                             f"(at step {steps}): no BLEU to compare.")  # fmt: skip
            elif label != "qk" and len(cell):
                lines.append(_sentence(size, label, finished[finished["size"] == size], cell))
    lines += ["", *_scaling_sentences(scale), ""]
    lines += [*_dynamics_sentences(dyn, largest_size(runs)), ""]
    cols = ["params_total", "test_bleu", "test_chrf", "best_valid_loss"]
    for size in runs["size"].unique():
        here = runs[runs["size"] == size]
        base = here[here["label"] == "qk"]
        lines += [f"## Size `{size}`", "", TABLE_HEADER]
        for label in here["label"].unique():
            mine = here[here["label"] == label]
            row = mine[cols].mean()
            delta = _delta(mine, base, "test_bleu")
            delta_chrf = _delta(mine, base, "test_chrf")
            cell = (
                tests[(tests["size"] == size) & (tests["label"] == label)] if len(tests) else tests
            )
            p = f"{cell['p_ar_holm'].astype(float).max():.4f}" if len(cell) else ""
            lines.append(
                f"| `{label}` | {row['params_total']:,.0f} | {mine['seed'].nunique()} "
                f"| {row['test_bleu']:.2f} | {delta} | {row['test_chrf']:.2f} | {delta_chrf} "
                f"| {p} | {row['best_valid_loss']:.4f} |"
            )
        lines.append("")
    if diverged(runs).any():
        lines += [f"Diverged runs (left out of every mean and test): {_diverged_note(runs)}.", ""]
    lines += ["## Figures", ""]
    lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figures]
    signature = runs["bleu_signature"].iloc[0]
    lines += ["", f"BLEU signature: `{signature}`", ""]
    return "\n".join(lines)


def _scaling_sentences(scale: pd.DataFrame) -> list[str]:
    """What each variant is worth in qk parameters, where a power law could be fitted."""
    fitted = scale[np.isfinite(scale["multiple"].astype(float))]
    if not len(fitted) or "qk" not in set(scale["label"]):
        return ["Scaling: one size only, so no power law is fitted."]
    qk = scale[scale["label"] == "qk"].iloc[0]
    lines = [
        f"Scaling: `qk`'s best validation loss falls as N^(−{qk['b']:.3f}) in non-embedding "
        "parameters N. In qk parameters, each variant's runs are worth:",
        "",
    ]
    for _, row in fitted[fitted["label"] != "qk"].iterrows():
        lines.append(
            f"- `{row['label']}` at size `{row['size']}` ({row['params_non_embedding']:,.0f} "
            f"non-embedding parameters) reaches loss {row['loss']:.4f}, which qk reaches with "
            f"{row['qk_params']:,.0f}: a multiple of {row['multiple']:.2f}."
        )
    return lines


def _dynamics_sentences(dyn: pd.DataFrame, size: str) -> list[str]:
    """The learning dynamics at the end of training, in sentences, at one size."""
    if not len(dyn):
        return []
    here = dyn[dyn["size"] == size]
    final = here[here["step"] == here.groupby("label")["step"].transform("max")]
    mean = final.groupby(["label", "site"])[["symmetry", "diag_mass", "entropy"]].mean()
    lines = [f"Learning dynamics at size `{size}`, at the end of training:", ""]
    if ("qk", "enc") in mean.index and ("qk", "dec") in mean.index:
        enc, dec = mean.loc[("qk", "enc"), "symmetry"], mean.loc[("qk", "dec"), "symmetry"]
        if enc - dec > SYMMETRY_MARGIN:
            finding = "more symmetric in the encoder, as published work predicts"
        elif dec - enc > SYMMETRY_MARGIN:
            finding = "more symmetric in the decoder, unlike what published work predicts"
        else:
            finding = (
                f"a difference below {SYMMETRY_MARGIN}: at this budget, published work's "
                "prediction (encoders symmetric, causal decoders directional) is neither borne "
                "out nor contradicted"
            )
        lines.append(
            f"- In `qk` the learned bilinear form W_Qᵀ W_K is {enc:.3f} symmetric in encoder "
            f"self-attention and {dec:.3f} in decoder self-attention ({finding})."
        )
    for label in final["label"].unique():
        if label == "qk" or (label, "enc") not in mean.index or ("qk", "enc") not in mean.index:
            continue
        mine, base = mean.loc[(label, "enc")], mean.loc[("qk", "enc")]
        lines.append(
            f"- `{label}`: in encoder self-attention the form is {mine['symmetry']:.3f} "
            f"symmetric (qk {base['symmetry']:.3f}), a token puts {mine['diag_mass']:.3f} of its "
            f"attention on itself (qk {base['diag_mass']:.3f}), attention entropy "
            f"{mine['entropy']:.2f} nats (qk {base['entropy']:.2f})."
        )
    return lines


def _delta(mine: pd.DataFrame, base: pd.DataFrame, column: str) -> str:
    """Mean difference to qk over the seeds both have, or '' for qk itself."""
    if mine["label"].iloc[0] == "qk":
        return ""
    paired = mine.merge(base, on="seed", suffixes=("", "_qk"))
    return f"{(paired[column] - paired[column + '_qk']).mean():+.2f}"


def run_report(inputs, outputs, experiment: str) -> None:
    """Step ``report``: the figures and summary.md of an experiment."""
    runs = pd.read_csv(inputs["runs"], sep="\t")
    curves = pd.read_csv(inputs["curves"], sep="\t")
    tests = pd.read_csv(inputs["significance"], sep="\t")
    dyn = pd.read_csv(inputs["dynamics"], sep="\t")
    for frame in (runs, curves, dyn):
        frame["label"] = _label(frame)
    size = largest_size(runs)
    scale = scaling.scaling_table(runs)
    write_tsv(outputs["scaling_table"], scale.to_dict("records"), scaling.COLUMNS)
    plot_scaling(runs, scale, outputs["scaling"])
    plot_bleu_vs_params(runs, outputs["bleu_vs_params"])
    curves = mark_diverged(curves, runs)
    plot_curves(curves, "step", "valid_loss", "training step", "validation loss (NLL per token)",
                outputs["valid_loss"])  # fmt: skip
    plot_curves(curves, "tokens", "valid_bleu", "target tokens seen", "valid BLEU (greedy)",
                outputs["bleu_vs_tokens"])  # fmt: skip
    plot_dynamics(dyn, size, outputs["dynamics"])
    maps = {}
    for path in inputs["attention"]:  # runs/<exp>/<variant>/<size>/<match>/seed<seed>/
        variant, run_size, match, seed = Path(path).parts[-5:-1]
        label = variant + ("" if match == "none" else f" (matched: {match})")
        if run_size == size and label not in maps:  # the first seed of each variant
            with np.load(path) as data:
                maps[label] = {key: data[key] for key in data.files}
    plot_attention_maps(maps, size, outputs["attention_maps"])
    figures = [outputs[name] for name in FIGURE_OUTPUTS]
    summary = summary_markdown(runs, tests, dyn, scale, experiment, figures)
    write_text(outputs["summary"], summary)
    print(f"report of {len(runs)} runs written")
