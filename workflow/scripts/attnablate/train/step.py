"""One optimiser step, and the validation measures of a model: what a training step computes,
apart from the loop that schedules it (the benchmark drives the same step)."""

import math

import sacrebleu
import torch
import torch.nn.functional as F

from attnablate.data.batches import TokenBatches
from attnablate.data.tokenizer import PAD
from attnablate.model.search import DecodeConfig, translate
from attnablate.train import distributed as dist
from attnablate.train.config import TrainConfig, learning_rate
from attnablate.train.runtime import autocast


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
