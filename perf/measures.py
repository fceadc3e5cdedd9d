"""Measurements behind perf/benchmark.py, each against a reference run beside it.

Every figure is a pair (ours, reference) measured in the same process on the same batches,
interleaved round by round, so that a machine's drift affects both sides alike:

- training throughput of our ``qk`` model against ``torch.nn.Transformer`` of the same
  dimensions, vocabulary and parameter count (``reference.py``), both driven by the
  pipeline's own ``train_step``;
- ``qq@all`` against ``qk``: the FLOPs a step saves (counted by PyTorch's FlopCounterMode)
  beside the time it saves;
- beam search with the decoder cache against recomputing the prefix every step;
- the peak memory of a training step;
- the share of a real training run's step time spent fetching batches.
"""

import ctypes
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml
from torch.utils.flop_counter import FlopCounterMode

from attnablate.data.batches import TokenBatches, length_filter, padded_width
from attnablate.data.tokenizer import load_split
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.model.search import DecodeConfig, translate
from attnablate.model.transformer import Transformer
from attnablate.model.variants import BASELINE
from attnablate.train.config import JobConfig, TrainConfig
from attnablate.train.files import DataFiles, RunFiles
from attnablate.train.loop import Run, train
from attnablate.train.runtime import configure_kernels, optimizer_options, to_device
from attnablate.train.step import target_tokens, token_loss, train_step
from reference import ReferenceTransformer


def machine(device: torch.device, threads: int) -> dict:
    """What the figures were measured on."""
    info = {
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_batches(
    train_ids, batch_tokens: int, count: int, max_len: int = 128, ladder: float = 0.0
) -> list:
    """``count`` real training batches of about ``batch_tokens`` tokens (the first of a shuffled
    epoch, seed 1; padded to a width ladder as ``bucket_ladder`` says), on the CPU."""
    src, tgt = load_split(train_ids)
    src, tgt, _ = length_filter(src, tgt, max_len)
    batches = TokenBatches(src, tgt, batch_tokens, seed=1, bucket_ladder=ladder)
    return [batches.batch(indices) for indices in batches.epoch(0)[:count]]


def build(model_cfg: ModelConfig, kind: str, device, seed: int = 0) -> nn.Module:
    """``ours`` (the study's Transformer) or ``reference`` (torch.nn.Transformer)."""
    torch.manual_seed(seed)
    model = Transformer(model_cfg) if kind == "ours" else ReferenceTransformer(model_cfg)
    return model.to(device).train()


class Trainee:
    """A model with its optimiser, stepped exactly as the training loop steps it, in
    ``precision`` (``auto``: what a run on this device uses)."""

    def __init__(self, model: nn.Module, device, compile: bool = False, precision: str = "auto"):
        self.model, self.device = model, device
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=1e-4, betas=(0.9, 0.98), **optimizer_options(device)
        )
        self.forward = torch.compile(model, dynamic=True) if compile else model
        self.cfg = TrainConfig(warmup_steps=1, precision=precision)

    def steps(self, batches: list) -> int:
        """One optimiser step per batch; returns the target tokens trained on."""
        tokens = 0
        for src, tgt_in, tgt_out in batches:
            n = target_tokens(tgt_out)
            batch = to_device((src, tgt_in, tgt_out), self.device)
            train_step(
                self.model, self.optimizer, batch, n, 1.0, self.cfg, 1, self.device, self.forward
            )
            tokens += n
        return tokens


def interleaved_throughput(trainees: dict, batches: list, rounds: int, device) -> dict:
    """Target tokens per second of each trainee: one warm-up round, then ``rounds`` rounds in
    which every trainee steps through the round's batches in turn. Each round has batches of
    its own (``batches`` holds rounds + 1 equal shares), so that costs paid once per new batch
    shape count as they do in training. The fastest round counts (as timeit advises): on a
    shared machine the slower ones measure the neighbours."""
    per_round = len(batches) // (rounds + 1)
    rates: dict = {name: [] for name in trainees}
    for round_ in range(rounds + 1):
        share = batches[round_ * per_round : (round_ + 1) * per_round]
        for name, trainee in trainees.items():
            sync(device)
            began = time.perf_counter()
            tokens = trainee.steps(share)
            sync(device)
            if round_ > 0:
                rates[name].append(tokens / (time.perf_counter() - began))
    return {name: max(r) for name, r in rates.items()}


