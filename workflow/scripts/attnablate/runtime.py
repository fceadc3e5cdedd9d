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


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision elsewhere (CPU bf16 is slow and inexact)."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
