"""Training one (variant, size, match, seed) run: the loop, validation, curves, checkpoint.

Adam(0.9, 0.98) with linear warmup, then inverse-square-root decay or a linear decay that
reaches zero at the end of the step budget; label smoothing, dropout, gradient clipping, a
budget of steps and/or minutes. Validation at intervals (loss on the
whole valid set, BLEU of greedy translations of a fixed subset) goes to ``curves.tsv`` as it
happens; the checkpoint kept is the one with the best validation loss.
"""

import math
import os
import platform
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import sacrebleu
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from attnablate.config import experiment
from attnablate.data.batches import TokenBatches, length_filter
from attnablate.data.tokenizer import PAD, load_split, vocabulary_size
from attnablate.errors import ConfigurationError
from attnablate.evaluate.decode import DecodeConfig, translate
from attnablate.io import write_json, write_text, write_tsv
from attnablate.model.params import count_params
from attnablate.model.transformer import ModelConfig, Transformer
from attnablate.report.convergence import ANNEALED_SCHEDULES, CONVERGENCE_GAIN, convergence
from attnablate.train import distributed as dist
from attnablate.train import runtime
from attnablate.train.checkpoint import (
    KEEP_STATES,
    clear_states,
    restore,
    restore_branch,
    save_checkpoint,
    save_state,
    write_checkpoint,
)
from attnablate.train.dynamics import COLUMNS as DYNAMICS_COLUMNS
from attnablate.train.dynamics import diagnose
from attnablate.train.live import LiveCurves
from attnablate.train.runtime import autocast

CURVE_COLUMNS = (
    "step",
    "epoch",
    "tokens",
    "seconds",
    "lr",
    "train_loss",
    "grad_norm",
    "valid_loss",
    "valid_bleu",
)


PROBE_SENTENCES = 32  # the fixed valid batch on which attention diagnostics are measured
# Signals that ask a run to stop and be continued later: Slurm's warning before the time limit
# (the profile's --signal=USR1@300) and preemption or scancel (SIGTERM, then SIGKILL after a
# grace time). Training writes a resume state at the next step and exits with RESUME_EXIT.
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
RESUME_EXIT = 75  # EX_TEMPFAIL: "try again": the job is resubmitted (or rerun) and resumes


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
    log_every: int = 50  # a progress line (and a read of the losses) every this many steps
    save_every: int = 500  # a resume state every this many steps ...
    save_minutes: float = 10.0  # ... and at least this often (preemption loses no more)
    compile: bool | str = "auto"  # torch.compile the model: true, false or "auto" (compiles())
    precision: str = "auto"  # of the training forward: fp32, bf16 or auto (training_precision)
    tensorboard: bool = True  # event files beside curves.tsv, for watching runs live
    device: str = "auto"  # auto: cuda if present, else mps, else cpu


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


def token_loss(logits, target, label_smoothing: float = 0.0):
    """Summed cross-entropy over non-padding target tokens (a tensor: no host sync)."""
    return F.cross_entropy(
        logits.float().flatten(0, 1),
        target.flatten(),
        ignore_index=PAD,
        label_smoothing=label_smoothing,
        reduction="sum",
    )


def target_tokens(target) -> int:
    """Non-padding tokens of a batch's targets; counted on the CPU copy, before the transfer."""
    return int(target.ne(PAD).sum())