@dataclass(frozen=True)
class CpuPath:
    """One way of training on the CPU, measured in a process of its own (the allocator and
    kernel-cache settings are process-wide and cannot be undone)."""

    precision: str  # train.precision
    tuned: bool  # the process configured as a pipeline job is (runtime.configure_kernels)


def cpu_paths(precision: str) -> dict:
    """The CPU paths compared: what a pipeline job runs (in the experiment's train.precision),
    the eager fp32 path it replaced, and each change alone."""
    return {
        "pipeline": CpuPath(precision, True),
        "fp32 eager": CpuPath("fp32", False),
        "bf16 alone": CpuPath("bf16", False),
        "allocator and caches alone": CpuPath("fp32", True),
    }


def cpu_paths_throughput(model_cfg: ModelConfig, paths: dict, batches: list, rounds: int, threads):
    """Target tokens per second of each CPU path, each in a child process of its own with
    ``threads`` threads, stepped round by round in turn as interleaved_throughput does (one
    warm-up round, then the fastest of ``rounds``)."""
    context = multiprocessing.get_context("spawn")
    workers = {}
    for name, path in paths.items():
        parent, child = context.Pipe()
        process = context.Process(
            target=_cpu_path_worker, args=(child, model_cfg, path, batches, threads)
        )
        process.start()
        workers[name] = (parent, process)
    per_round = len(batches) // (rounds + 1)
    rates: dict = {name: [] for name in paths}
    try:
        for round_ in range(rounds + 1):
            for name, (conn, _) in workers.items():
                conn.send((round_ * per_round, (round_ + 1) * per_round))
                rate = conn.recv()
                if round_ > 0:
                    rates[name].append(rate)
    finally:
        for conn, process in workers.values():
            conn.send(None)
            process.join()
    return {name: max(r) for name, r in rates.items()}


def _cpu_path_worker(conn, model_cfg: ModelConfig, path: CpuPath, batches: list, threads: int):
    cpu = torch.device("cpu")
    torch.set_num_threads(threads)
    if path.tuned:
        configure_kernels(cpu)
    trainee = Trainee(build(model_cfg, "ours", cpu), cpu, precision=path.precision)
    while (span := conn.recv()) is not None:
        began = time.perf_counter()
        tokens = trainee.steps(batches[span[0] : span[1]])
        conn.send(tokens / (time.perf_counter() - began))


def best_step_seconds(trainees: dict, batches: list, rounds: int, device) -> dict:
    """Seconds per pass over ``batches`` of each trainee: every batch is stepped by every
    trainee in turn, ``rounds`` times after a warm-up, the order of the trainees reversed
    every other time; each batch counts with its fastest step. For small differences
    (qq against qk): on a shared CPU a step's time varies by several per cent with what
    the machine and the allocator (page faults) are doing, and with which model ran first."""
    best: dict = {(name, i): math.inf for name in trainees for i in range(len(batches))}
    names = list(trainees)
    for round_ in range(rounds + 1):
        for i, batch in enumerate(batches):
            for name in names if (round_ + i) % 2 == 0 else names[::-1]:
                sync(device)
                began = time.perf_counter()
                trainees[name].steps([batch])
                sync(device)
                if round_ > 0:
                    best[name, i] = min(best[name, i], time.perf_counter() - began)
    return {name: sum(best[name, i] for i in range(len(batches))) for name in names}


def step_flops(model: nn.Module, batch, device) -> int:
    """FLOPs of one training step's forward and backward pass (matrix products and
    attention, as PyTorch's FlopCounterMode counts them; elementwise work is not counted)."""
    src, tgt_in, tgt_out = (t.to(device) for t in batch)
    with FlopCounterMode(display=False) as counter:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(src, tgt_in)
        token_loss(logits, tgt_out).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def cuda_peak_step_memory(model: nn.Module, batches: list, device) -> int:
    """Bytes a training step allocates above the model and optimiser state (CUDA)."""
    trainee = Trainee(model, device)
    trainee.steps(batches[:1])  # Adam's state exists from here on
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    trainee.steps(batches[:1])
    sync(device)
    return torch.cuda.max_memory_allocated(device) - before


