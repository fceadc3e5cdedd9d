"""GPU diagnosis behind runtime.configure_kernels: step time with repeated batch shapes, with fresh
shapes, and with fresh shapes but cuDNN's attention kernel switched off; then a profile.
Run from the repository root on a CUDA machine (docs/performance/h200-shape-diagnosis.txt
holds its output on an H200, from before runtime.configure_kernels existed)."""

import statistics
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path[:0] = ["workflow/scripts", "perf"]
import measures  # noqa: E402
from attnablate.model.config import ModelConfig  # noqa: E402

DEVICE = torch.device("cuda")
CFG = ModelConfig(vocab_size=4000, d_model=512, n_heads=8, enc_layers=6, dec_layers=6, d_ff=2048)
NO_CUDNN = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def timed_steps(name: str, batches: list, backends=None) -> None:
    trainee = measures.Trainee(measures.build(CFG, "ours", DEVICE), DEVICE)
    times = []
    for batch in batches:
        torch.cuda.synchronize()
        began = time.perf_counter()
        if backends:
            with sdpa_kernel(backends):
                trainee.steps([batch])
        else:
            trainee.steps([batch])
        torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    median, worst = statistics.median(times[5:]) * 1e3, max(times[5:]) * 1e3
    print(
        f"{name:<40} first {times[0] * 1e3:7.1f} ms  median(5:) {median:7.1f} ms  "
        f"max(5:) {worst:7.1f}",
        flush=True,
    )


def main() -> None:
    batches = measures.training_batches("data/bible-de-en/unigram4000/train.ids.npz", 16000, 90)
    timed_steps("same 4 batches x5, default", batches[:4] * 5)
    timed_steps("30 fresh batches, default", batches[:30])
    timed_steps("30 fresh batches, no cudnn", batches[30:60], NO_CUDNN)
    timed_steps("30 fresh batches, default again", batches[60:90])
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as profile:
        trainee = measures.Trainee(measures.build(CFG, "ours", DEVICE), DEVICE)
        for batch in batches[:6]:
            trainee.steps([batch])
        torch.cuda.synchronize()
    print(profile.key_averages().table(sort_by="cpu_time_total", row_limit=18))


if __name__ == "__main__":
    main()
