"""Checkpoints: the model a run keeps, and the resume states training writes as it goes.

Both are written to a temporary file and renamed, so a killed process leaves the previous
file or none. A resume state also gets a SHA-256 sidecar: a truncated or corrupted state is
detected when it is loaded, and the one before it is used instead.
"""

import dataclasses
import hashlib
import io
from pathlib import Path

import torch
import torch.nn as nn

from attnablate.io import write_bytes
from attnablate.model.config import ModelConfig
from attnablate.model.transformer import build

KEEP_STATES = 2  # resume states kept per run: the newest, and one to fall back to


def _serialise(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(path, model: nn.Module, **extra) -> None:
    """Write ``{"model_config", "model", **extra}``: a model that can be rebuilt anywhere."""
    write_checkpoint(path, model.cfg, model.state_dict(), **extra)


def write_checkpoint(path, model_cfg: ModelConfig, weights: dict, **extra) -> None:
    """save_checkpoint from a config and a state dict, without building the model."""
    state = {"model_config": dataclasses.asdict(model_cfg), "model": weights, **extra}
    write_bytes(Path(path), _serialise(state))


def load_checkpoint(path, map_location="cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model from the config stored in the checkpoint; return it and the rest."""
    state = torch.load(path, map_location=map_location, weights_only=True)
    model = build(ModelConfig(**state.pop("model_config")))
    model.load_state_dict(state.pop("model"))
    return model, state


def save_state(folder, step: int, state: dict, keep: int | None = KEEP_STATES) -> Path:
    """Write resume state ``state-{step}.pt`` with its checksum; keep the newest ``keep``
    (None: every one, as a ladder's branch states are kept)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = _serialise(state)
    path = folder / f"state-{step:09d}.pt"
    write_bytes(path, data)
    write_bytes(path.with_suffix(".sha256"), hashlib.sha256(data).hexdigest().encode())
    for old in sorted(folder.glob("state-*.pt"))[:-keep] if keep else []:
        old.unlink()
        old.with_suffix(".sha256").unlink(missing_ok=True)
    return path


def restore(folder, identity: dict, log=print) -> dict | None:
    """The state a run continues from: the newest intact resume state in ``folder`` whose
    ``fingerprint`` is ``identity`` (the same model, recipe, seed and processes), or None.
    Reads files only: applying the state is the caller's."""
    state = load_state(folder, log) if Path(folder).exists() else None
    if state is not None and state["fingerprint"] != identity:
        log("the resume state belongs to another configuration: starting afresh")
        return None
    return state


def state_step(path) -> int:
    """The step of a state file, from its name (state-000000640.pt)."""
    return int(Path(path).stem.removeprefix("state-"))


def restore_branch(folder, identity: dict, at_most: int, log=print) -> dict | None:
    """The newest intact state in a ladder's branch folder at step ``at_most`` or before
    whose ``fingerprint`` is ``identity``, or None (states of other configurations are
    passed over)."""
    for path in sorted(Path(folder).glob("state-*.pt"), reverse=True):
        if state_step(path) > at_most:
            continue
        state = load_state(folder, log, only=path)
        if state is not None and state["fingerprint"] == identity:
            log(f"resuming from {path}")
            return state
    return None


def clear_other_states(folder, identity: dict, log=print) -> None:
    """Remove the states of a folder that belong to another configuration (their
    ``fingerprint`` is not ``identity``) or are corrupted; those of this one stay (a stable
    segment's later states, which a rerun of the segment after it continues from)."""
    for path in sorted(Path(folder).glob("state-*.pt")):
        state = load_state(folder, log, only=path)
        if state is None or state["fingerprint"] != identity:
            path.unlink()
            path.with_suffix(".sha256").unlink(missing_ok=True)


def load_state(folder, log=print, only=None) -> dict | None:
    """The newest resume state whose checksum matches (or ``only`` that file, if intact), or
    None; says why it passes one over, and which it resumes from (for ``only``, the caller
    says so once it has checked the state's fingerprint)."""
    paths = [Path(only)] if only else sorted(Path(folder).glob("state-*.pt"), reverse=True)
    for path in paths:
        checksum = path.with_suffix(".sha256")
        data = path.read_bytes()
        if (
            not checksum.exists()
            or checksum.read_text().strip() != hashlib.sha256(data).hexdigest()
        ):
            log(f"resume state {path} is truncated or corrupted (checksum mismatch); skipping it")
            continue
        if only is None:
            log(f"resuming from {path}")
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return None
