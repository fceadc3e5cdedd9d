"""What a run is made of, built before its first step: the device, the data (training
batches, the valid set, the probe batch of the attention diagnostics), the model with its
optimiser, and the meter of how fast it trains. The loop (loop.py) runs on them."""

from dataclasses import dataclass

import sentencepiece as spm
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from attnablate.data.batches import TokenBatches, length_filter
from attnablate.data.masking import EVALUATION_SEED, MaskedBatches
from attnablate.data.tokenizer import load_split
from attnablate.errors import ConfigurationError
from attnablate.model.config import ModelConfig
from attnablate.model.transformer import build
from attnablate.tasks import MASKED, Task, task_of
from attnablate.train import distributed as dist
from attnablate.train import runtime
from attnablate.train.config import TrainConfig
from attnablate.train.files import DataFiles
from attnablate.train.step import (
    masked_validation,
    target_tokens,
    validation_bleu,
    validation_loss,
)

PROBE_SENTENCES = 32  # the fixed valid batch on which attention diagnostics are measured


@dataclass
class RunData:
    """A run's data, loaded once: training batches, the valid set that validation scores and
    the fixed probe batch on which attention diagnostics are measured. Either task's batches
    (TokenBatches, MaskedBatches) give the model's inputs, then the target."""

    task: Task  # what the model family is trained on and judged by
    batches: TokenBatches | MaskedBatches  # training pairs within max_len (masked: sources)
    valid_batches: TokenBatches | MaskedBatches  # the whole valid set (validation loss)
    valid_src: list  # valid source ids (greedy BLEU on the first valid_bleu_sentences)
    valid_refs: list  # valid references, plain text
    sp: spm.SentencePieceProcessor  # to detokenise greedy translations
    probe: list  # the first PROBE_SENTENCES valid sentences' inputs and target, on the device
    dropped: int  # training pairs dropped as longer than max_len

    def validation(self, model, bleu_sentences: int, device) -> tuple[float, float]:
        """The valid loss (nats per target) and the task's valid measure: greedy BLEU on the
        first ``bleu_sentences`` valid sentences, or masked-token accuracy (%)."""
        if self.task is MASKED:
            return masked_validation(model, self.valid_batches, device)
        n = min(bleu_sentences, len(self.valid_src))
        loss = validation_loss(model, self.valid_batches, device)
        return loss, validation_bleu(
            model, self.valid_src[:n], self.valid_refs[:n], self.sp, device
        )


@dataclass
class Learner:
    """The model, its DDP wrapper under several processes (else the model) and Adam."""

    model: nn.Module  # either family's (model.transformer.build)
    ddp: torch.nn.Module
    optimizer: torch.optim.Optimizer


def log_main(*args, **kwargs) -> None:
    """print, on rank 0 only (every rank runs the same code)."""
    if dist.is_main():
        print(*args, **kwargs)


def training_device(cfg: TrainConfig, threads: int) -> torch.device:
    """This process's device (one GPU per rank under DDP), threads and kernel settings."""
    torch.set_num_threads(threads)
    device = runtime.pick_device(cfg.device)
    if device.type == "cuda" and dist.world() > 1:
        device = torch.device("cuda", dist.rank())
    runtime.configure_kernels(device)
    return device


def load_data(
    cfg: TrainConfig, data: DataFiles, seed: int, device, log, architecture: str
) -> RunData:
    """The run's batches for its family's task (a decoder-only model's filled by packed
    source-and-target length), validation data and probe batch."""
    train_src, train_tgt = load_split(data.train)
    train_src, train_tgt, dropped = length_filter(train_src, train_tgt, cfg.max_len)
    log(f"train pairs: {len(train_src)} ({dropped} longer than {cfg.max_len} tokens dropped)")
    if not train_src:
        raise ConfigurationError(
            "train.max_len",
            f"no training pair has both sides within {cfg.max_len} "
            f"tokens (all {dropped} dropped): raise it",
        )
    valid_src, valid_tgt = load_split(data.valid)
    sp = spm.SentencePieceProcessor(model_file=str(data.spm))
    task = task_of(architecture)
    if task is MASKED:
        vocab, ladder = sp.get_piece_size(), cfg.bucket_ladder
        batches = MaskedBatches(train_src, cfg.batch_tokens, seed, vocab, ladder)
        valid = MaskedBatches(valid_src, cfg.batch_tokens, EVALUATION_SEED, vocab, ladder)
    else:
        joint = architecture == "decoder_only"
        batches = TokenBatches(
            train_src, train_tgt, cfg.batch_tokens, seed, cfg.bucket_ladder, joint
        )
        valid = TokenBatches(valid_src, valid_tgt, cfg.batch_tokens, seed, cfg.bucket_ladder, joint)
    probe = valid.batch(range(min(PROBE_SENTENCES, len(valid_src))))
    return RunData(
        task=task,
        batches=batches,
        valid_batches=valid,
        valid_src=valid_src,
        valid_refs=data.valid_ref.read_text(encoding="utf-8").splitlines(),
        sp=sp,
        probe=[t.to(device) for t in probe],
        dropped=dropped,
    )


def build_model(model_cfg: ModelConfig, cfg: TrainConfig, seed: int, device) -> Learner:
    """The model from ``seed`` (every rank the same), its DDP wrapper under several processes,
    and Adam; each rank then draws its own dropout masks."""
    torch.manual_seed(seed)
    model = build(model_cfg).to(device)
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
    return Learner(model, ddp, optimizer)


class Meter:
    """How fast a run trains: the share of step time spent fetching batches, and on a GPU
    whose peak is known the model FLOP utilisation (forward FLOPs counted once on the probe
    batch, ×3 for forward and backward)."""

    def __init__(self, model, probe: list, device):
        self.peak = runtime.peak_flops(device)
        self.flops_per_token = (
            runtime.training_flops_per_token(
                model, *probe[:-1], target_tokens=target_tokens(probe[-1])
            )
            if self.peak
            else None
        )
        self.data_seconds = 0.0  # fetching batches
        self.step_seconds = 0.0  # whole steps, with the wait for the GPU

    def data_share(self) -> float:
        return self.data_seconds / self.step_seconds

    def mfu(self, tokens_per_second: float) -> float | None:
        if not self.flops_per_token:
            return None
        return self.flops_per_token * tokens_per_second / self.peak

    def mfu_text(self, tokens_per_second: float) -> str:
        mfu = self.mfu(tokens_per_second)
        return "" if mfu is None else f" | MFU {mfu:.1%}"
