"""How many small runs one GPU holds: N identical qk runs of configs/gpu.yaml's size and recipe
started together (N = 1, 4, ...), each run's tokens/s over its own training, and their sum
against one alone on the same GPU.

A measurement for a lent GPU window, not a workflow step: it calls the library's training
directly, on the tokenised default corpus (data/bible-de-en/unigram4000, carried along).

Usage: python3 tools/gpu_pack.py --out DIR [--steps 600] [--counts 1,4]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

from attnablate.config.experiment import Experiment  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.train.config import JobConfig, TrainConfig  # noqa: E402
from attnablate.train.files import DataFiles, RunFiles  # noqa: E402

DATA = ROOT / "data" / "bible-de-en"
DATA_FILES = DataFiles.of(DATA / "unigram4000", DATA)

# What packing must give to pay: this many runs together at least this many times the
# aggregate tokens/s of one alone.
TARGET_RUNS, TARGET_RATIO = 4, 2.5


def one_run(config: dict, run: dict, out: Path, device: str) -> None:
    """One run of ``config`` in this process, as the train rule runs it (``--one-run``)."""
    # here, not at the top: tools/perf_tables.py reads this file's targets without torch
    from attnablate.data.tokenizer import vocabulary_size
    from attnablate.train.loop import Run, train

    vocab = vocabulary_size(DATA_FILES.spm)
    planned = Experiment.of(config)
    model = planned.model_config(run["variant"], run["size"], run["match"], vocab)
    job = JobConfig(**config["train"]["job"])
    cfg = TrainConfig(**planned.train_settings(run["size"]), job=job, device=device)
    train(Run(model, cfg, int(run["seed"]), run), DATA_FILES, RunFiles(out))


def launch(config: dict, runs: list[dict], out: Path, device: str) -> tuple[float, list]:
    """Start every run at once; wait for all. Returns the wall seconds and each run's rate
    (the training loop's own tokens/s at its last progress line, before the final validation)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "workflow" / "scripts"),
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }
    began = time.perf_counter()
    jobs = []
    for run in runs:
        folder = out / f"seed{run['seed']}"
        folder.mkdir(parents=True, exist_ok=True)
        args = ["--one-run", json.dumps(config), json.dumps(run), str(folder), device]
        log = open(folder / "log.txt", "w")
        jobs.append(
            (
                folder,
                subprocess.Popen(
                    [sys.executable, __file__, *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    failed = [str(folder) for folder, job in jobs if job.wait() != 0]
    wall = time.perf_counter() - began
    if failed:
        print("failed (see log.txt):", *failed, sep="\n  ", flush=True)
    rates = []
    for folder, _ in jobs:
        progress = [
            line for line in (folder / "log.txt").read_text().splitlines() if " tok/s " in line
        ]
        rate = progress[-1].split(" tok/s")[0].rsplit("| ", 1)[1] if progress else "0"
        rates.append(float(rate.replace(",", "")))
    return wall, rates


def main() -> None:
    if sys.argv[1:2] == ["--one-run"]:  # a child of launch()
        config, run, out, device = sys.argv[2:]
        return one_run(json.loads(config), json.loads(run), Path(out), device)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--counts", default="1,4")
    parser.add_argument("--label", default="", help="a word for the printout (e.g. mps)")
    parser.add_argument("--device", default="cuda", help="cpu: a quick check of the script")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile each run (train.compile: true)"
    )
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "configs" / "gpu.yaml").read_text())
    (size,) = config["sizes"]
    short = {
        "max_steps": args.steps,
        "eval_every": args.steps,
        "valid_bleu_sentences": 10,
        "stop_at_convergence": False,
        "budgets": [],  # one run to max_steps, not a ladder
    }
    job = {
        "log_every": args.steps // 4,
        "save_every": 10**9,
        "save_minutes": 10**6,
        "tensorboard": False,
        "compile": args.compile,
    }
    config = {**config, "train": {**config["train"], **short, "job": job}}
    results = {}
    for n in [int(c) for c in args.counts.split(",")]:
        runs = [
            {"variant": BASELINE, "size": size, "match": "none", "seed": s + 1} for s in range(n)
        ]
        wall, rates = launch(config, runs, args.out / f"packing{args.label}-{n}", args.device)
        results[n] = {
            "wall_seconds": round(wall, 1),
            "tokens_per_second": rates,
            "aggregate_tokens_per_second": round(sum(rates), 1),
        }
        alone = results[min(results)]["aggregate_tokens_per_second"]
        print(
            f"packing{' ' + args.label if args.label else ''}: {n} run(s) of {size}, "
            f"{args.steps} steps: wall {wall:.1f} s, tok/s each "
            f"{', '.join(f'{r:,.0f}' for r in rates)}; aggregate {sum(rates):,.0f} "
            f"= {sum(rates) / alone:.2f}x one alone",
            flush=True,
        )
    name = f"gpu_pack{'-' + args.label if args.label else ''}.json"
    (args.out / name).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
