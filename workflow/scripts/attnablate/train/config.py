"""A run's training settings and its learning-rate schedule.

Adam(0.9, 0.98) with linear warmup, then inverse-square-root decay, a linear decay that
reaches zero at the end of the step budget, or warmup-stable-decay (the peak rate, then a
cooldown to zero); label smoothing, dropout, gradient clipping, a budget of steps and/or
minutes. The defaults are the schema's (tests/test_defaults.py holds them together).
"""

import math
from dataclasses import dataclass, field

from attnablate.config import experiment


@dataclass
class JobConfig:
    """How a training job runs, not what it computes: none of it changes a run's numbers, so
    changing it reruns nothing and a run resumes from a state written under other values."""

    log_every: int = 50  # a progress line (and a read of the losses) every this many steps
    save_every: int = 500  # a resume state every this many steps ...
    save_minutes: float = 10.0  # ... and at least this often (preemption loses no more)
    compile: bool | str = "auto"  # torch.compile the model: true, false or "auto" (compiles())
    tensorboard: bool = True  # event files beside curves.tsv, for watching runs live


@dataclass
class TrainConfig:
    max_steps: int = 2000  # budget in optimiser steps (0: no step limit)
    max_minutes: float = 0.0  # budget in wall-clock minutes (0: no time limit)
    batch_tokens: int = 4000  # padded tokens per side in one batch
    # > 1: pad batches to a ladder of widths rising by this factor, batched by width (GPUs)
    bucket_ladder: float = 0.0
    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    warmup_steps: int = 300  # linear warmup to lr, then the schedule's decay
    # decay: "inverse_sqrt" (∝ 1/√step), "linear" (to 0 at max_steps) or "wsd" (constant,
    # then a cooldown to 0 over the last cooldown_fraction of max_steps)
    schedule: str = "inverse_sqrt"
    cooldown_fraction: float = 0.2  # wsd: the share of max_steps its cooldown takes
    cooldown_shape: str = "linear"  # wsd: "linear" or "1-sqrt" (lr · (1 - √progress))
    # end at the first validation where the convergence rule holds (max_steps stays a cap)
    stop_at_convergence: bool = False
    label_smoothing: float = 0.1  # of the training loss (validation loss is plain NLL)
    clip_norm: float = 1.0  # gradient norm clipping (0: none)
    eval_every: int = 200  # validate every this many steps, and at the end
    valid_bleu_sentences: int = 200  # greedy BLEU on this many first valid sentences
    max_len: int = 128  # training pairs with a side longer than this many tokens are dropped
    precision: str = "auto"  # of the training forward: fp32, bf16 or auto (training_precision)
    device: str = "auto"  # auto: cuda if present, else mps, else cpu
    job: JobConfig = field(default_factory=JobConfig)  # how the job runs

    def __post_init__(self):
        if isinstance(self.job, dict):  # as asdict() and meta.json write it
            self.job = JobConfig(**self.job)


SCHEDULES = ("inverse_sqrt", "linear", "wsd")


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr`` over ``warmup_steps`` (step 1 is the first update), then
    ``inverse_sqrt``: ``lr * sqrt(warmup / step)``; ``linear``: down in equal steps to
    ``lr / (max_steps + 1 - warmup)`` at the last step, annealing the run to its budget; or
    ``wsd`` (warmup-stable-decay): ``lr`` until experiment.cooldown_start, then down to the
    same last step's rate over the cooldown, in equal steps or as ``1 - √progress``."""
    step = max(step, 1)
    warm = step / cfg.warmup_steps
    if cfg.schedule == "inverse_sqrt":
        return cfg.lr * min(warm, math.sqrt(cfg.warmup_steps / step))
    start = cfg.warmup_steps
    if cfg.schedule == "wsd":
        start = experiment.cooldown_start(cfg.max_steps, cfg.cooldown_fraction)
    left = min(1.0, max(0.0, (cfg.max_steps + 1 - step) / (cfg.max_steps + 1 - start)))
    if cfg.schedule == "wsd" and cfg.cooldown_shape == "1-sqrt":
        left = 1.0 - math.sqrt(1.0 - left)
    return cfg.lr * min(warm, left)


def compiles(cfg: TrainConfig, device) -> bool:
    """Whether a run compiles its model. ``compile: auto`` compiles where it was measured to
    pay (docs/performance): on CUDA with width-ladder batches. On batches padded to their
    longest every step has a new shape, and on the CPU compiling costs minutes and gains
    nothing over eager bf16, with or without the ladder."""
    if cfg.job.compile == "auto":
        return device.type == "cuda" and cfg.bucket_ladder > 0
    return bool(cfg.job.compile)
