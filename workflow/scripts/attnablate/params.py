"""Parameter accounting and parameter matching.

Counts come from the model itself, built on PyTorch's ``meta`` device (shapes without
memory), so they can never drift from what training builds, even at d_model 2048.
"""

import dataclasses
import functools

import torch

from attnablate.errors import ConfigurationError
from attnablate.model import ModelConfig, Transformer

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


def _count_model(model: Transformer, which: str) -> int:
    total = sum(p.numel() for p in model.parameters())
    return total - model.embed.weight.numel() if which == "non_embedding" else total


@functools.lru_cache(maxsize=4096)
def _count_config(cfg: ModelConfig, which: str) -> int:
    """Counted on the meta device; cached, since matching and the DAG ask for the same configs
    many times."""
    with torch.device("meta"):
        return _count_model(Transformer(cfg, init=False), which)


def _solve_d_ff(cfg: ModelConfig, target: int, which: str) -> int:
    """The d_ff whose count is nearest ``target``; the count is linear in d_ff."""
    base = count_params(dataclasses.replace(cfg, d_ff=1), which)
    per_unit = count_params(dataclasses.replace(cfg, d_ff=2), which) - base
    return max(1, 1 + round((target - base) / per_unit))


def matched_config(variant: str, size: ModelConfig, which: str = "total") -> ModelConfig:
    """``size`` with ``variant``, re-spending what the variant saves on a wider MLP (d_ff, in
    every layer) until its parameter count equals that of the ``qk`` model of ``size``
    within 0.5%."""
    target = count_params(dataclasses.replace(size, variant="qk"), which)
    cfg = dataclasses.replace(size, variant=variant)
    cfg = dataclasses.replace(cfg, d_ff=_solve_d_ff(cfg, target, which))
    gap = abs(count_params(cfg, which) - target) / target
    if gap > TOLERANCE:
        raise ConfigurationError(
            "match_params",
            f"{variant} cannot be matched to qk at d_model={size.d_model} within 0.5% "
            f"({which} parameters, off by {gap:.2%})",
        )
    return cfg


def match_params(variant: str, size: ModelConfig, which: str = "total") -> int:
    """The d_ff of ``matched_config``."""
    return matched_config(variant, size, which).d_ff