def train_step(
    model,
    optimizer,
    batch,
    n_all: float,
    weight: float,
    cfg: TrainConfig,
    step: int,
    device,
    forward=None,
):
    """One optimiser step on ``batch`` (src, tgt_in, tgt_out on ``device``), whose whole
    batch, over all ranks, has ``n_all`` target tokens; ``weight`` 0 marks a borrowed
    sentence (see shard_of). ``forward``: the DDP or compiled wrapper of ``model``.

    Returns the summed loss × weight and the gradient norm as device tensors: reading them
    is left to the caller, every few steps, so that the GPU never waits for the host.
    """
    src, tgt_in, tgt_out = batch
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, cfg)
    with autocast(device, cfg.precision):
        logits = (model if forward is None else forward)(src, tgt_in)  # (B, T, V)
    loss_sum = token_loss(logits, tgt_out, cfg.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    # DDP averages gradients over ranks: scaled so, they are those of the whole batch
    (loss_sum * (weight * dist.world()) / n_all).backward()
    clip = cfg.clip_norm if cfg.clip_norm > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss_sum.detach() * weight, grad_norm


@torch.no_grad()
def validation_loss(model, batches: TokenBatches, device) -> float:
    """Mean per-token NLL (no label smoothing) over the whole valid set, in fp32 whatever the
    training precision, so that runs of either precision are measured alike."""
    model.eval()
    total, count = 0.0, 0
    for indices in batches.epoch(0):
        src, tgt_in, tgt_out = batches.batch(indices)
        n = target_tokens(tgt_out)
        logits = model(src.to(device), tgt_in.to(device))
        total, count = total + token_loss(logits, tgt_out.to(device)).item(), count + n
    return total / count


def validation_bleu(model, src: list, refs: list, sp, device) -> float:
    hyps = translate(model, src, DecodeConfig(beam_size=1), device)
    return sacrebleu.corpus_bleu([sp.decode(h) for h in hyps], [refs]).score


class Curves:
    """curves.tsv, rewritten row by row so that a person can follow a run while it trains;
    the rows also travel in every resume state, since a rerun job starts without the file."""

    def __init__(self, path, rows: list | None = None):
        self.path = Path(path)
        self.rows = list(rows or [])
        write_text(self.path, self._text())

    def add(self, **row) -> None:
        self.rows.append({column: _fmt(row.get(column)) for column in CURVE_COLUMNS})
        write_text(self.path, self._text())

    def _text(self) -> str:
        lines = ["\t".join(CURVE_COLUMNS)] + ["\t".join(r.values()) for r in self.rows]
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


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


def resume_identity(model_cfg: ModelConfig, cfg: TrainConfig, seed: int) -> dict:
    """What a resume state must agree on: a state of another config is not resumed. Budgets
    and logging may change (a longer budget continues the run), except the step budget of a
    schedule that decays to zero at it; the number of processes may not."""
    ignored = (
        *experiment.NEUTRAL_TRAIN_KEYS,
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


@dataclass
class Branches:
    """A ladder cell's branch states: states of its stable run kept at the steps its budgets'
    cooldowns start from, in a folder that no job declares as output (a job that reruns loses
    its declared outputs, and these must outlive it). The stable run writes them (``end``: the
    step it trains to; ``keep``: the steps it keeps, its end among them); a cooldown
    (``end`` 0) starts from the newest one at or before its cooldown's start."""

    folder: Path
    end: int = 0
    keep: tuple[int, ...] = ()

    @property
    def stable(self) -> bool:
        return self.end > 0


def resume_folder(outputs: dict) -> Path:
    """Where a run's resume states live: beside its meta.json."""
    return Path(outputs["meta"]).parent / "resume"


def log_main(*args, **kwargs) -> None:
    """print, on rank 0 only (every rank runs the same code)."""
    if dist.is_main():
        print(*args, **kwargs)


def compiles(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether a run compiles its model. ``compile: auto`` compiles where it was measured to
    pay (docs/performance): on CUDA with width-ladder batches. On batches padded to their
    longest every step has a new shape, and on the CPU compiling costs minutes and gains
    nothing over eager bf16, with or without the ladder."""
    if cfg.compile == "auto":
        return device.type == "cuda" and cfg.bucket_ladder > 0
    return bool(cfg.compile)


def training_device(cfg: TrainConfig, threads: int) -> torch.device:
    """This process's device (one GPU per rank under DDP), threads and kernel settings."""
    torch.set_num_threads(threads)
    device = runtime.pick_device(cfg.device)
    if device.type == "cuda" and dist.world() > 1:
        device = torch.device("cuda", dist.rank())
    runtime.configure_kernels(device)
    return device


@dataclass
class RunData:
    """A run's data, loaded once: training batches, the valid set that validation scores and
    the fixed probe batch on which attention diagnostics are measured."""

    batches: TokenBatches  # training pairs within max_len
    valid_batches: TokenBatches  # the whole valid set (validation loss)
    valid_src: list  # valid source ids (greedy BLEU on the first valid_bleu_sentences)
    valid_refs: list  # valid references, plain text
    sp: spm.SentencePieceProcessor  # to detokenise greedy translations
    probe: list  # src, tgt_in, tgt_out of the first PROBE_SENTENCES valid pairs, on the device
    dropped: int  # training pairs dropped as longer than max_len


def load_data(cfg: TrainConfig, data: dict, seed: int, device, log) -> RunData:
    """``data``: ``train``/``valid`` (.npz id files), ``spm`` (model), ``valid_ref`` (text)."""
    train_src, train_tgt = load_split(data["train"])
    train_src, train_tgt, dropped = length_filter(train_src, train_tgt, cfg.max_len)
    log(f"train pairs: {len(train_src)} ({dropped} longer than {cfg.max_len} tokens dropped)")
    if not train_src:
        raise ConfigurationError(
            "train.max_len",
            f"no training pair has both sides within {cfg.max_len} "
            f"tokens (all {dropped} dropped): raise it",
        )
    valid_src, valid_tgt = load_split(data["valid"])
    batches = TokenBatches(train_src, train_tgt, cfg.batch_tokens, seed, cfg.bucket_ladder)
    valid = TokenBatches(valid_src, valid_tgt, cfg.batch_tokens, seed, cfg.bucket_ladder)
    probe = valid.batch(range(min(PROBE_SENTENCES, len(valid_src))))
    return RunData(
        batches=batches,
        valid_batches=valid,
        valid_src=valid_src,
        valid_refs=Path(data["valid_ref"]).read_text(encoding="utf-8").splitlines(),
        sp=spm.SentencePieceProcessor(model_file=str(data["spm"])),
        probe=[t.to(device) for t in probe],
        dropped=dropped,
    )


def build_model(model_cfg: ModelConfig, cfg: TrainConfig, seed: int, device):
    """The model from ``seed`` (every rank the same), its DDP wrapper under several processes,
    and Adam; each rank then draws its own dropout masks."""
    torch.manual_seed(seed)
    model = Transformer(model_cfg).to(device)
    if dist.rank() > 0:
        torch.manual_seed(seed + dist.rank())
    ddp = DistributedDataParallel(model) if dist.world() > 1 else model
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=cfg.lr,
        betas=(0.9, 0.98),
        eps=1e-9,
        **runtime.optimizer_options(device),
    )
    return model, ddp, optimizer


class Trainer:
    """One run's training, in the order it happens: ``run`` steps until the budget is spent,
    validating and saving resume states as they fall due; ``finish`` (rank 0) writes the last
    validation, the checkpoint's final word and meta.json. Data, model and the state to
    resume from are made by ``train`` and passed in."""

    def __init__(
        self,
        model_cfg: ModelConfig,
        cfg: TrainConfig,
        seed: int,
        run_data: RunData,
        model: Transformer,
        ddp,
        optimizer,
        outputs: dict,
        run_info: dict,
        threads: int,
        state: dict | None,
        identity: dict,
        branches: Branches | None = None,
    ):
        self.model_cfg, self.cfg, self.seed = model_cfg, cfg, seed
        self.identity, self.branches = identity, branches
        self.data, self.model, self.ddp, self.optimizer = run_data, model, ddp, optimizer
        self.outputs, self.run_info, self.threads = outputs, run_info, threads
        self.device = run_data.probe[0].device
        self.log = log_main
        self.params = {
            "total": count_params(model),
            "non_embedding": count_params(model, "non_embedding"),
        }
        self.log(f"model: {model_cfg}")
        self.log(
            f"parameters: {self.params['total']:,} ({self.params['non_embedding']:,} non-embedding)"
        )
        self.log(f"device: {self.device}, threads: {threads}, processes: {dist.world()}")
        if dist.world() > 1:
            print(f"rank {dist.rank()} of {dist.world()} ready (pid {os.getpid()})", flush=True)
        self.resume_dir = resume_folder(outputs)
        self.end = branches.end if branches and branches.stable else cfg.max_steps
        self.p = Progress(**state["progress"]) if state else Progress()
        rows = state["curves"] if state else []
        branched = state is not None and state["fingerprint"] != identity  # a branch state
        self.curves = Curves(outputs["curves"], rows) if dist.is_main() else None
        self.live = (
            LiveCurves(Path(outputs["curves"]).parent, fresh=state is None or branched)
            if cfg.tensorboard and dist.is_main()
            else None
        )
        self.dynamics_rows = state["dynamics"] if state else []
        self.best_weights = state["best_model"] if state else None  # of the run's best step
        probe = run_data.probe
        self.peak = runtime.peak_flops(self.device)  # GPU runs print their MFU
        self.flops_per_token = (
            runtime.training_flops_per_token(model, probe[0], probe[1], target_tokens(probe[2]))
            if self.peak
            else None
        )
        self.start = time.monotonic() - self.p.seconds
        self.budget_seconds = cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf
        self.last_save = time.monotonic()
        if state is not None:  # last: building the model above draws random numbers
            torch.set_rng_state(state["rng"][dist.rank()])
        self.pending = []  # (step, target tokens, loss tensor, grad-norm tensor) not yet read
        self.timing = {"data": 0.0, "total": 0.0}  # seconds fetching batches; whole steps

    def out_of_budget(self) -> bool:
        """The step or time budget is spent (a stable run: its end), the run converged, or
        it diverged before this process (a branch state may have); rank 0 decides."""
        steps_done = self.end > 0 and self.p.step >= self.end
        out_of_time = time.monotonic() - self.start >= self.budget_seconds
        ended = self.p.converged_at is not None or self.p.diverged_at is not None
        return steps_done or out_of_time or ended

    def validate(self) -> None:
        """Valid loss and greedy BLEU to curves.tsv, diagnostics to dynamics.tsv; the best
        model so far to the checkpoint."""
        p, model, data = self.p, self.model, self.data
        n = min(self.cfg.valid_bleu_sentences, len(data.valid_src))
        loss = validation_loss(model, data.valid_batches, self.device)
        bleu = validation_bleu(model, data.valid_src[:n], data.valid_refs[:n], data.sp, self.device)
        model.train()
        train_loss = p.window_loss / p.window_tokens if p.window_tokens else None
        row = dict(
            step=p.step,
            epoch=p.epoch,
            tokens=p.tokens,
            seconds=time.monotonic() - self.start,
            lr=learning_rate(p.step, self.cfg),
            train_loss=train_loss,
            grad_norm=p.grad_norm,
            valid_loss=loss,
            valid_bleu=bleu,
        )
        self.curves.add(**row)
        p.window_loss, p.window_tokens = 0.0, 0
        self.add_dynamics(diagnose(model, data.probe[0], data.probe[1], p.step))
        if self.live:
            self.live.curves(row)
        self.log(
            f"step {p.step}: valid loss {loss:.4f}, valid BLEU (greedy) {bleu:.2f}", flush=True
        )
        if self.cfg.stop_at_convergence and convergence(self.curves.rows)["converged"]:
            p.converged_at = p.step
            self.log(
                f"step {p.step}: converged (best valid loss improved by less than "
                f"{CONVERGENCE_GAIN:.0%} over the last quarter of the steps): stopping"
            )
        if p.best is None or loss < p.best["valid_loss"]:
            p.best = {"step": p.step, "valid_loss": loss, "valid_bleu": bleu}
            self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if "checkpoint" in self.outputs:  # a stable run keeps states, not a model
                save_checkpoint(self.outputs["checkpoint"], model, **checkpoint_extra(p.best))

    def add_dynamics(self, rows: list[dict]) -> None:
        """Diagnostics of one step, to dynamics.tsv (and TensorBoard)."""
        self.dynamics_rows.extend(rows)
        self.write_dynamics()
        if self.live:
            self.live.dynamics(rows)

    def write_dynamics(self) -> None:
        if "dynamics" in self.outputs:
            write_tsv(self.outputs["dynamics"], self.dynamics_rows, DYNAMICS_COLUMNS)

    def save_resume_state(self, folder=None, keep=KEEP_STATES, rng=None) -> None:
        """A state to resume from, in the resume folder (or ``folder``, keeping ``keep``);
        ``rng``: every rank's random state, gathered already (else here, by every rank)."""
        rng = dist.gather(torch.get_rng_state()) if rng is None else rng  # dropout streams
        if not dist.is_main():
            return
        self.p.seconds = time.monotonic() - self.start
        save_state(
            folder or self.resume_dir,
            self.p.step,
            {
                "fingerprint": self.identity,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": rng,
                "progress": asdict(self.p),
                "curves": self.curves.rows,
                "dynamics": self.dynamics_rows,
                "best_model": self.best_weights,
            },
            keep,
        )

    def due_branch(self) -> bool:
        """Whether a stable run is at a step a cooldown starts from (its end is kept by
        finish, after the last validation)."""
        branches = self.branches
        stable = bool(branches and branches.stable)
        return stable and self.p.step in branches.keep and self.p.step != self.end

    @staticmethod
    def shard_of(indices):
        """This rank's sentences of a batch, and 1; a rank left without any borrows the
        first sentence and weighs it 0, so that every rank runs the same collectives."""
        shard = indices[dist.rank() :: dist.world()]
        return (shard, 1.0) if len(shard) else (indices[:1], 0.0)

    def settle(self) -> bool:
        """Read the pending steps' losses, one host sync for many steps. A NaN or infinite
        loss ends the run: progress stays at the last finite step. True if it diverged."""
        p, pending = self.p, self.pending
        if not pending:
            return False
        losses = dist.all_sum_tensor(torch.stack([e[2] for e in pending]).double()).tolist()
        norms = torch.stack([e[3] for e in pending]).tolist()
        for (step, tokens, _, _), loss, norm in zip(pending, losses, norms):
            if not math.isfinite(loss / tokens):
                p.diverged_at, p.step = step, step - 1
                self.log(f"step {step}: loss is {loss / tokens}: the run diverged; stopping")
                break
            p.tokens += int(tokens)
            p.window_loss, p.window_tokens = p.window_loss + loss, p.window_tokens + int(tokens)
            p.grad_norm = norm
        pending.clear()
        return p.diverged_at is not None

    def run(self, stop_requested=lambda: False) -> bool:
        """Step until the budget is spent or the loss diverges; True if ``stop_requested()``
        (on rank 0) ended it first, with a resume state written at the step it reached."""
        p, cfg, timing = self.p, self.cfg, self.timing
        if p.step == 0 and dist.is_main():
            # What the construction imposes before any training (tied keys: a symmetric form,
            # a heavy diagonal), so that what training changes can be told apart from it.
            # Draws no random numbers: the run's numbers are those of a run without it.
            self.dynamics_rows = []
            self.add_dynamics(diagnose(self.model, self.data.probe[0], self.data.probe[1], 0))
        self.model.train()
        stream = self.data.batches.stream(p.epoch, p.batch + 1)
        forward = self.ddp
        if cfg.compile:
            # kernels fused on first use, for any batch shape; the weights stay the model's
            forward = torch.compile(self.ddp, dynamic=True)
        while True:
            done, stop = dist.from_main(self.out_of_budget(), stop_requested())
            if done:
                break
            if stop:
                self.settle()
                self.save_resume_state()
                return True
            began = time.perf_counter()
            self.step(stream, forward)
            due_log = p.step % cfg.log_every == 0
            due_eval = p.step % cfg.eval_every == 0
            minutes_since_save = (time.monotonic() - self.last_save) / 60
            due_save = p.step % cfg.save_every == 0 or minutes_since_save >= cfg.save_minutes
            due_save = dist.from_main(due_save)[0]
            due_branch = self.due_branch()
            if (due_log or due_eval or due_save or due_branch) and self.settle():
                break
            timing["total"] += time.perf_counter() - began  # with the wait for the GPU
            if due_log:
                self.log_progress()
            if due_eval and dist.is_main():
                self.validate()
            if due_save:
                self.save_resume_state()
                self.last_save = time.monotonic()
            if due_branch:
                self.save_resume_state(self.branches.folder, keep=None)
        self.settle()
        return False

    def step(self, stream, forward) -> None:
        """One optimiser step on the stream's next batch (this rank's shard of it)."""
        p, began = self.p, time.perf_counter()
        epoch, index, indices = next(stream)
        shard, weight = self.shard_of(indices)
        src, tgt_in, tgt_out = self.data.batches.batch(shard)
        (n_all,) = dist.all_sum(target_tokens(tgt_out) * weight)  # the whole batch's tokens
        batch = runtime.to_device((src, tgt_in, tgt_out), self.device)
        self.timing["data"] += time.perf_counter() - began
        loss, grad_norm = train_step(
            self.model,
            self.optimizer,
            batch,
            n_all,
            weight,
            self.cfg,
            p.step + 1,
            self.device,
            forward,
        )
        p.step, p.epoch, p.batch = p.step + 1, epoch, index
        self.pending.append((p.step, n_all, loss, grad_norm))

    def log_progress(self) -> None:
        p, cfg = self.p, self.cfg
        elapsed = time.monotonic() - self.start
        left = _time_left(p.step, elapsed, cfg, self.budget_seconds)
        data_share = self.timing["data"] / self.timing["total"]
        self.log(
            f"step {p.step}/{cfg.max_steps or '-'} | loss {p.window_loss / p.window_tokens:.4f}"
            f" | {p.tokens / elapsed:,.0f} tok/s | data {data_share:.1%} of step time"
            f"{_mfu(self.flops_per_token, p.tokens / elapsed, self.peak)}"
            f" | {_clock(elapsed)} elapsed, ~{_clock(left)} left",
            flush=True,
        )

    def finish(self, rng=None) -> dict:
        """Rank 0: a last validation, the checkpoint's final word, meta.json (a stable run:
        its last branch state, with every rank's random state ``rng``); the resume states go,
        since the run is complete."""
        p, model = self.p, self.model
        last_row = self.curves.rows[-1] if self.curves.rows else None
        validated_last_step = last_row is not None and last_row["step"] == str(p.step)
        if p.diverged_at is None and not validated_last_step:
            self.validate()
        if p.diverged_at is not None:
            # The checkpoint says so, for translate: a diverged run is a result, not a model
            # to score (its best checkpoint predates the divergence and would flatter it).
            if self.best_weights is not None:
                model.load_state_dict(self.best_weights)
            extra = checkpoint_extra(p.best or {"step": p.step, "valid_loss": float("nan")})
            if "checkpoint" in self.outputs:
                save_checkpoint(
                    self.outputs["checkpoint"], model, **extra, diverged_at=p.diverged_at
                )
        self.write_dynamics()  # also when the run diverged before its first validation
        if self.branches and self.branches.stable:  # its end, diverged or not
            self.save_resume_state(self.branches.folder, keep=None, rng=rng)
        meta = self.meta(time.monotonic() - self.start)
        write_json(self.outputs["meta"], meta)
        shutil.rmtree(self.resume_dir, ignore_errors=True)
        if self.live:
            self.live.close()
        print(
            f"done: {p.step} steps, {p.tokens:,} target tokens in {_clock(meta['train_seconds'])}"
        )
        return meta

    def meta(self, seconds: float) -> dict:
        p, timing = self.p, self.timing
        mfu = self.flops_per_token and self.flops_per_token * p.tokens / seconds / self.peak
        return {
            **self.run_info,
            "params_total": self.params["total"],
            "params_non_embedding": self.params["non_embedding"],
            "steps": p.step,
            "epochs": p.epoch + 1,
            "epochs_seen": round(p.tokens / int(self.data.batches.tgt_len.sum()), 3),  # of targets
            "tokens": p.tokens,
            "train_seconds": round(seconds, 2),
            "tokens_per_second": round(p.tokens / seconds, 1) if seconds else None,
            "best_step": p.best and p.best["step"],
            "best_valid_loss": p.best and p.best["valid_loss"],
            "best_valid_bleu": p.best and p.best["valid_bleu"],
            "diverged": p.diverged_at is not None,
            "diverged_at": p.diverged_at,
            "converged_at": p.converged_at,
            "dropped_long_pairs": self.data.dropped,
            "mfu": round(mfu, 4) if mfu else None,
            "data_wait_share": (
                round(timing["data"] / timing["total"], 4) if timing["total"] else None
            ),
            "device": str(self.device),
            "threads": self.threads,
            "versions": {"torch": torch.__version__, "python": platform.python_version()},
            # the kernels' instruction set: the same seed gives the same bits only with the same
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "platform": platform.platform(),
            "model_config": asdict(self.model_cfg),
            "train_config": asdict(self.cfg),
        }


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    seed: int,
    data: dict,
    outputs: dict,
    run_info: dict,
    threads: int = 1,
    branches: Branches | None = None,
) -> dict:
    """Train one run and write ``outputs``: ``checkpoint``, ``curves``, ``meta`` (and
    ``dynamics``); returns meta.json's content (an empty dict on ranks other than 0).

    ``data``: ``train``/``valid`` (.npz id files), ``spm`` (model), ``valid_ref`` (text).
    ``run_info`` (variant, size, match, seed, ...) is copied into meta.json. Resume states go
    to ``resume/`` beside meta.json; a run that finds one continues from it, with the
    same optimiser, schedule, random state and data position, and ends where an
    uninterrupted run would. On a ladder (``branches``), a stable run (no ``checkpoint``
    output) continues from its newest branch state up to its end, and a cooldown without a
    resume state of its own starts from the newest branch state at or before its cooldown's
    start: either ends where one uninterrupted run would.
    """
    received = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    experiment.check_train(asdict(cfg))
    device = training_device(cfg, threads)
    precision = runtime.training_precision(cfg.precision, device)
    # meta.json records what was done, and a resume state of another precision is not resumed
    cfg = replace(cfg, compile=compiles(cfg, device), precision=precision)
    log = log_main
    run_data = load_data(cfg, data, seed, device, log)
    model, ddp, optimizer = build_model(model_cfg, cfg, seed, device)
    stable = branches is not None and branches.stable
    # a stable run's states do not depend on its budgets' cooldowns: raising the largest
    # budget continues them
    identity = (branch_identity if stable else resume_identity)(model_cfg, cfg, seed)
    state = restore(resume_folder(outputs), identity, log)
    if state is None and branches is not None:
        state = start_of_branch(branches, branch_identity(model_cfg, cfg, seed), cfg, log)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        progress = state["progress"]
        log(
            f"resumed at step {progress['step']} (epoch {progress['epoch']}, "
            f"batch {progress['batch']})"
        )
        has_checkpoint = "checkpoint" in outputs
        if state["best_model"] is not None and dist.is_main() and has_checkpoint:
            # a rerun job finds no outputs
            write_checkpoint(
                outputs["checkpoint"],
                model_cfg,
                state["best_model"],
                **checkpoint_extra(progress["best"]),
            )
    trainer = Trainer(
        model_cfg,
        cfg,
        seed,
        run_data,
        model,
        ddp,
        optimizer,
        outputs,
        run_info,
        threads,
        state,
        identity,
        branches,
    )
    if trainer.run(stop_requested=lambda: bool(received)):
        names = ", ".join(signal.Signals(s).name for s in dict.fromkeys(received)) or "rank 0"
        trainer.log(
            f"stopped by {names} at step {trainer.p.step}: resume state written; "
            "the job's rerun continues from it",
            flush=True,
        )
        if trainer.live:
            trainer.live.close()
        sys.exit(RESUME_EXIT)
    # a stable run keeps its last state after its last validation, on rank 0 alone: every
    # rank's dropout stream is gathered here, while every rank still runs
    rng = dist.gather(torch.get_rng_state()) if stable else None
    return trainer.finish(rng) if dist.is_main() else {}


def start_of_branch(branches: Branches, identity: dict, cfg: TrainConfig, log) -> dict | None:
    """The branch state a ladder run starts from: for the stable run, its newest (none: a
    fresh start, and states of another configuration go); for a cooldown, the newest at or
    before its cooldown's start, which must exist (the stable run is its input)."""
    if branches.stable:
        state = restore_branch(branches.folder, identity, branches.end, log)
        if state is None and branches.folder.exists():
            clear_states(branches.folder)
        return state
    start = experiment.cooldown_start(cfg.max_steps, cfg.cooldown_fraction)
    state = restore_branch(branches.folder, identity, start, log)
    if state is None:
        raise ConfigurationError(
            "train.budgets",
            f"no state of this cell's stable run at step {start} or before in "
            f"{branches.folder}: rerun it (snakemake --forcerun stable)",
        )
    log(
        f"cooldown to step {cfg.max_steps} from the stable run's state at step "
        f"{state['progress']['step']} (cooldown from step {start})"
    )
    return state


def checkpoint_extra(best: dict) -> dict:
    """What the checkpoint says of its model besides the weights: its step and valid loss."""
    return {"step": best["step"], "valid_loss": best["valid_loss"]}


def _mfu(flops_per_token, tokens_per_second: float, peak) -> str:
    if not flops_per_token:
        return ""
    return f" | MFU {flops_per_token * tokens_per_second / peak:.1%}"


def _time_left(step: int, elapsed: float, cfg: TrainConfig, budget_seconds: float) -> float:
    by_steps = elapsed / step * (cfg.max_steps - step) if cfg.max_steps > 0 else math.inf
    return max(0.0, min(by_steps, budget_seconds - elapsed))


def branch_folder(outputs: dict) -> Path:
    """A ladder cell's branch states: beside its stable run's and its budgets' folders."""
    return Path(outputs["meta"]).parent.parent / "branches"


def run_train(
    params,
    neutral: dict,
    run: dict,
    inputs: dict,
    outputs: dict,
    threads: int,
    ladder: dict | None = None,
) -> None:
    """Step ``train`` (one run, or on a ladder one budget's cooldown) or ``stable``; ``run``
    holds its wildcards. ``params``, the rule's, hold what the run's numbers depend on:
    ``model`` (its config, built with the vocabulary asked for: the tokenizer's real one
    replaces it), ``train`` (the recipe at its size), ``device`` and ``processes``.
    ``neutral``: train settings that change none of this job's numbers, read from the config
    so that changing them reruns nothing (``experiment.NEUTRAL_TRAIN_KEYS``: logging,
    saving, compiling; for a stable run also its cooldown's). ``ladder``: on a ladder, the
    Branches fields besides the folder (a stable run's ``end`` and ``keep``)."""
    model_cfg = ModelConfig(**{**params.model, "vocab_size": vocabulary_size(inputs["spm"])})
    train_cfg = TrainConfig(**params.train, **neutral, device=params.device)
    run_info = {**run, **{key: int(run[key]) for key in ("seed", "budget") if key in run}}
    branches = None if ladder is None else Branches(branch_folder(outputs), **ladder)
    args = (
        model_cfg,
        train_cfg,
        int(run["seed"]),
        dict(inputs),
        dict(outputs),
        run_info,
        threads,
        branches,
    )
    processes = params.processes
    if processes > 1:
        # Slurm signals every process of the job: the launcher waits for its ranks to stop.
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: None)
    dist.launch(processes, train, *args)
