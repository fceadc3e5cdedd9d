"""Where one CPU training step's time goes: the default experiment's ``small`` model on real
batches of its ``batch_tokens``, one thread and the process set up as a pipeline job's, under
torch.profiler.

    .venv/bin/python perf/profile_step.py                  fp32 and bf16, 10 profiled steps
    .venv/bin/python perf/profile_step.py --precision bf16 --steps 20
    .venv/bin/python perf/profile_step.py --library-defaults   glibc and oneDNN untouched

Prints, per precision, the step time and its shares by kind of work (matrix products,
attention, the output layer and its loss, layer norm, dropout, the optimiser, the rest), then
the operators with the most self time. The raw printouts live in docs/performance/.
"""

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

import torch  # noqa: E402
import yaml  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import measures  # noqa: E402
import printout  # noqa: E402
from attnablate.config.experiment import SIZE_TRAINING_KEYS  # noqa: E402
from attnablate.model.config import ModelConfig  # noqa: E402
from attnablate.model.transformer import Transformer  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.train.config import TrainConfig  # noqa: E402
from attnablate.train.runtime import configure_kernels, optimizer_options  # noqa: E402
from attnablate.train.step import target_tokens, train_step  # noqa: E402

DATA = ROOT / "data" / "bible-de-en" / "unigram4000"

# Kinds of work, by operator name (self time; the first kind whose words match wins).
KINDS = (
    ("output layer loss (log-softmax, NLL)", ("log_softmax", "nll_loss", "cross_entropy")),
    ("attention kernel", ("scaled_dot_product", "_flash_attention", "_softmax", "softmax")),
    ("matrix products", ("mm", "addmm", "bmm", "matmul", "linear", "mkldnn")),
    ("layer norm", ("layer_norm",)),
    ("dropout masks", ("bernoulli", "dropout", "native_dropout")),
    ("optimiser (Adam, clipping)", ("adam", "_foreach", "lerp", "addcdiv", "addcmul", "sqrt")),
    ("copies and casts", ("copy_", "to", "_to_copy", "clone", "contiguous")),
    ("fills and allocation", ("fill_", "zero_", "empty", "zeros", "ones", "full")),
    ("elementwise (add, mul, relu, ...)", ("add", "mul", "div", "relu", "threshold", "sum")),
)


def kind_of(name: str) -> str:
    """The kind of work of an operator, its backward counted with it."""
    op = name.removeprefix("aten::").lstrip("_").lower()
    op = op.removesuffix("_backward_data").removesuffix("_backward")
    for kind, words in KINDS:
        if any(op == w or op.startswith(w + "_") or op.endswith("_" + w) for w in words):
            return kind
    return "other"


def profile_precision(precision: str, batches: list, steps: int, cfg: ModelConfig) -> None:
    torch.manual_seed(0)
    model = Transformer(cfg).train()
    device = torch.device("cpu")
    optimizer = torch.optim.Adam(
        model.parameters(), lr=1e-4, betas=(0.9, 0.98), **optimizer_options(device)
    )
    train_cfg = TrainConfig(warmup_steps=1, precision=precision)

    def step(batch) -> None:
        n = target_tokens(batch[2])
        train_step(model, optimizer, batch, n, 1.0, train_cfg, 1, device)

    for batch in batches[:5]:  # warm-up: the allocator's pools, the kernels' first calls
        step(batch)
    measured = batches[5 : 5 + steps]
    began = time.perf_counter()
    for batch in measured:
        step(batch)
    plain = (time.perf_counter() - began) / len(measured)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in measured:
            step(batch)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    by_kind: dict = defaultdict(float)
    for e in events:
        by_kind[kind_of(e.key)] += e.self_cpu_time_total
    tokens = sum(target_tokens(b[2]) for b in measured) / len(measured)
    print(f"\n## precision {precision}: {plain * 1e3:.0f} ms a step without the profiler")
    print(f"({tokens:,.0f} target tokens a step, {tokens / plain:,.0f} tok/s)\n")
    print(f"{'kind of work':<40} {'share':>7} {'ms/step':>8}")
    for kind, micros in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"{kind:<40} {micros / total:>7.1%} {micros / 1e3 / len(measured):>8.1f}")
    print(f"\n{'operator (self time)':<40} {'share':>7} {'ms/step':>8} {'calls':>6}  kind")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:18]:
        print(
            f"{e.key[:40]:<40} {e.self_cpu_time_total / total:>7.1%} "
            f"{e.self_cpu_time_total / 1e3 / len(measured):>8.1f} "
            f"{e.count // len(measured):>6}  {kind_of(e.key)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--library-defaults",
        action="store_true",
        help="leave glibc and oneDNN as they come, not as a pipeline job configures them",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.library_defaults:
        configure_kernels(torch.device("cpu"))  # as a pipeline job runs: allocator, caches
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    size = config["sizes"]["small"]
    fields = {k: v for k, v in size.items() if k not in SIZE_TRAINING_KEYS}
    cfg = ModelConfig(vocab_size=4000, variant=BASELINE, **fields)
    batch_tokens = config["train"]["batch_tokens"]
    batches = measures.training_batches(DATA / "train.ids.npz", batch_tokens, args.steps + 5)
    info = measures.machine(torch.device("cpu"), args.threads)
    print(printout.machine_line(info))
    command = " ".join(["python3", "perf/profile_step.py", *sys.argv[1:]])
    print(f"date: {time.strftime('%Y-%m-%d')}; command: {command}")
    print(f"model: small (d_model {cfg.d_model}), qk; batches of {batch_tokens} tokens per side")
    for precision in args.precision:
        profile_precision(precision, batches, args.steps, cfg)


if __name__ == "__main__":
    main()
