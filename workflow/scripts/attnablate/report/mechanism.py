"""The mechanism in the summary's words: what attention does at step 0 and after training,
read from the dynamics table (train/dynamics.py measures it): the symmetry of W_QW_Kᵀ,
attention on oneself and entropy per site, each told as imposed by the construction or
learned by training, over seeds."""

import pandas as pd

from attnablate.analysis import stats
from attnablate.model.variants import BASELINE, build_spec, parse_sites
from attnablate.report.figures import DYNAMICS_MEASURES


def _symmetric_by_construction(variant: str, site: str, family: str) -> bool:
    return build_spec(parse_sites(variant, family=family)[site]).symmetric_form


# Per family: the part of the dynamics table the mechanism reads first (the one the claims'
# variants change: an encoder-decoder's encoder, a decoder-only model's source prefix), and
# the site whose variant that part shows.
PRIMARY_PART = {
    "encoder_decoder": ("enc", "enc"),
    "decoder_only": ("prefix", "self"),
    "encoder_only": ("self", "self"),
}


def dynamics_values(dyn: pd.DataFrame, size: str, site: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per label, in the experiment's order: each measure at step 0 (``*_init``) and at the
    end (``*_final``), means over layers and heads, then over seeds; and the per-seed final
    values (indexed by label, variant, seed)."""
    here = dyn[(dyn["size"] == size) & (dyn["site"] == site)]
    keys = ["label", "variant", "seed"]
    last = here[here["step"] == here.groupby(keys)["step"].transform("max")]
    final = last.groupby(keys, sort=False)[DYNAMICS_MEASURES].mean()
    init = here[here["step"] == 0].groupby(keys)[DYNAMICS_MEASURES].mean()
    table = final.groupby(["label", "variant"], sort=False).mean().add_suffix("_final")
    table = table.join(init.groupby(["label", "variant"]).mean().add_suffix("_init"))
    return table.reset_index(), final


def self_at_start(
    dyn: pd.DataFrame, size: str, family: str = "encoder_decoder"
) -> dict[str, float]:
    """label -> a token's attention on itself at step 0 in encoder self-attention (a
    decoder-only model's source prefix), the mean over layers, heads and seeds (where step 0
    was logged)."""
    if not len(dyn):
        return {}
    table, _ = dynamics_values(dyn, size, PRIMARY_PART[family][0])
    known = table.dropna(subset=["diag_mass_init"])
    return dict(zip(known["label"], known["diag_mass_init"]))


def _opening(where: str, size: str) -> str:
    """The first line of the mechanism: where, and what its numbers are."""
    return (
        f"Attention in {where} at size `{size}`, means over layers, heads and seeds, as *at "
        "initialisation (step 0) → after training*: the first value is what the construction "
        "imposes before any update, only the change from it is learned."
    )


def dynamics_sentences(dyn: pd.DataFrame, size: str, family: str = "encoder_decoder") -> list[str]:
    """What the construction imposes at step 0 and what training changes, at one size."""
    if not len(dyn):
        return []
    if family == "decoder_only":
        return decoder_only_dynamics_sentences(dyn, size)
    if family == "encoder_only":
        return encoder_only_dynamics_sentences(dyn, size)
    enc, enc_seeds = dynamics_values(dyn, size, "enc")
    if enc.empty:
        return []
    lines = [_opening("encoder self-attention", size), ""]
    qk, variants = _against_qk(enc, "enc", "encoder_decoder")
    dec, dec_seeds = dynamics_values(dyn, size, "dec")
    dec_qk = dec[dec["label"] == BASELINE].to_dict("records")
    if qk and dec_qk:
        lines.append(_qk_symmetry_sentence(qk, dec_qk[0], enc_seeds, dec_seeds))
    return lines + variants


def decoder_only_dynamics_sentences(dyn: pd.DataFrame, size: str) -> list[str]:
    """The decoder-only model's one self-attention: its form (one for both parts), and a
    token's attention on itself and entropy in the source prefix and in the target."""
    prefix, _ = dynamics_values(dyn, size, "prefix")
    target, _ = dynamics_values(dyn, size, "target")
    if prefix.empty or target.empty:
        return []
    lines = [
        _opening("the decoder-only model's self-attention", size)
        + " One form W_Qᵀ W_K serves both parts; a token's attention on itself and the "
        "entropy are given for the source prefix's queries and for the target's.",
        "",
    ]
    targets = {row["label"]: row for row in target.to_dict("records")}
    for row in prefix.to_dict("records"):
        if _symmetric_by_construction(row["variant"], "self", "decoder_only"):
            form = (
                f"the form is symmetric by construction (keys tied to queries: "
                f"{row['symmetry_final']:.3f} here, before and after training), not by learning"
            )
        else:
            form = (
                f"form symmetry {_change(row, 'symmetry', 3)} (about 0.5 is what unrelated "
                "random matrices give)"
            )
        tgt = targets[row["label"]]
        lines.append(
            f"- `{row['label']}`: {form}; a token's attention on itself "
            f"{_change(row, 'diag_mass', 3)} in the prefix, {_change(tgt, 'diag_mass', 3)} in "
            f"the target; attention entropy {_change(row, 'entropy', 2)} nats in the prefix, "
            f"{_change(tgt, 'entropy', 2)} in the target."
        )
    return lines


