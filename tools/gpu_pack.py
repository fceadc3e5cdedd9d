"""How many small runs one GPU holds, and the default experiment's cells at a longer budget.

A measurement for a lent GPU window, not a workflow step: it calls the library's own training,
translation and scoring directly (no Snakemake on the GPU machine), on the tokenised default
corpus that ./run.sh prepares (data/bible-de-en/unigram4000, carried along).

  packing   N identical qk runs of one size (d256 of paper.yaml by default; config.yaml's
            recipe) started together, N = 1, 4, 8:
            each run's tokens/s over its own training, and their sum against one alone.
  study     the default experiment's cells (qk, qq@enc, qq@enc matched, nov@enc, noo@enc) at
            config.yaml's size, recipe and seeds, at --study-steps steps (the linear schedule
            decays over them), all packed on the GPU at once, then beam search on the test set
            and sacrebleu: curves, meta and scores of every run, and the wall time of it all.

Usage: python3 tools/gpu_pack.py --out DIR [--phases packing,study] [--study-steps 3200]
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

from attnablate import experiment  # noqa: E402

DATA = ROOT / "data" / "bible-de-en"
TOK = DATA / "unigram4000"

# One run in its own process, as the train and translate rules run it.
RUN = """
import json, sys
from attnablate import experiment
from attnablate.checkpoint import load_checkpoint
from attnablate.decode import DecodeConfig, translate
from attnablate.score import score
from attnablate.tokenizer import load_split, vocabulary_size
from attnablate.train import TrainConfig, train
import sentencepiece as spm
config, run, out, data, device, sentences = (json.loads(a) for a in sys.argv[1:7])
vocab = vocabulary_size(data["spm"])
model = experiment.model_config(config, run["variant"], run["size"], run["match"], vocab)
cfg = TrainConfig(**experiment.train_settings(config, run["size"]), device=device)
outputs = {"checkpoint": f"{out}/checkpoint.pt", "curves": f"{out}/curves.tsv",
           "meta": f"{out}/meta.json", "dynamics": f"{out}/dynamics.tsv"}
train(model, cfg, int(run["seed"]), data, outputs, run)
if sentences:
    net, _ = load_checkpoint(outputs["checkpoint"], map_location=device)
    sp = spm.SentencePieceProcessor(model_file=data["spm"])
    src = load_split(data["test"])[0][:sentences]
    decode = DecodeConfig(**config.get("decode", {}))
    hyps = [sp.decode(h) for h in translate(net.to(device), src, decode, device)]
    refs = open(data["test_ref"], encoding="utf-8").read().splitlines()[: len(hyps)]
    json.dump(score(hyps, refs), open(f"{out}/scores.json", "w"))
"""


def launch(config: dict, runs: list[dict], out: Path, device: str, sentences: int) -> tuple:
    """Start every run at once; wait for all. Returns the wall seconds and each run's meta."""
    data = {
        "spm": str(TOK / "spm.model"), "train": str(TOK / "train.ids.npz"),
        "valid": str(TOK / "valid.ids.npz"), "valid_ref": str(DATA / "valid.tgt"),
        "test": str(TOK / "test.ids.npz"), "test_ref": str(DATA / "test.tgt"),
    }  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow" / "scripts"),
           "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}  # fmt: skip
    began = time.perf_counter()
    jobs = []
    for run in runs:
        folder = out / "{variant}-{match}-seed{seed}".format(**run)
        folder.mkdir(parents=True, exist_ok=True)
        args = [json.dumps(x) for x in (config, run, str(folder), data, device, sentences)]
        log = open(folder / "log.txt", "w")
        jobs.append((folder, subprocess.Popen([sys.executable, "-c", RUN, *args], env=env,
                                              stdout=log, stderr=subprocess.STDOUT)))  # fmt: skip
    failed = [str(f) for f, job in jobs if job.wait() != 0]
    wall = time.perf_counter() - began
    if failed:
        print("failed:", *failed, sep="\n  ", flush=True)
    metas = []
    for folder, _ in jobs:
        meta_path = folder / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        # the training loop's own rate at its last progress line: before the final validation
        progress = [line for line in (folder / "log.txt").read_text().splitlines()
                    if " tok/s " in line]  # fmt: skip
        if progress:
            rate = progress[-1].split(" tok/s")[0].rsplit("| ", 1)[1]
            meta["loop_tokens_per_second"] = float(rate.replace(",", ""))
        scores_path = folder / "scores.json"
        if scores_path.exists():
            meta["scores"] = json.loads(scores_path.read_text())
        metas.append(meta)
    return wall, metas


