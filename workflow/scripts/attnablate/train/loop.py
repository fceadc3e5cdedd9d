"""Training one (variant, size, match, seed) run: the loop.

``train`` loads the data, builds the model (setup.py) and the state to continue from, and
hands them to a ``Trainer``, which steps until the budget is spent, validating and saving
resume states as they fall due; its records (records.py) and its states (state.py) are
modules of their own.
Validation at intervals (loss on the whole valid set, BLEU of greedy translations of a fixed
subset) goes to ``curves.tsv`` as it happens; the checkpoint kept is the one with the best
validation loss; ``meta.json`` (meta.py) says at the end what the run did.
"""

import math
import os
import platform
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch

from attnablate.config.checks import check_train
from attnablate.convergence import CONVERGENCE_GAIN, convergence
from attnablate.meta import RunMeta
from attnablate.model.calibrate import calibrate, needs_calibration
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.timing import JobClock
from attnablate.train import distributed as dist
from attnablate.train import runtime
from attnablate.train.checkpoint import KEEP_STATES, save_checkpoint, save_state
from attnablate.train.config import TrainConfig, compiles, learning_rate
from attnablate.train.dynamics import diagnose
from attnablate.train.files import DataFiles, RunFiles
from attnablate.train.records import Records
from attnablate.train.setup import (
    Learner,
    Meter,
    RunData,
    build_model,
    load_data,
    log_main,
    training_device,
)
from attnablate.train.state import (
    Branches,
    Progress,
    checkpoint_extra,
    continue_from,
    identity_of,
    state_to_continue,
)
from attnablate.train.step import target_tokens, train_step

CALIBRATION_SENTENCES = 64  # the first training pairs, on which a data-set start is fitted
# Signals that ask a run to stop and be continued later: Slurm's warning before the time limit
# (the profile's --signal=USR1@300) and preemption or scancel (SIGTERM, then SIGKILL after a
# grace time). Training writes a resume state at the next step and exits with RESUME_EXIT.
STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
RESUME_EXIT = 75  # EX_TEMPFAIL: "try again": the job is resubmitted (or rerun) and resumes


@dataclass(frozen=True)
class Run:
    """What one run trains: the model, the recipe and the seed; ``keys`` (variant, size,
    match, seed, ...) go into meta.json; ``threads``: the CPU threads of each process."""

    model_cfg: ModelConfig
    cfg: TrainConfig
    seed: int
    keys: dict
    threads: int = 1