def encoder_only_dynamics_sentences(dyn: pd.DataFrame, size: str) -> list[str]:
    """The encoder-only model's one self-attention, bidirectional: each variant's form,
    attention on oneself and entropy; qk's learned symmetry also on the published scale."""
    table, seeds = dynamics_values(dyn, size, "self")
    if table.empty:
        return []
    lines = [_opening("the encoder-only model's self-attention", size), ""]
    qk, variants = _against_qk(table, "self", "encoder_only")
    if qk:
        lines.append(_published_symmetry_sentence(qk, seeds))
    return lines + variants


def _against_qk(table: pd.DataFrame, site: str, family: str) -> tuple[dict | None, list[str]]:
    """qk's row of a site's dynamics_values table, and a sentence per other variant set
    beside it."""
    by_label = {row["label"]: row for row in table.to_dict("records")}
    qk = by_label.pop(BASELINE, None)
    return qk, [_variant_dynamics_sentence(row, qk, site, family) for row in by_label.values()]


def _published_symmetry_sentence(qk: dict, seeds: pd.DataFrame) -> str:
    """qk's learned form on this report's scale s (½ at random) and on the published one,
    2s − 1 (0 at random, 1 symmetric; Saponati et al. 2025 measure BERT-like encoders at
    0.44–0.77 and GPT-like decoders at 0.00–0.15), with its interval over seeds."""
    published = list(2 * seeds.xs(BASELINE, level="label")["symmetry"].dropna() - 1)
    mean, low, high = stats.mean_interval(published)
    spread = (
        f", 95% interval over {len(published)} seeds {low:.3f} to {high:.3f}"
        if len(published) >= 2
        else " (one seed)"
    )
    return (
        f"- `qk`: the learned bilinear form W_Qᵀ W_K goes from {_change(qk, 'symmetry', 3)} "
        f"symmetric (about 0.5 is what unrelated random matrices give); on the published scale "
        f"2s − 1 (0 at random, 1 symmetric) it ends at {mean:.3f}{spread}, beside 0.44–0.77 "
        "published for BERT-like encoders and 0.00–0.15 for GPT-like decoders (Saponati et al. "
        f"2025, trained far longer); a token's attention on itself {_change(qk, 'diag_mass', 3)}; "
        f"attention entropy {_change(qk, 'entropy', 2)} nats."
    )


def _change(row: dict, measure: str, digits: int) -> str:
    """``init → final`` of a measure in a row of dynamics_values."""
    init, final = row[f"{measure}_init"], row[f"{measure}_final"]
    if pd.isna(init):
        return f"{final:.{digits}f} (initial value not logged)"
    return f"{init:.{digits}f} → {final:.{digits}f}"


def _qk_symmetry_sentence(enc, dec, enc_seeds, dec_seeds) -> str:
    """Published work predicts encoders learn more symmetric forms than causal decoders:
    called only where the per-seed difference's interval excludes zero."""
    symmetry = {
        site: seeds.xs(BASELINE, level="label")["symmetry"]
        for site, seeds in (("enc", enc_seeds), ("dec", dec_seeds))
    }
    diff = (symmetry["enc"] - symmetry["dec"]).dropna()
    mean, low, high = stats.mean_interval(list(diff))
    if len(diff) < 2:
        finding = f"one seed: no verdict on the difference (encoder − decoder {mean:+.3f})"
    elif stats.excludes_zero(low, high):
        side = "encoder" if low > 0 else "decoder"
        agrees = "as published work predicts" if side == "encoder" else "unlike published work"
        finding = (
            f"more symmetric in the {side}, {agrees} (encoder − decoder {mean:+.3f}, 95% "
            f"interval over {len(diff)} seeds {low:+.3f} to {high:+.3f})"
        )
    else:
        finding = (
            f"no difference detected between encoder and decoder (encoder − decoder "
            f"{mean:+.3f}, 95% interval over {len(diff)} seeds {low:+.3f} to {high:+.3f}; "
            f"|Δ| below {stats.detectable_difference(list(diff)):.3f} could not have been seen)"
        )
    return (
        f"- `qk`: the learned bilinear form W_Qᵀ W_K goes from {_change(enc, 'symmetry', 3)} "
        f"symmetric in encoder self-attention and {_change(dec, 'symmetry', 3)} in decoder "
        f"self-attention (about 0.5 is what unrelated random matrices give): {finding}."
    )


def _variant_dynamics_sentence(row, qk, site: str, family: str) -> str:
    def versus(measure: str, digits: int) -> str:
        base = "" if qk is None else f" (qk {_change(qk, measure, digits)})"
        return f"{_change(row, measure, digits)}{base}"

    if _symmetric_by_construction(row["variant"], site, family):
        form = (
            f"the form is symmetric by construction (keys tied to queries: "
            f"{row['symmetry_final']:.3f} here, before and after training), not by learning"
        )
    else:
        form = f"form symmetry {versus('symmetry', 3)}"
    return (
        f"- `{row['label']}`: {form}; a token's attention on itself "
        f"{versus('diag_mass', 3)}; attention entropy {versus('entropy', 2)} nats."
    )
