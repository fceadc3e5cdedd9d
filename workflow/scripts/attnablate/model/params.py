"""Parameter accounting and parameter matching.

A config's count is worked out from its dimensions and attention specs, without PyTorch (the
workflow counts at every Snakemake start); a test checks it against the model itself, built
on PyTorch's meta device, for every variant. A built model is counted directly.
"""

import dataclasses
import functools

from attnablate.errors import ConfigurationError
from attnablate.model.config import ModelConfig
from attnablate.model.variants import BASELINE, AttentionSpec, site_specs

COUNTS = ("total", "non_embedding")
TOLERANCE = 0.005  # matched counts agree within 0.5%


def count_params(model_or_cfg, which: str = "total") -> int:
    """Unique trainable parameters; a tied module counts once.

    ``non_embedding`` leaves out the shared token embedding (which is also the output layer),
    the usual measure in scaling studies.
    """
    if which not in COUNTS:
        raise ConfigurationError("match_params", f"unknown count {which!r}; allowed: {COUNTS}")
    if isinstance(model_or_cfg, ModelConfig):
        return _count_config(model_or_cfg, which)
    return _count_model(model_or_cfg, which)


def _count_model(model, which: str) -> int:
    """A built Transformer's parameters (tied ones once: ``parameters()`` yields each once)."""
    total = sum(p.numel() for p in model.parameters())
    return total - model.embed.weight.numel() if which == "non_embedding" else total


@functools.lru_cache(maxsize=4096)
def _count_config(cfg: ModelConfig, which: str) -> int:
    """What model.Transformer(cfg) holds, layer by layer; cached, since matching and the DAG
    ask for the same configs many times."""
    cfg.validate()
    d, specs = cfg.d_model, site_specs(cfg.variant, cfg.n_heads, family=cfg.architecture)
    norm = 2 * d  # LayerNorm: weight and bias
    mlp = _linear(d, cfg.d_ff, cfg.bias) + _linear(cfg.d_ff, d, cfg.bias)
    if cfg.architecture in ("decoder_only", "encoder_only"):  # one stack, then its final norm
        layers = cfg.dec_layers + cfg.enc_layers  # the one the family has: the other is 0
        body = layers * (2 * norm + _attention(specs["self"], cfg) + mlp) + norm
        return body if which == "non_embedding" else body + cfg.vocab_size * d
    encoder = 2 * norm + _attention(specs["enc"], cfg) + mlp
    decoder = 3 * norm + _attention(specs["dec"], cfg) + _attention(specs["cross"], cfg) + mlp
    body = cfg.enc_layers * encoder + cfg.dec_layers * decoder + 2 * norm  # + final norms
    return body if which == "non_embedding" else body + cfg.vocab_size * d


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _attention(spec: AttentionSpec, cfg: ModelConfig) -> int:
    """One site: learned projections only (identity and fixed random ones hold none, a tied
    W_K is W_Q's or W_V's), qdq's diagonal and qq_centred's score on oneself per head."""
    d = cfg.d_model
    kv_dim = (spec.kv_heads or cfg.n_heads) * (d // cfg.n_heads)
    widths = {"query": d, "key": kv_dim, "value": kv_dim, "output": d}
    count = sum(
        _linear(d, widths[name], cfg.bias) for name in widths if getattr(spec, name) == "linear"
    )
    count += kv_dim if spec.key_diagonal else 0
    return count + (cfg.n_heads if spec.self_offset else 0)


def _solve_d_ff(cfg: ModelConfig, target: int, which: str) -> int:
    """The d_ff whose count is nearest ``target``; the count is linear in d_ff."""
    base = count_params(dataclasses.replace(cfg, d_ff=1), which)
    per_unit = count_params(dataclasses.replace(cfg, d_ff=2), which) - base
    return max(1, 1 + round((target - base) / per_unit))


def matched_config(variant: str, base: ModelConfig, which: str = "total") -> ModelConfig:
    """``base`` (a size's config) with ``variant``, re-spending what the variant saves on a
    wider MLP (d_ff, in every layer) until its parameter count equals that of ``base`` as
    ``qk`` within 0.5%."""
    target = count_params(dataclasses.replace(base, variant=BASELINE), which)
    cfg = dataclasses.replace(base, variant=variant)
    cfg = dataclasses.replace(cfg, d_ff=_solve_d_ff(cfg, target, which))
    gap = abs(count_params(cfg, which) - target) / target
    if gap > TOLERANCE:
        raise ConfigurationError(
            "match_params",
            f"{variant} cannot be matched to qk at d_model={base.d_model} within 0.5% "
            f"({which} parameters, off by {gap:.2%})",
        )
    return cfg


def match_params(variant: str, base: ModelConfig, which: str = "total") -> int:
    """The d_ff of ``matched_config``."""
    return matched_config(variant, base, which).d_ff
