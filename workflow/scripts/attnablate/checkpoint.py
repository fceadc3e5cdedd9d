"""Checkpoints that carry their model config, written atomically."""

import dataclasses
import os
from pathlib import Path

import torch

from attnablate.model import ModelConfig, Transformer


def save_checkpoint(path, model: Transformer, **extra) -> None:
    """Write ``{"model_config", "model", **extra}`` to a temporary file, then rename it over
    ``path``: a reader never sees a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {"model_config": dataclasses.asdict(model.cfg), "model": model.state_dict(), **extra}
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> tuple[Transformer, dict]:
    """Rebuild the model from the config stored in the checkpoint; return it and the rest."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    model = Transformer(ModelConfig(**state.pop("model_config")))
    model.load_state_dict(state.pop("model"))
    return model, state
