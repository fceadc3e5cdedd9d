"""One optimiser step, and the validation measures of a model: what a training step computes,
apart from the loop that schedules it (the benchmark drives the same step)."""

import math

import numpy as np
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
    """One optimiser step on ``batch`` (the model's inputs, then the target: src, tgt_in,
    tgt_out for a translating model, inputs and targets for a masked one, on ``device``),
    whose whole batch, over all ranks, has ``n_all`` target tokens; ``weight`` 0 marks a
    borrowed sentence (see shard_of). ``forward``: the DDP or compiled wrapper of ``model``.

    Returns the summed loss × weight and the gradient norm as device tensors: reading them
    is left to the caller, every few steps, so that the GPU never waits for the host.
    """
    *inputs, target = batch
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(step, cfg)
    with autocast(device, cfg.precision):
        logits = (model if forward is None else forward)(*inputs)  # (B, T, V)
    loss_sum = token_loss(logits, target, cfg.label_smoothing)
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
        *inputs, target = batches.batch(indices)
        n = target_tokens(target)
        logits = model(*(t.to(device) for t in inputs))
        total, count = total + token_loss(logits, target.to(device)).item(), count + n
    return total / count


@torch.no_grad()
def sentence_measures(model, batches, device) -> dict[str, np.ndarray]:
    """Per sentence of ``batches`` (in the split's order): the summed NLL of its targets
    (nats, fp32), how many of them the model's most likely piece gets right, and how many
    there are. For the masked task, whose targets are the chosen pieces: held-out loss and
    accuracy, and the sentence-level units of a paired test."""
    model.eval()
    n = len(batches.src)
    loss, correct, count = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for indices in batches.epoch(0):
        *inputs, target = (t.to(device) for t in batches.batch(indices))
        logits = model(*inputs).float()  # (B, T, V)
        real = target.ne(PAD)  # (B, T)
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, reduction="none")
        right = logits.argmax(-1).eq(target) & real  # (B, T)
        loss[indices] = nll.sum(1).double().cpu().numpy()
        correct[indices] = right.sum(1).cpu().numpy()
        count[indices] = real.sum(1).cpu().numpy()
    return {"loss": loss, "correct": correct, "count": count}


def masked_validation(model, batches, device) -> tuple[float, float]:
    """Held-out loss per target (nats) and accuracy (%) over the whole masked valid set."""
    measures = sentence_measures(model, batches, device)
    count = int(measures["count"].sum())
    return float(measures["loss"].sum()) / count, 100 * int(measures["correct"].sum()) / count


def validation_bleu(model, src: list, refs: list, sp, device) -> float:
    hyps = translate(model, src, DecodeConfig(beam_size=1), device)
    return sacrebleu.corpus_bleu([sp.decode(h) for h in hyps], [refs]).score