def packing(config: dict, out: Path, steps: int, counts: list[int], device: str,
            size: str) -> dict:  # fmt: skip
    presets = {**yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())["sizes"],
               **config["sizes"]}  # fmt: skip
    short = {
        "max_steps": steps,
        "eval_every": steps,
        "log_every": 100,
        "save_every": 10**9,
        "save_minutes": 10**6,
        "valid_bleu_sentences": 10,
        "schedule": "inverse_sqrt",
    }
    config = {**config, "sizes": {size: presets[size]}, "train": {**config["train"], **short}}
    results = {}
    for n in counts:
        runs = [{"variant": "qk", "size": size, "match": "none", "seed": s + 1} for s in range(n)]
        wall, metas = launch(config, runs, out / f"packing-{n}", device, 0)
        rates = [m.get("loop_tokens_per_second") or 0.0 for m in metas]
        results[n] = {"wall_seconds": round(wall, 1), "tokens_per_second": rates,
                      "aggregate_tokens_per_second": round(sum(rates), 1),
                      "train_seconds": [m.get("train_seconds") for m in metas]}  # fmt: skip
        alone = results[min(results)]["aggregate_tokens_per_second"]
        print(f"packing {n} run(s) of {size}: wall {wall:.1f} s, tok/s each "
              f"{', '.join(f'{r:,.0f}' for r in rates)}; aggregate {sum(rates):,.0f} "
              f"= {sum(rates) / alone:.2f}x one alone", flush=True)  # fmt: skip
    return results


def study(config: dict, out: Path, steps: int, device: str, sentences: int) -> dict:
    config = {**config, "train": {**config["train"], "max_steps": steps,
                                  "eval_every": max(steps // 8, 1), "save_every": 10**9,
                                  "save_minutes": 10**6}}  # fmt: skip
    runs = experiment.runs(config)
    wall, metas = launch(config, runs, out / "study", device, sentences)
    rows = []
    for run, meta in zip(runs, metas):
        scores = meta.get("scores", {})
        rows.append({**run, "best_valid_loss": meta.get("best_valid_loss"),
                     "best_step": meta.get("best_step"), "test_bleu": scores.get("bleu"),
                     "test_chrf": scores.get("chrf"), "train_seconds": meta.get("train_seconds"),
                     "tokens_per_second": meta.get("tokens_per_second"),
                     "epochs_seen": meta.get("epochs_seen")})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(f"study: {len(runs)} runs of {steps} steps packed on one GPU, trained, translated and "
          f"scored in {wall:.1f} s wall", flush=True)  # fmt: skip
    return {"steps": steps, "wall_seconds": round(wall, 1), "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phases", default="packing,study")
    parser.add_argument("--packing-steps", type=int, default=2000)
    parser.add_argument("--packing-counts", default="1,4,8")
    parser.add_argument("--packing-size", default="d256", help="preset of config or paper.yaml")
    parser.add_argument("--study-steps", type=int, default=3200)
    parser.add_argument("--test-sentences", type=int, default=10**9, help="(a quick check)")
    parser.add_argument("--device", default="cuda", help="cpu: a quick check of the script")
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    import torch  # noqa: PLC0415  (after the argument check: a typo costs no CUDA start)

    name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    print(f"torch {torch.__version__}, {name}", flush=True)
    results = {"device": name, "torch": torch.__version__}
    phases = args.phases.split(",")
    if "packing" in phases:
        counts = [int(n) for n in args.packing_counts.split(",")]
        results["packing"] = packing(
            config, args.out, args.packing_steps, counts, args.device, args.packing_size
        )
        (args.out / "gpu_pack.json").write_text(json.dumps(results, indent=1))  # if study stops
    if "study" in phases:
        results["study"] = study(
            config, args.out, args.study_steps, args.device, args.test_sentences
        )
    (args.out / "gpu_pack.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
