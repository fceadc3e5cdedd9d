"""Where a model runs: device choice, mixed precision, transfers, and how well it is used."""

import ctypes
import os
import platform

import torch
from torch.utils.flop_counter import FlopCounterMode

from attnablate.errors import ConfigurationError
from attnablate.meta import kernel_set

# Dense bf16 tensor-core peaks from the vendors' datasheets (SXM parts), for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA if present, else Apple's MPS, else the CPU; any other name as given, if
    this machine has it (a dry run on a login node cannot know: a job checks here)."""
    if name != "auto":
        device = torch.device(name)
        present = {
            "cuda": lambda: (
                torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
            ),
            "mps": torch.backends.mps.is_available,
        }.get(device.type, lambda: True)
        if not present():
            raise ConfigurationError(
                "device",
                f"{name}: this machine has no such device (torch {torch.__version__}, "
                f"{torch.cuda.device_count()} CUDA devices); use auto or cpu here",
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def kernels_here(device: torch.device, threads: int) -> str:
    """This process's kernel set (meta.kernel_set): on a CPU, the instruction set PyTorch
    dispatches to; on a GPU, its name."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    capability = torch.backends.cpu.get_cpu_capability()
    return kernel_set(name, capability, threads, torch.__version__)


# glibc's mallopt parameters: memory freed below the trim threshold stays with the process, and
# blocks up to the mmap threshold come from that heap instead of fresh pages from the kernel.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_REUSE_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Let glibc reuse freed blocks of up to HEAP_REUSE_BYTES instead of returning them to the
    kernel. A CPU training step allocates and frees buffers of tens of megabytes (the logits
    over the vocabulary and their gradients): by default each comes as fresh pages that the
    kernel zeroes on first touch, a large share of a step (docs/performance, the CPU profile).
    Changes no number. False where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    trimmed = libc.mallopt(M_TRIM_THRESHOLD, 2 * HEAP_REUSE_BYTES)
    return bool(trimmed and libc.mallopt(M_MMAP_THRESHOLD, HEAP_REUSE_BYTES))


# Kernels oneDNN builds for one input shape, kept per process (its own cache and PyTorch's ideep
# cache of matrix products). Every batch of length-bucketed training has a shape of its own, so
# with the libraries' default of 1,024 a bf16 run grows by about a megabyte a step until both
# fill; 64 bounds it, and the benchmark's CPU training path runs with it.
KERNEL_CACHE_ENTRIES = "64"


def bound_kernel_caches() -> None:
    """Cap oneDNN's per-shape kernel caches at KERNEL_CACHE_ENTRIES, unless the environment
    sets them. The libraries read the variables when they first build a kernel, so this takes
    effect only before the process's first matrix product on the CPU."""
    for name in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY"):
        os.environ.setdefault(name, KERNEL_CACHE_ENTRIES)


def configure_kernels(device: torch.device) -> None:
    """Process-wide settings for fast training and decoding. On the CPU the allocator keeps
    freed memory (keep_freed_memory) and the kernel caches are bounded (bound_kernel_caches). On
    CUDA, cuDNN's attention kernel builds a plan for
    every new batch shape, which with length-bucketed batches is nearly every step and costs
    several times the step itself (docs/performance/h200-shape-diagnosis.txt), so attention is
    left to the flash, memory-efficient and math kernels; TF32 for any fp32 matrix product."""
    if device.type == "cpu":
        keep_freed_memory()
        bound_kernel_caches()
    if device.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(False)
        torch.backends.cuda.matmul.allow_tf32 = True


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively: CUDA, or a CPU with AVX-512 BF16 or
    AMX instructions (elsewhere bf16 products are emulated, slower than fp32)."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def training_precision(name: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 autocast where the device has native bf16
    products (docs/performance: on this project's CPU the same loss as fp32 within the spread
    over seeds, in far less time), fp32 elsewhere."""
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """The forward pass of a training step in ``precision`` (``auto`` as training_precision
    resolves it): bf16 autocast (matrix products in bf16; weights, reductions and the loss in
    fp32) or plain fp32."""
    bf16 = training_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


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
def training_flops_per_token(model, *inputs, target_tokens: int) -> float:
    """Model FLOPs of one trained target token: the forward pass's matrix products and
    attention as FlopCounterMode counts them, times 3 for forward and backward. Counted in
    eval mode without gradients, so it draws no random numbers and changes no result."""
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(*inputs)
    model.train(was_training)
    return 3 * counter.get_total_flops() / target_tokens
