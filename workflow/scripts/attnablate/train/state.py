"""Where a run stands, and the states it can continue from: its own resume states (a job
stopped by a signal, a time limit or a kill), and on a ladder the branch states of its cell's
stable run. A state holds the model, the optimiser, every rank's random state, the data
position, the records' rows and the best model so far; a state of another configuration is
never resumed."""

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from attnablate.config import experiment
from attnablate.convergence import ANNEALED_SCHEDULES
from attnablate.model.config import ModelConfig
from attnablate.train import distributed as dist
from attnablate.train.checkpoint import (
    clear_other_states,
    restore,
    restore_branch,
    write_checkpoint,
)
from attnablate.train.config import TrainConfig
from attnablate.train.files import RunFiles


@dataclass
class Progress:
    """Where a run stands: everything besides model and optimiser that a resume restores."""

    step: int = 0  # optimiser steps done
    tokens: int = 0  # target tokens trained on
    epoch: int = 0  # data position: the epoch of the last batch consumed ...
    batch: int = -1  # ... and its index in that epoch's order
    seconds: float = 0.0  # training time spent before this process (for minute budgets)
    window_loss: float = 0.0  # summed loss since the last validation
    window_tokens: int = 0  # tokens since the last validation
    grad_norm: float = math.nan  # of the last step
    best: dict | None = None  # step, valid_loss, valid_bleu of the best checkpoint
    diverged_at: int | None = None  # the step whose loss was NaN or infinite
    converged_at: int | None = None  # the validation step where the convergence rule held
    # The kernel sets that trained the run from step 0, in order (meta.kernel_set); a state
    # written before runs recorded them starts the list at the process that resumes it.
    kernels: list[str] = field(default_factory=list)

    def trained_on(self, kernels: str) -> None:
        """Add a process's kernel set, unless the run goes on under the set it ended with."""
        if self.kernels[-1:] != [kernels]:
            self.kernels.append(kernels)


@dataclass
class Branches:
    """A ladder cell's branch states: states of its stable run kept at the steps its budgets'
    cooldowns start from. The stable run's segments write them (``end``: the step a segment
    trains to; ``keep``: the steps kept, its end among them); a cooldown (``end`` 0) starts
    from the newest one at or before its cooldown's start."""

    folder: Path
    end: int = 0
    keep: tuple[int, ...] = ()

    @property
    def stable(self) -> bool:
        return self.end > 0

    @property
    def inner(self) -> bool:
        """A stable segment that another follows: it adds no validation at its end beyond
        the ``eval_every`` grid, so that the stable curves hold the same steps whichever
        budgets cut the run into segments."""
        return self.stable and self.end < max(self.keep, default=self.end)


def resume_identity(model_cfg: ModelConfig, cfg: TrainConfig, seed: int) -> dict:
    """What a resume state must agree on: a state of another config is not resumed. Budgets
    and how the job runs may change (a longer budget continues the run), except the step
    budget of a schedule that decays to zero at it; the number of processes may not."""
    ignored = (
        "job",
        "max_minutes",
        "device",
        *(("max_steps",) if cfg.schedule not in ANNEALED_SCHEDULES else ()),
    )
    train_cfg = {k: v for k, v in asdict(cfg).items() if k not in ignored}
    return {"model": asdict(model_cfg), "train": train_cfg, "seed": seed, "processes": dist.world()}


def branch_identity(model_cfg: ModelConfig, cfg: TrainConfig, seed: int) -> dict:
    """What a ladder's branch state must agree on with the run that starts from it: the
    resume identity, less the cooldown's settings."""
    identity = resume_identity(model_cfg, cfg, seed)
    ignored = experiment.COOLDOWN_KEYS
    train_cfg = {k: v for k, v in identity["train"].items() if k not in ignored}
    return {**identity, "train": train_cfg}


def identity_of(model_cfg, cfg, seed, branches: Branches | None) -> dict:
    """The identity a run's own states carry: a stable run's do not depend on its budgets'
    cooldowns, so that raising the largest budget continues them."""
    stable = branches is not None and branches.stable
    return (branch_identity if stable else resume_identity)(model_cfg, cfg, seed)


def state_to_continue(
    files: RunFiles, model_cfg, cfg: TrainConfig, seed: int, branches: Branches | None, log
) -> dict | None:
    """The state a run continues from: its newest own resume state, else on a ladder its
    branch state (start_of_branch); None: a fresh start."""
    state = restore(files.resume, identity_of(model_cfg, cfg, seed, branches), log)
    if state is None and branches is not None:
        state = start_of_branch(branches, branch_identity(model_cfg, cfg, seed), cfg, log)
    return state


def start_of_branch(branches: Branches, identity: dict, cfg: TrainConfig, log) -> dict | None:
    """The branch state a ladder run starts from: for a stable segment, the newest at or
    before its end (none: a fresh start, and states of another configuration go); for a
    cooldown, the newest intact one at or before its cooldown's start. A cooldown whose
    state at its start is missing or corrupted trains the rest of the stable phase itself,
    from an earlier state or from step 0: the same numbers (a run resumed is the run
    uninterrupted), in more time."""
    if branches.stable:
        state = restore_branch(branches.folder, identity, branches.end, log)
        if state is None and branches.folder.exists():
            clear_other_states(branches.folder, identity, log)
        return state
    start = experiment.cooldown_start(cfg.max_steps, cfg.cooldown_fraction)
    state = restore_branch(branches.folder, identity, start, log)
    found = state["progress"]["step"] if state is not None else 0
    if found < start:
        log(
            f"warning: no intact state of this cell's stable run at step {start} in "
            f"{branches.folder}: training the stable phase from step {found} in this job"
        )
    log(
        f"cooldown to step {cfg.max_steps} from the stable run's state at step {found} "
        f"(cooldown from step {start})"
    )
    return state


def continue_from(state: dict, model, optimizer, model_cfg, files: RunFiles, log) -> None:
    """Load a state into the model and optimiser; a rerun job finds no outputs, so the best
    model so far goes back to the checkpoint (rank 0)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    progress = state["progress"]
    log(
        f"resumed at step {progress['step']} (epoch {progress['epoch']}, batch {progress['batch']})"
    )
    if state["best_model"] is not None and dist.is_main() and files.checkpoint:
        write_checkpoint(
            files.checkpoint, model_cfg, state["best_model"], **checkpoint_extra(progress["best"])
        )


def checkpoint_extra(best: dict) -> dict:
    """What the checkpoint says of its model besides the weights: its step and valid loss."""
    return {"step": best["step"], "valid_loss": best["valid_loss"]}
