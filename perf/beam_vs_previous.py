"""Beam search against the search of an earlier commit, on a trained checkpoint's whole test set:
sentences per second of each (one thread, the translate step's settings, alternating rounds),
whether the hypotheses are identical, and with --profile where each one's time goes.

    python perf/beam_vs_previous.py [--checkpoint runs/default/qk/small/none/seed1/steps1000/
        checkpoint.pt] [--test data/bible-de-en/unigram4000/test.ids.npz] [--commit C]
        [--rounds 2] [--profile] [--json FIGURE.json]

The earlier commit (by default benchmark.PREVIOUS_SEARCH, the CPU goal's reference) has its
workflow/scripts taken from git (git archive); its package laid out modules differently, so it
is loaded by its own names. Run it on a quiet machine: both searches share whatever else runs,
but their ratio moves with it.
"""

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import torch
from benchmark import CPU_SPEEDUP_TARGET, PREVIOUS_SEARCH

from measures import machine
from printout import HEADER, format_row, machine_line

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = "workflow/scripts"
RUN = "runs/default/qk/small/none/seed1/steps1000/checkpoint.pt"
TEST = "data/bible-de-en/unigram4000/test.ids.npz"

# op kinds of the profile, by the aten ops that make them
KINDS = {
    "matrix products": ("aten::addmm", "aten::mm", "aten::bmm"),
    "attention kernel": ("aten::_scaled_dot_product_flash_attention_for_cpu",),
    "log-softmax and top-k over the vocabulary": ("aten::_log_softmax", "aten::topk"),
    "cache and row copies": ("aten::cat", "aten::index_select", "aten::index", "aten::copy_"),
}


def forget_package() -> None:
    """Drop every attnablate module imported so far, so that the next import reads another
    tree's."""
    for name in [m for m in sys.modules if m == "attnablate" or m.startswith("attnablate.")]:
        del sys.modules[name]


def searcher(scripts: Path, checkpoint: Path, test: Path):
    """A function that translates the test set with the package under ``scripts`` (this
    tree's layout, or the earlier flat one), and the number of sentences."""
    forget_package()
    sys.path.insert(0, str(scripts))
    try:
        from attnablate.data.tokenizer import load_split
        from attnablate.model.search import DecodeConfig, translate
        from attnablate.train.checkpoint import load_checkpoint
        from attnablate.train.runtime import configure_kernels

        model, _ = load_checkpoint(checkpoint, map_location="cpu")
    except ModuleNotFoundError:  # the earlier layout: one flat package
        from attnablate.decode import DecodeConfig, translate
        from attnablate.model import Transformer
        from attnablate.modelconfig import ModelConfig
        from attnablate.runtime import configure_kernels
        from attnablate.tokenizer import load_split

        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        known = ModelConfig.__dataclass_fields__
        model = Transformer(
            ModelConfig(**{k: v for k, v in state["model_config"].items() if k in known})
        )
        model.load_state_dict(state["model"])
    finally:
        sys.path.pop(0)
    configure_kernels(torch.device("cpu"))
    model.eval()
    src, _ = load_split(test)
    return (lambda: translate(model, src, DecodeConfig())), len(src)


def previous_tree(commit: str, into: Path) -> Path:
    """The commit's workflow/scripts, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, SCRIPTS], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / SCRIPTS


def profile_line(search) -> list[str]:
    """One search under torch's profiler (after a warm-up): op self-time by kind."""
    from torch.profiler import profile

    search()
    with profile() as prof:
        search()
    times = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    total, lines = sum(times.values()), []
    for kind, ops in KINDS.items():
        seconds = sum(times.get(op, 0.0) for op in ops)
        lines.append(f"  {kind:44s} {seconds:6.2f} s  {seconds / total:6.1%}")
    rest = total - sum(sum(times.get(op, 0.0) for op in ops) for ops in KINDS.values())
    lines.append(f"  {'other ops':44s} {rest:6.2f} s  {rest / total:6.1%}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / RUN)
    parser.add_argument("--test", type=Path, default=ROOT / TEST)
    parser.add_argument("--commit", default=PREVIOUS_SEARCH)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figure here (the benchmark's)")
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        parser.error(f"no trained checkpoint at {args.checkpoint}: ./run.sh trains it")
    torch.set_num_threads(1)  # a translate job's thread
    with tempfile.TemporaryDirectory() as tmp:
        trees = {
            f"previous ({args.commit})": previous_tree(args.commit, Path(tmp)),
            "this commit": ROOT / SCRIPTS,
        }
        searches = {name: searcher(s, args.checkpoint, args.test) for name, s in trees.items()}
        rates: dict = {name: [] for name in trees}
        hypotheses = {}
        for _ in range(args.rounds):
            for name, (search, count) in searches.items():
                began = time.perf_counter()
                hypotheses[name] = search()
                rates[name].append(count / (time.perf_counter() - began))
        profiles = (
            {name: profile_line(s) for name, (s, _) in searches.items()} if args.profile else {}
        )
    print(machine_line(machine(torch.device("cpu"), 1)))
    print(f"checkpoint: {args.checkpoint}; test set: {args.test} ({count:,} sentences)")
    print(f"{'search':24s}" + "".join(f"round {i + 1:<4d}" for i in range(args.rounds)) + "best")
    for name, r in rates.items():
        print(f"{name:24s}" + "".join(f"{x:<10.1f}" for x in r) + f"{max(r):.1f} sent/s")
    for name, lines in profiles.items():
        print(f"where the time goes, {name} (op self-time under torch's profiler):")
        print("\n".join(lines))
    previous, ours = (hypotheses[name] for name in trees)
    same = sum(a == b for a, b in zip(previous, ours))
    theirs, mine = (max(r) for r in rates.values())
    print(HEADER)
    figure = {
        "figure": "beam 4 sentences/s, trained model, test set",
        "ours": mine,
        "reference": theirs,
        "unit": "sent/s",
        "ratio": mine / theirs,
        "target": f">={CPU_SPEEDUP_TARGET}x",
        "holds": mine / theirs >= CPU_SPEEDUP_TARGET,
        "note": f"vs {args.commit}'s search, 1 thread; {same:,} of {len(ours):,} same hypotheses",
    }
    print(format_row(figure))
    if args.json:
        args.json.write_text(json.dumps(figure))


if __name__ == "__main__":
    main()
