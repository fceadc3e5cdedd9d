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
GROW = ("d_ff", "d_model")
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


def _grow_d_model(cfg: ModelConfig, target: int, which: str) -> ModelConfig:
    """The widest d_model (a multiple of 2·n_heads, d_ff/d_model kept) not above ``target``."""
    step = 2 * cfg.n_heads  # d_model stays even and divisible by the heads
    ratio = cfg.d_ff / cfg.d_model
    while True:
        wider = cfg.d_model + step
        trial = dataclasses.replace(cfg, d_model=wider, d_ff=max(1, round(ratio * wider)))
        if count_params(trial, which) > target:
            return cfg
        cfg = trial


def matched_config(
    variant: str, size: ModelConfig, which: str = "total", grow: str = "d_ff"
) -> ModelConfig:
    """``size`` with ``variant``, re-spending what the variant saves until its parameter count
    equals that of the ``qk`` model of ``size`` within 0.5%.

    ``grow="d_ff"`` widens every MLP. ``grow="d_model"`` keeps the head count and the
    d_ff/d_model ratio, takes the widest d_model whose count stays under the target, then
    closes the remaining gap with d_ff.
    """
    if grow not in GROW:
        raise ConfigurationError("match_params.grow", f"unknown {grow!r}; allowed: {GROW}")
    target = count_params(dataclasses.replace(size, variant="qk"), which)
    cfg = dataclasses.replace(size, variant=variant)
    if grow == "d_model":
        cfg = _grow_d_model(cfg, target, which)
    cfg = dataclasses.replace(cfg, d_ff=_solve_d_ff(cfg, target, which))
    gap = abs(count_params(cfg, which) - target) / target
    if gap > TOLERANCE:
        raise ConfigurationError(
            "match_params",
            f"{variant} cannot be matched to qk at d_model={size.d_model} within 0.5% "
            f"({which} parameters, off by {gap:.2%})",
        )
    return cfg


def match_params(variant: str, size: ModelConfig, which: str = "total", grow: str = "d_ff") -> int:
    """The d_ff (or d_model, with ``grow="d_model"``) of ``matched_config``."""
    return getattr(matched_config(variant, size, which, grow), grow)
