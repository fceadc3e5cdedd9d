"""Where a model runs: device choice and mixed precision."""

import torch


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA if present, else Apple's MPS, else the CPU; any other name as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prepare(device: torch.device) -> None:
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
