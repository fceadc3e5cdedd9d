"""Training one (variant, size, match, seed) run: the loop, validation, curves, checkpoint.

Adam(0.9, 0.98) with linear warmup then inverse-square-root decay, label smoothing, dropout,
gradient clipping, a budget of steps and/or minutes. Validation at intervals (loss on the
whole valid set, BLEU of greedy translations of a fixed subset) goes to ``curves.tsv`` as it
happens; the checkpoint kept is the one with the best validation loss.
"""

import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sacrebleu
import sentencepiece as spm
import torch
import torch.nn.functional as F

from attnablate import experiment
from attnablate.checkpoint import save_checkpoint
from attnablate.data import TokenBatches, length_filter
from attnablate.decode import DecodeConfig, translate
from attnablate.io import write_json
from attnablate.model import ModelConfig, Transformer
from attnablate.params import count_params
from attnablate.runtime import autocast, pick_device
from attnablate.tokenizer import PAD, load_split

CURVE_COLUMNS = (
    "step", "epoch", "tokens", "seconds", "lr", "train_loss", "grad_norm", "valid_loss",
    "valid_bleu",
)  # fmt: skip


@dataclass
class TrainConfig:
    max_steps: int = 2000  # budget in optimiser steps (0: no step limit)
    max_minutes: float = 0.0  # budget in wall-clock minutes (0: no time limit)
    batch_tokens: int = 4000  # padded tokens per side in one batch
    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    warmup_steps: int = 300  # linear warmup, then decay with 1/sqrt(step)
    label_smoothing: float = 0.1  # of the training loss (validation loss is plain NLL)
    clip_norm: float = 1.0  # gradient norm clipping (0: none)
    eval_every: int = 200  # validate every this many steps, and at the end
    valid_bleu_sentences: int = 200  # greedy BLEU on this many first valid sentences
    max_len: int = 128  # training pairs with a side longer than this many tokens are dropped
    log_every: int = 50  # a progress line every this many steps
    device: str = "auto"  # auto: cuda if present, else mps, else cpu


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``lr`` over ``warmup_steps``, then ``lr * sqrt(warmup / step)``."""
    step = max(step, 1)
    return cfg.lr * min(step / cfg.warmup_steps, math.sqrt(cfg.warmup_steps / step))


def token_loss(logits, target, label_smoothing: float = 0.0):
    """Summed cross-entropy over non-padding target tokens, and their number."""
    loss = F.cross_entropy(
        logits.float().flatten(0, 1), target.flatten(), ignore_index=PAD,
        label_smoothing=label_smoothing, reduction="sum",
    )  # fmt: skip
    return loss, int(target.ne(PAD).sum())


@torch.no_grad()
def validation_loss(model, batches: TokenBatches, device) -> float:
    """Mean per-token NLL (no label smoothing) over the whole valid set."""
    model.eval()
    total, count = 0.0, 0
    for indices in batches.epoch(0):
        src, tgt_in, tgt_out = (t.to(device) for t in batches.batch(indices))
        with autocast(device):
            logits = model(src, tgt_in)
        loss, n = token_loss(logits, tgt_out)
        total, count = total + loss.item(), count + n
    return total / count


def validation_bleu(model, src: list, refs: list, sp, device) -> float:
    hyps = translate(model, src, DecodeConfig(beam_size=1), device)
    return sacrebleu.corpus_bleu([sp.decode(h) for h in hyps], [refs]).score


class Curves:
    """curves.tsv, written row by row so that a person can follow a run while it trains."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.write_text("\t".join(CURVE_COLUMNS) + "\n")

    def add(self, **row) -> None:
        with self.path.open("a") as f:
            f.write("\t".join(_fmt(row.get(c)) for c in CURVE_COLUMNS) + "\n")


