"""Where a model runs: device choice, mixed precision, transfers, and how well it is used."""

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense bf16 tensor-core peaks from the vendors' datasheets (SXM parts), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA if present, else Apple's MPS, else the CPU; any other name as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def configure_kernels(device: torch.device) -> None:
    """Process-wide settings for fast CUDA training. cuDNN's attention kernel builds a plan
    for every new batch shape: with length-bucketed batches that is nearly every step
    (measured on an H200, d_model 512: 450 ms a step instead of 54 ms), so attention is left
    to the flash, memory-efficient and math kernels. TF32 for any fp32 matrix product."""
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(False)
        torch.backends.cuda.matmul.allow_tf32 = True


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slow and inexact)."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def to_device(tensors, device: torch.device) -> list:
    """Copy a batch's CPU tensors to ``device``. On CUDA through pinned memory: a copy from
    pageable memory first waits for all queued GPU work, which would stall every step."""
    if device.type != "cuda":
        return [t.to(device) for t in tensors]
    return [t.pin_memory().to(device, non_blocking=True) for t in tensors]


def optimizer_options(device: torch.device) -> dict:
    """Adam's fused CUDA kernel: one launch instead of several per parameter group."""
    return {"fused": True} if device.type == "cuda" else {}


def peak_flops(device: torch.device) -> float | None:
    """The datasheet's dense bf16 peak of this GPU, or None (CPU, or a GPU not listed)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


@torch.no_grad()
def training_flops_per_token(model, src, tgt_in, target_tokens: int) -> float:
    """Model FLOPs of one trained target token: the forward pass's matrix products and
    attention as FlopCounterMode counts them, times 3 for forward and backward. Counted in
    eval mode without gradients, so it draws no random numbers and changes no result."""
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        with autocast(src.device):
            model(src, tgt_in)
    model.train(was_training)
    return 3 * counter.get_total_flops() / target_tokens