class Trainer:
    """One run's training, in the order it happens: ``run`` steps until the budget is spent,
    validating and saving resume states as they fall due; ``finish`` (rank 0) writes the last
    validation, the checkpoint's final word and meta.json. Data, model and the state to
    continue from are made by ``train`` and passed in."""

    def __init__(
        self,
        run: Run,
        data: RunData,
        learner: Learner,
        files: RunFiles,
        state: dict | None,
        branches: Branches | None = None,
    ):
        self.spec, self.data, self.learner = run, data, learner
        self.files, self.branches = files, branches
        self.identity = identity_of(run.model_cfg, run.cfg, run.seed, branches)
        self.device = data.probe[0].device
        self.log = log_main
        model = learner.model
        self.params = {
            "total": count_params(model),
            "non_embedding": count_params(model, "non_embedding"),
        }
        self.log(f"model: {run.model_cfg}")
        self.log(
            f"parameters: {self.params['total']:,} ({self.params['non_embedding']:,} non-embedding)"
        )
        self.log(f"device: {self.device}, threads: {run.threads}, processes: {dist.world()}")
        if dist.world() > 1:
            print(f"rank {dist.rank()} of {dist.world()} ready (pid {os.getpid()})", flush=True)
        self.end = branches.end if branches and branches.stable else self.cfg.max_steps
        self.p = Progress(**state["progress"]) if state else Progress()
        self.p.trained_on(runtime.kernels_here(self.device, run.threads))
        branched = state is not None and state["fingerprint"] != self.identity  # a branch state
        self.records = (
            Records(
                files,
                state,
                fresh=state is None or branched,
                tensorboard=self.cfg.job.tensorboard,
                task=data.task,
            )
            if dist.is_main()
            else None
        )
        self.best_weights = state["best_model"] if state else None  # of the run's best step
        self.meter = Meter(model, data.probe, self.device)
        self.clock = JobClock()  # where this job's time goes, for its log's last line
        self.start = time.monotonic() - self.p.seconds
        self.budget_seconds = self.cfg.max_minutes * 60 if self.cfg.max_minutes > 0 else math.inf
        self.last_save = time.monotonic()
        if state is not None:  # last: building the model above draws random numbers
            torch.set_rng_state(state["rng"][dist.rank()])
        self.pending = []  # (step, target tokens, loss tensor, grad-norm tensor) not yet read

    @property
    def cfg(self) -> TrainConfig:
        return self.spec.cfg

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
        p, model, data = self.p, self.learner.model, self.data
        began = time.perf_counter()
        loss, score = data.validation(model, self.cfg.valid_bleu_sentences, self.device)
        measure = data.task.valid_measure  # valid_bleu, valid_accuracy
        model.train()
        train_loss = p.window_loss / p.window_tokens if p.window_tokens else None
        self.records.validation(
            dict(
                step=p.step,
                epoch=p.epoch,
                tokens=p.tokens,
                seconds=time.monotonic() - self.start,
                lr=learning_rate(p.step, self.cfg),
                train_loss=train_loss,
                grad_norm=p.grad_norm,
                valid_loss=loss,
                **{measure: score},
            )
        )
        p.window_loss, p.window_tokens = 0.0, 0
        self.records.add_dynamics(diagnose(model, *data.probe[:-1], step=p.step))
        self.log(f"step {p.step}: valid loss {loss:.4f}, {measure} {score:.2f}", flush=True)
        if self.cfg.stop_at_convergence and convergence(self.records.curves.rows)["converged"]:
            p.converged_at = p.step
            self.log(
                f"step {p.step}: converged (best valid loss improved by less than "
                f"{CONVERGENCE_GAIN:.0%} over the last quarter of the steps): stopping"
            )
        if p.best is None or loss < p.best["valid_loss"]:
            p.best = {"step": p.step, "valid_loss": loss, measure: score}
            self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if self.files.checkpoint:  # a stable run keeps states, not a model
                save_checkpoint(self.files.checkpoint, model, **checkpoint_extra(p.best))
        self.clock.add("evaluation", time.perf_counter() - began)

    def save_resume_state(self, folder=None, keep=KEEP_STATES, rng=None) -> None:
        """A state to resume from, in the resume folder (or ``folder``, keeping ``keep``);
        ``rng``: every rank's random state, gathered already (else here, by every rank)."""
        rng = dist.gather(torch.get_rng_state()) if rng is None else rng  # dropout streams
        if not dist.is_main():
            return
        began = time.perf_counter()
        self.p.seconds = time.monotonic() - self.start
        save_state(
            folder or self.files.resume,
            self.p.step,
            {
                "fingerprint": self.identity,
                "model": self.learner.model.state_dict(),
                "optimizer": self.learner.optimizer.state_dict(),
                "rng": rng,
                "progress": asdict(self.p),
                "curves": self.records.curves.rows,
                "dynamics": self.records.dynamics,
                "best_model": self.best_weights,
            },
            keep,
        )
        self.clock.add("states", time.perf_counter() - began)

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
        p, cfg = self.p, self.cfg
        model = self.learner.model
        self.clock.begin()
        if p.step == 0 and dist.is_main():
            # What the construction imposes before any training (tied keys: a symmetric form,
            # a heavy diagonal), so that what training changes can be told apart from it.
            # Draws no random numbers: the run's numbers are those of a run without it.
            began = time.perf_counter()
            self.records.restart_dynamics(diagnose(model, *self.data.probe[:-1], step=0))
            self.clock.add("evaluation", time.perf_counter() - began)
        model.train()
        stream = self.data.batches.stream(p.epoch, p.batch + 1)
        forward = self.learner.ddp
        if cfg.job.compile:
            # kernels fused on first use, for any batch shape; the weights stay the model's
            forward = torch.compile(self.learner.ddp, dynamic=True)
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
            due_log = p.step % cfg.job.log_every == 0
            due_eval = p.step % cfg.eval_every == 0
            minutes_since_save = (time.monotonic() - self.last_save) / 60
            due_save = (
                p.step % cfg.job.save_every == 0 or minutes_since_save >= cfg.job.save_minutes
            )
            due_save = dist.from_main(due_save)[0]
            due_branch = self.due_branch()
            if (due_log or due_eval or due_save or due_branch) and self.settle():
                break
            self.meter.step_seconds += time.perf_counter() - began  # with the wait for the GPU
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
        batch = self.data.batches.batch(shard, epoch)  # the model's inputs, then the target
        (n_all,) = dist.all_sum(target_tokens(batch[-1]) * weight)  # the whole batch's tokens
        batch = runtime.to_device(batch, self.device)
        self.meter.data_seconds += time.perf_counter() - began
        loss, grad_norm = train_step(
            self.learner.model,
            self.learner.optimizer,
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
        self.log(
            f"step {p.step}/{cfg.max_steps or '-'} | loss {p.window_loss / p.window_tokens:.4f}"
            f" | {p.tokens / elapsed:,.0f} tok/s | data {self.meter.data_share():.1%} of step time"
            f"{self.meter.mfu_text(p.tokens / elapsed)}"
            f" | {_clock(elapsed)} elapsed, ~{_clock(left)} left",
            flush=True,
        )

    def finish(self, rng=None) -> RunMeta:
        """Rank 0: a last validation, the checkpoint's final word, meta.json (a stable run:
        its last branch state, with every rank's random state ``rng``); the resume states go,
        since the run is complete."""
        p, model = self.p, self.learner.model
        rows = self.records.curves.rows
        validated_last_step = bool(rows) and rows[-1]["step"] == str(p.step)
        inner = self.branches is not None and self.branches.inner
        if p.diverged_at is None and not validated_last_step and not inner:
            self.validate()
        if p.diverged_at is not None:
            # The checkpoint says so, for translate: a diverged run is a result, not a model
            # to score (its best checkpoint predates the divergence and would flatter it).
            if self.best_weights is not None:
                model.load_state_dict(self.best_weights)
            extra = checkpoint_extra(p.best or {"step": p.step, "valid_loss": float("nan")})
            if self.files.checkpoint:
                save_checkpoint(self.files.checkpoint, model, **extra, diverged_at=p.diverged_at)
        self.records.write_dynamics()  # also when the run diverged before its first validation
        if self.branches and self.branches.stable:  # its end, diverged or not
            self.save_resume_state(self.branches.folder, keep=None, rng=rng)
        meta = self.meta(time.monotonic() - self.start)
        meta.write(self.files.meta)
        shutil.rmtree(self.files.resume, ignore_errors=True)
        self.records.close()
        print(f"done: {p.step} steps, {p.tokens:,} target tokens in {_clock(meta.train_seconds)}")
        self.clock.add("steps", self.meter.step_seconds)  # this process's, as the meter has them
        print(self.clock.line(), flush=True)
        return meta

    def meta(self, seconds: float) -> RunMeta:
        p = self.p
        mfu = self.meter.mfu(p.tokens / seconds) if seconds else None
        return RunMeta(
            run=self.spec.keys,
            params_total=self.params["total"],
            params_non_embedding=self.params["non_embedding"],
            steps=p.step,
            epochs=p.epoch + 1,
            epochs_seen=round(p.tokens / int(self.data.batches.tgt_len.sum()), 3),  # of targets
            tokens=p.tokens,
            train_seconds=round(seconds, 2),
            tokens_per_second=round(p.tokens / seconds, 1) if seconds else None,
            best_step=p.best and p.best["step"],
            best_valid_loss=p.best and p.best["valid_loss"],
            best_valid_bleu=p.best and p.best.get("valid_bleu"),  # the masked task: None
            diverged=p.diverged_at is not None,
            diverged_at=p.diverged_at,
            converged_at=p.converged_at,
            dropped_long_pairs=self.data.dropped,
            mfu=round(mfu, 4) if mfu else None,
            data_wait_share=(
                round(self.meter.data_share(), 4) if self.meter.step_seconds else None
            ),
            device=str(self.device),
            threads=self.spec.threads,
            versions={"torch": torch.__version__, "python": platform.python_version()},
            cpu_capability=torch.backends.cpu.get_cpu_capability(),
            kernels=self.p.kernels,
            platform=platform.platform(),
            model_config=asdict(self.spec.model_cfg),
            train_config=asdict(self.cfg),
        )


def train(run: Run, data: DataFiles, files: RunFiles, branches: Branches | None = None):
    """Train one run and write its ``files`` (checkpoint, curves, dynamics, meta.json);
    returns meta.json's content (None on ranks other than 0).

    A run that finds a resume state of its own continues from it, with the same optimiser,
    schedule, random state and data position, and ends where an uninterrupted run would. On
    a ladder (``branches``), a stable run continues from its newest branch state up to its
    end, and a cooldown without a resume state of its own starts from the newest branch state
    at or before its cooldown's start: either ends where one uninterrupted run would.
    """
    received = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    check_train(asdict(run.cfg))
    device = training_device(run.cfg, run.threads)
    precision = runtime.training_precision(run.cfg.precision, device)
    # meta.json records what was done, and a resume state of another precision is not resumed
    job = replace(run.cfg.job, compile=compiles(run.cfg, device))
    run = replace(run, cfg=replace(run.cfg, job=job, precision=precision))
    files.folder.mkdir(parents=True, exist_ok=True)
    run_data = load_data(run.cfg, data, run.seed, device, log_main, run.model_cfg.architecture)
    learner = build_model(run.model_cfg, run.cfg, run.seed, device)
    state = state_to_continue(files, run.model_cfg, run.cfg, run.seed, branches, log_main)
    if state is not None:
        continue_from(state, learner.model, learner.optimizer, run.model_cfg, files, log_main)
    elif needs_calibration(learner.model):
        # a data-set start (qq_centred: attention at step 0 as qk's), the same on every rank
        batch = run_data.batches.batch(range(min(CALIBRATION_SENTENCES, len(run_data.batches.src))))
        calibrate(learner.model, *(t.to(device) for t in batch[:-1]), seed=run.seed)
    trainer = Trainer(run, run_data, learner, files, state, branches)
    if trainer.run(stop_requested=lambda: bool(received)):
        names = ", ".join(signal.Signals(s).name for s in dict.fromkeys(received)) or "rank 0"
        trainer.log(
            f"stopped by {names} at step {trainer.p.step}: resume state written; "
            "the job's rerun continues from it",
            flush=True,
        )
        if trainer.records:
            trainer.records.close()
        sys.exit(RESUME_EXIT)
    # a stable run keeps its last state after its last validation, on rank 0 alone: every
    # rank's dropout stream is gathered here, while every rank still runs
    stable = branches is not None and branches.stable
    rng = dist.gather(torch.get_rng_state()) if stable else None
    return trainer.finish(rng) if dist.is_main() else None


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _time_left(step: int, elapsed: float, cfg: TrainConfig, budget_seconds: float) -> float:
    by_steps = elapsed / step * (cfg.max_steps - step) if cfg.max_steps > 0 else math.inf
    return max(0.0, min(by_steps, budget_seconds - elapsed))