def _fmt(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    seed: int,
    data: dict,
    outputs: dict,
    run_info: dict,
    threads: int = 1,
) -> dict:
    """Train one run and write ``outputs``: ``checkpoint``, ``curves``, ``meta``.

    ``data``: ``train``/``valid`` (.npz id files), ``spm`` (model), ``valid_ref`` (text).
    ``run_info`` (variant, size, match, seed, ...) is copied into meta.json.
    """
    if cfg.max_steps <= 0 and cfg.max_minutes <= 0:
        raise ValueError("train: set max_steps or max_minutes (or both); both are 0")
    torch.set_num_threads(threads)
    device = pick_device(cfg.device)
    torch.manual_seed(seed)
    sp = spm.SentencePieceProcessor(model_file=str(data["spm"]))

    train_src, train_tgt = load_split(data["train"])
    train_src, train_tgt, dropped = length_filter(train_src, train_tgt, cfg.max_len)
    valid_src, valid_tgt = load_split(data["valid"])
    valid_refs = Path(data["valid_ref"]).read_text(encoding="utf-8").splitlines()
    n_bleu = min(cfg.valid_bleu_sentences, len(valid_src))
    print(f"train pairs: {len(train_src)} ({dropped} longer than {cfg.max_len} tokens dropped)")

    model = Transformer(model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9)
    batches = TokenBatches(train_src, train_tgt, cfg.batch_tokens, seed)
    valid_batches = TokenBatches(valid_src, valid_tgt, cfg.batch_tokens, seed)
    curves = Curves(outputs["curves"])
    params = {"total": count_params(model), "non_embedding": count_params(model, "non_embedding")}
    print(f"model: {model_cfg}")
    print(f"parameters: {params['total']:,} ({params['non_embedding']:,} non-embedding)")
    print(f"device: {device}, threads: {threads}")

    step, tokens, best, diverged_at = 0, 0, None, None
    epoch = 0
    window_loss, window_tokens = 0.0, 0
    start = time.monotonic()
    budget_seconds = cfg.max_minutes * 60 if cfg.max_minutes > 0 else math.inf

    def out_of_budget() -> bool:
        steps_done = cfg.max_steps > 0 and step >= cfg.max_steps
        return steps_done or time.monotonic() - start >= budget_seconds

    def validate(train_loss, grad_norm) -> None:
        nonlocal best
        loss = validation_loss(model, valid_batches, device)
        bleu = validation_bleu(model, valid_src[:n_bleu], valid_refs[:n_bleu], sp, device)
        model.train()
        seconds = time.monotonic() - start
        curves.add(
            step=step, epoch=epoch, tokens=tokens, seconds=seconds, lr=learning_rate(step, cfg),
            train_loss=train_loss, grad_norm=grad_norm, valid_loss=loss, valid_bleu=bleu,
        )  # fmt: skip
        print(f"step {step}: valid loss {loss:.4f}, valid BLEU (greedy) {bleu:.2f}", flush=True)
        if best is None or loss < best["valid_loss"]:
            best = {"step": step, "valid_loss": loss, "valid_bleu": bleu}
            save_checkpoint(outputs["checkpoint"], model, step=step, valid_loss=loss)

    model.train()
    stream = batches.stream()
    grad_norm = float("nan")
    while not out_of_budget():
        epoch, _, batch = next(stream)
        src, tgt_in, tgt_out = (t.to(device) for t in batch)
        step += 1
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        with autocast(device):
            logits = model(src, tgt_in)
        loss_sum, n = token_loss(logits, tgt_out, cfg.label_smoothing)
        loss = loss_sum / n
        if not torch.isfinite(loss):
            diverged_at = step
            print(f"step {step}: loss is {loss.item()}: the run diverged; stopping", flush=True)
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = cfg.clip_norm if cfg.clip_norm > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip).item()
        optimizer.step()
        tokens += n
        window_loss, window_tokens = window_loss + loss_sum.item(), window_tokens + n
        if step % cfg.log_every == 0:
            elapsed = time.monotonic() - start
            left = _time_left(step, elapsed, cfg, budget_seconds)
            print(
                f"step {step}/{cfg.max_steps or '-'} | loss {window_loss / window_tokens:.4f} | "
                f"{tokens / elapsed:,.0f} tok/s | {_clock(elapsed)} elapsed, ~{_clock(left)} left",
                flush=True,
            )
        if step % cfg.eval_every == 0:
            validate(window_loss / window_tokens, grad_norm)
            window_loss, window_tokens = 0.0, 0
    if step % cfg.eval_every != 0 and diverged_at is None:
        validate(window_loss / max(window_tokens, 1), grad_norm)
    if best is None:  # diverged before the first validation: keep the model as it is
        save_checkpoint(outputs["checkpoint"], model, step=step, valid_loss=float("nan"))

    seconds = time.monotonic() - start
    meta = {
        **run_info,
        "params_total": params["total"],
        "params_non_embedding": params["non_embedding"],
        "steps": step,
        "epochs": epoch + 1,
        "tokens": tokens,
        "train_seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
        "best_step": best and best["step"],
        "best_valid_loss": best and best["valid_loss"],
        "best_valid_bleu": best and best["valid_bleu"],
        "diverged": diverged_at is not None,
        "diverged_at": diverged_at,
        "dropped_long_pairs": dropped,
        "device": str(device),
        "threads": threads,
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "platform": platform.platform(),
        "model_config": asdict(model_cfg),
        "train_config": asdict(cfg),
    }
    write_json(outputs["meta"], meta)
    print(f"done: {step} steps, {tokens:,} target tokens in {_clock(seconds)}", file=sys.stdout)
    return meta


def _time_left(step: int, elapsed: float, cfg: TrainConfig, budget_seconds: float) -> float:
    by_steps = elapsed / step * (cfg.max_steps - step) if cfg.max_steps > 0 else math.inf
    return max(0.0, min(by_steps, budget_seconds - elapsed))


def run_train(config: dict, run: dict, inputs: dict, outputs: dict, threads: int) -> dict:
    """Step ``train``: one run of the experiment ``config``; ``run`` holds its wildcards."""
    vocab = spm.SentencePieceProcessor(model_file=str(inputs["spm"])).get_piece_size()
    model_cfg = experiment.model_config(config, run["variant"], run["size"], run["match"], vocab)
    train_cfg = TrainConfig(**config["train"], device=config["device"])
    run_info = {"experiment": config["experiment"], **run, "seed": int(run["seed"])}
    return train(model_cfg, train_cfg, int(run["seed"]), inputs, outputs, run_info, threads)