def cpu_peak_step_memory(model_cfg: ModelConfig, kind: str, train_ids, batch_tokens: int) -> int:
    """Bytes of resident memory a training step adds above the model and optimiser state,
    measured in a fresh process (Linux: VmHWM − VmRSS after one step), since the CPU
    allocator keeps no peak counter of its own."""
    child = [__file__, "peak-step", json.dumps(asdict(model_cfg)), kind, str(train_ids)]
    # Large blocks straight from mmap and back to the system on free: resident memory then
    # follows live tensors instead of glibc's cache of freed blocks.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "MALLOC_MMAP_THRESHOLD_": "65536",
        "MALLOC_TRIM_THRESHOLD_": "0",
    }
    out = subprocess.run(
        [sys.executable, *child, str(batch_tokens)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(out.stdout.split()[-1])


def _cpu_peak_child(model_cfg: ModelConfig, kind: str, train_ids, batch_tokens: int) -> int:
    torch.set_num_threads(1)
    batches = training_batches(train_ids, batch_tokens, 1)
    trainee = Trainee(build(model_cfg, kind, torch.device("cpu")), torch.device("cpu"))
    trainee.steps(batches)  # Adam's state exists from here on: the baseline includes it
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    baseline = _proc_status()["VmRSS"]
    _reset_peak_rss()
    trainee.steps(batches)
    return (_proc_status()["VmHWM"] - baseline) * 1024


def _proc_status() -> dict:
    fields = {}
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            name, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[name] = int(value.split()[0])
    return fields


def _reset_peak_rss() -> None:
    """Writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
        f.write("5")


def typical_sentences(test_ids, count: int) -> tuple[list, int]:
    """``count`` test sources of the corpus's median length (± 2 tokens), and that length."""
    src, _ = load_split(test_ids)
    median = int(np.median([len(s) for s in src]))
    chosen = [s for s in src if abs(len(s) - median) <= 2][:count]
    return chosen, median


def beam_rates(model: Transformer, sentences: list, beam: int, rounds: int, device) -> dict:
    """Sentences per second of beam search with the cache (on CUDA: also with the decoder step
    replayed as a CUDA graph, ``graphed``), with every beam row holding its own copy of the
    source's memory (``per_row``) and recomputing the prefix.

    An untrained model rarely ends a hypothesis early, so the length limit is the source's
    length: every hypothesis is as long as the corpus's typical sentence. Every search must
    return the same hypotheses, which is checked here."""
    model.eval()
    kinds = {
        "cached": {"cuda_graph": False},
        "per_row": {"cuda_graph": False, "share_source": False},
        "recomputed": {"use_cache": False},
    }
    if device.type == "cuda":
        kinds["graphed"] = {"cuda_graph": True}
    rates: dict = {name: [] for name in kinds}
    outputs = {}
    for _ in range(rounds):
        for name, options in kinds.items():
            cfg = DecodeConfig(
                beam_size=beam,
                max_len_a=1.0,
                max_len_b=0,
                batch_sentences=len(sentences),
                **options,
            )
            sync(device)
            began = time.perf_counter()
            outputs[name] = translate(model, sentences, cfg, device)
            sync(device)
            rates[name].append(len(sentences) / (time.perf_counter() - began))
    for name in outputs:
        if outputs[name] != outputs["recomputed"]:
            raise AssertionError(f"beam search ({name}) disagrees with recomputing the prefix")
    return {name: max(r) for name, r in rates.items()}


def data_wait_share(
    model_cfg: ModelConfig,
    data: DataFiles,
    folder,
    steps: int,
    batch_tokens: int,
    device: str,
    threads: int,
) -> dict:
    """Run the real training loop for ``steps`` steps; its meta.json holds the share of step
    time spent fetching batches."""
    cfg = TrainConfig(
        max_steps=steps,
        eval_every=10**9,
        batch_tokens=batch_tokens,
        valid_bleu_sentences=1,
        job=JobConfig(log_every=max(1, steps // 2)),
        device=device,
    )
    meta = train(Run(model_cfg, cfg, 1, {}, threads), data, RunFiles(folder))
    return {"share": meta.data_wait_share, "tokens_per_second": meta.tokens_per_second}


def padding_share(
    train_ids, batch_tokens: int, max_len: int = 128, ladder: float = 0.0
) -> tuple[float, int]:
    """Share of a training epoch's padded batch positions (both sides) that are padding, and
    the number of distinct batch shapes in it."""
    src, tgt = load_split(train_ids)
    src, tgt, _ = length_filter(src, tgt, max_len)
    batches = TokenBatches(src, tgt, batch_tokens, seed=1, bucket_ladder=ladder)
    real = padded = 0
    shapes = set()
    for indices in batches.epoch(0):
        widths = []
        for lengths in (batches.src_len[indices], batches.tgt_len[indices]):
            width = int(padded_width(np.array(lengths.max()), batches.ladder))
            real += int(lengths.sum())
            padded += len(indices) * width
            widths.append(width)
        shapes.add((len(indices), *widths))
    return 1 - real / padded, len(shapes)


def matmul_peak(device, size: int = 8192, repeats: int = 10) -> float:
    """Measured bf16 FLOP/s of a large square matrix product (the achievable ceiling)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    began = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * size**3 * repeats / (time.perf_counter() - began)


def cpu_matmul_limit(
    shapes: list[tuple[int, int, int]], threads: int, dtype=torch.bfloat16, seconds=0.5
) -> float:
    """FLOP/s of the CPU's matrix products in ``dtype`` at ``threads`` threads: over ``shapes``
    (m, k, n: an (m×k)·(k×n) product each), the FLOPs of one of each over the time of one of
    each, each product timed at its fastest of the repeats that fit in ``seconds``."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        flops, best = 0, 0.0
        for m, k, n in shapes:
            a = torch.randn(m, k, dtype=dtype)
            b = torch.randn(k, n, dtype=dtype)
            a @ b  # warm-up: the kernel chosen and its buffers made
            fastest, began = math.inf, time.perf_counter()
            while time.perf_counter() - began < seconds or fastest == math.inf:
                start = time.perf_counter()
                a @ b
                fastest = min(fastest, time.perf_counter() - start)
            flops, best = flops + 2 * m * k * n, best + fastest
        return flops / best
    finally:
        torch.set_num_threads(before)


def step_shapes(model_cfg: ModelConfig, tokens: int) -> list[tuple[int, int, int]]:
    """The shapes of a training step's weight products over ``tokens`` rows: the projections
    (d×d), the MLP (d×d_ff, d_ff×d) and the output layer (d×vocab)."""
    d, ff, vocab = model_cfg.d_model, model_cfg.d_ff, model_cfg.vocab_size
    return [(tokens, d, d), (tokens, d, ff), (tokens, ff, d), (tokens, d, vocab)]


def same_parameters(model_cfg: ModelConfig) -> tuple[int, int]:
    """Parameter counts of ours and the reference, built on the meta device."""
    with torch.device("meta"):
        reference = ReferenceTransformer(model_cfg)
    return count_params(model_cfg), sum(p.numel() for p in reference.parameters())


# --- the workflow's own overhead ---------------------------------------------------------------


def grid_config(config_file, runs: int) -> dict:
    """The default experiment widened to ``runs`` training runs (variants × 2 sizes × seeds):
    its first size and a copy at half the width."""
    config = yaml.safe_load(Path(config_file).read_text())
    seeds = 5
    name, size = next(iter(config["sizes"].items()))
    half = {**size, "d_model": size["d_model"] // 2, "d_ff": size["d_ff"] // 2}
    config["sizes"] = {name: size, f"{name}_half": half}
    per_seed = runs // seeds // len(config["sizes"])
    config["experiment"] = f"grid{runs}"
    config["variants"] = [BASELINE, *GRID_VARIANTS][:per_seed]
    config["seeds"] = list(range(1, seeds + 1))
    config["match_params"], config["matched_variants"] = ["none"], []
    config["claims"] = []  # the grid times the DAG; the default's claims name its own cells
    return config


GRID_VARIANTS = (
    "qq@enc",
    "qq@dec",
    "qq@all",
    "qdq@enc",
    "iq@enc",
    "kv@all",
    "nov@all",
    "noo@all",
    "mqa@all",
    "gqa2@all",
    "qq_selfmask@enc",
)


def snakemake_seconds(
    snakemake: str, root, workdir, config: dict, *args: str, repeats: int = 3
) -> float:
    """Median wall time of ``snakemake *args`` on this repository's Snakefile in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        snakemake,
        "-s",
        str(Path(root) / "Snakefile"),
        "--configfile",
        "config.yaml",
        "--cores",
        "2",
        *args,
    ]
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
        times.append(time.perf_counter() - began)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return statistics.median(times)


def slurm_probe_seconds() -> float | None:
    """Seconds of the ``scontrol show config`` that the Slurm executor plugin runs whenever
    Snakemake starts (None: no Slurm here, the probe fails at once)."""
    if shutil.which("scontrol") is None:
        return None
    began = time.perf_counter()
    try:
        subprocess.run(["scontrol", "show", "config"], capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return time.perf_counter() - began


if __name__ == "__main__":
    # the child process of cpu_peak_step_memory: one step's peak resident memory, printed
    _, what, model, kind, train_ids, batch_tokens = sys.argv
    assert what == "peak-step", what
    print(_cpu_peak_child(ModelConfig(**json.loads(model)), kind, train_ids, int(batch_tokens)))
