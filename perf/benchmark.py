"""Benchmark: every speed and memory figure of the pipeline against its reference, measured in
one run on one machine (see docs/performance).

    ./benchmark.sh                  short mode (about 9 minutes on a 2-core laptop CPU)
    ./benchmark.sh --mode check     every figure at the least work (the test suite's)
    ./benchmark.sh --mode full      more rounds, the d_model 512 preset throughout
    python perf/benchmark.py --device cuda --mode full --compile   (GPU)

Prints a table of figures with their targets and writes it as JSON (``--out``). Needs the
default experiment's tokenised corpus (``--data``); when it is missing, Snakemake makes it.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))  # the library measured (this folder too)

import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import measures  # noqa: E402
import printout  # noqa: E402
from attnablate.config import experiment  # noqa: E402
from attnablate.config.experiment import SIZE_TRAINING_KEYS  # noqa: E402
from attnablate.model.config import ModelConfig  # noqa: E402
from attnablate.model.transformer import Transformer  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.train.files import DataFiles  # noqa: E402
from attnablate.train.runtime import (  # noqa: E402
    configure_kernels,
    peak_flops,
    pick_device,
    training_precision,
)

DATA = ROOT / "data" / "bible-de-en" / "unigram4000"
SPLITS = ("train", "valid", "test")
# The width ladder whose padding is measured: the one configs/gpu.yaml trains with.
LADDER = yaml.safe_load((ROOT / "configs" / "gpu.yaml").read_text())["train"]["bucket_ladder"]

# The GPU goals: compiled training at least this many times nn.Transformer's tokens/s, and at
# d1024 at least this share of the GPU's datasheet peak (model FLOP utilisation).
COMPILE_TARGET, MFU_TARGET = 1.3, 0.40
# The CPU goals: a pipeline job's training and beam search each at least this many times the
# eager fp32 training and the per-row beam search they replaced.
CPU_SPEEDUP_TARGET = 2.0
PREVIOUS_SEARCH = "936cb42"  # the commit whose beam search the CPU goal is measured against
JOB_THREADS = 1  # the threads of a pipeline job (the train rule's): the CPU paths' setting


# What each figure is measured on, one record per figure (their fields are the measuring
# functions' own arguments). Presets are the default experiment's `small` and
# configs/paper.yaml's d512 and d1024; `--sizes` keeps the records of the presets it names.
@dataclass(frozen=True)
class Throughput:
    size: str
    batch_tokens: int
    count: int  # batches
    rounds: int


@dataclass(frozen=True)
class CpuPaths:
    size: str
    count: int
    rounds: int
    batch_tokens: int | None = None  # None: the default experiment's


@dataclass(frozen=True)
class QqSaving:
    size: str
    batch_tokens: int
    count: int
    rounds: int


@dataclass(frozen=True)
class Beam:
    size: str
    count: int  # sentences
    rounds: int


@dataclass(frozen=True)
class BeamPrevious:  # a trained checkpoint's test set: this search against PREVIOUS_SEARCH's
    rounds: int
    size = "small"  # the preset of the default experiment's run it translates (not a field)


@dataclass(frozen=True)
class Memory:
    size: str
    batch_tokens: int


@dataclass(frozen=True)
class DataWait:
    size: str
    batch_tokens: int
    steps: int


@dataclass(frozen=True)
class Snakemake:  # the workflow's own overhead: no preset
    runs: int  # the grid's training runs
    variants: tuple | None = None  # the finished smoke's variants; None: tests/smoke.yaml's
    repeats: int = 3  # timings of each command, the median reported


MODES = {
    # every figure at the least work that still measures it: what the test suite runs (the
    # figures are well-formed, their sizes are not meant to be read)
    "check": [
        Throughput("small", 1000, 1, 1),
        CpuPaths("small", 2, 1, batch_tokens=500),
        QqSaving("small", 500, 1, 1),  # the same line as the d512 of the other modes, cheaper
        Beam("small", 4, 1),
        Memory("small", 1000),
        DataWait("small", 1000, 4),
        Snakemake(10, variants=("qk",), repeats=1),
    ],
    "short": [
        Throughput("small", 4000, 3, 2),
        CpuPaths("small", 10, 3),
        QqSaving("d512", 2000, 3, 3),
        Beam("small", 32, 2),
        BeamPrevious(2),
        Memory("small", 4000),
        DataWait("small", 4000, 30),
        Snakemake(100),
    ],
    "full": [
        Throughput("small", 4000, 4, 3),
        Throughput("d512", 4000, 3, 3),
        CpuPaths("small", 15, 4),
        QqSaving("d512", 4000, 4, 4),
        Beam("small", 64, 3),
        Beam("d512", 64, 2),
        BeamPrevious(3),
        Memory("small", 4000),
        Memory("d512", 4000),
        DataWait("small", 4000, 100),
        Snakemake(100),
    ],
}
# On a GPU: the presets of the cluster experiment, with batches that fill the card.
GPU_MODES = {
    "check": MODES["check"],
    "short": [
        # d1024 first: its figures are the ones a short GPU window must not lose
        Throughput("d1024", 16000, 4, 2),
        Throughput("d512", 16000, 4, 2),
        QqSaving("d512", 16000, 4, 3),
        Beam("d512", 128, 2),
        Memory("d512", 16000),
        DataWait("d512", 16000, 60),
        Snakemake(100),
    ],
    "full": [
        Throughput("d512", 16000, 8, 3),
        Throughput("d1024", 16000, 8, 3),
        QqSaving("d512", 16000, 8, 5),
        Beam("small", 128, 2),
        Beam("d512", 128, 2),
        Memory("d512", 16000),
        Memory("d1024", 16000),
        DataWait("d512", 16000, 200),
        Snakemake(100),
    ],
}
# --skip's names for the kinds of figure
KINDS = {
    "throughput": Throughput,
    "cpu_paths": CpuPaths,
    "qq_saving": QqSaving,
    "beam": Beam,
    "beam_previous": BeamPrevious,
    "memory": Memory,
    "data_wait": DataWait,
    "snakemake": Snakemake,
}


def select(plan: list, sizes: list[str] | None = None, skip: list[str] = ()) -> list:
    """The plan's records of the presets named (all without ``sizes``; the workflow's own
    figures have no preset and stay), less the kinds skipped."""
    skipped = tuple(KINDS[name] for name in skip)
    return [
        p
        for p in plan
        if not isinstance(p, skipped) and (not sizes or getattr(p, "size", None) in (*sizes, None))
    ]


def presets() -> dict:
    sizes = yaml.safe_load((ROOT / "config.yaml").read_text())["sizes"]
    sizes.update(yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())["sizes"])
    return sizes


class Report:
    """The figures, printed as they come and written to the JSON file after each one: a run
    cut short (a GPU window's end) keeps what it measured."""

    def __init__(self, out: Path, header: dict):
        self.figures: list[dict] = []
        self.out, self.header = out, header
        out.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **extra) -> None:
        document = {**self.header, **extra, "figures": self.figures}
        self.out.write_text(json.dumps(document, indent=1) + "\n")

    def add(self, name, ours, reference, unit, ratio=None, target=None, holds=None, note=""):
        figure = {
            "figure": name,
            "ours": ours,
            "reference": reference,
            "unit": unit,
            "ratio": ratio,
            "target": target,
            "holds": holds,
            "note": note,
        }
        self.figures.append(figure)
        self.write()
        print(printout.format_row(figure), flush=True)


def ensure_data(data: Path) -> None:
    if (data / "train.ids.npz").exists():
        return
    print(f"{data} is missing: making it with the pipeline's own rules ...", flush=True)
    targets = [str((data / f"{split}.ids.npz").relative_to(ROOT)) for split in SPLITS]
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "all", *targets], cwd=ROOT, check=True
    )


def model_config(size: str, vocab: int, variant: str = BASELINE) -> ModelConfig:
    fields = {k: v for k, v in presets()[size].items() if k not in SIZE_TRAINING_KEYS}
    return ModelConfig(vocab_size=vocab, variant=variant, **fields)


def throughput(report, device, data, vocab, size, batch_tokens, count, rounds, compile_, ladder):
    cfg = model_config(size, vocab)
    ours, ref = measures.same_parameters(cfg)
    if ours != ref:
        raise AssertionError(f"parameter counts differ: ours {ours:,}, reference {ref:,}")
    batches = measures.training_batches(
        data / "train.ids.npz", batch_tokens, count * (rounds + 1), ladder=ladder
    )
    trainees = {
        "ours": measures.Trainee(measures.build(cfg, "ours", device), device),
        "reference": measures.Trainee(measures.build(cfg, "reference", device), device),
    }
    if compile_:
        trainees["compiled"] = measures.Trainee(measures.build(cfg, "ours", device), device, True)
    rates = measures.interleaved_throughput(trainees, batches, rounds, device)
    label = f"train tok/s {size} ({ours / 1e6:.1f}M params, {batch_tokens} tok)"
    label += f", ladder {ladder}" if ladder else ""
    report.add(
        label,
        rates["ours"],
        rates["reference"],
        "tok/s",
        rates["ours"] / rates["reference"],
        ">=1.0x",
        rates["ours"] >= rates["reference"],
        "vs torch.nn.Transformer",
    )
    if compile_:
        gain = rates["compiled"] / rates["reference"]
        report.add(
            f"  torch.compile, {size}",
            rates["compiled"],
            rates["reference"],
            "tok/s",
            gain,
            f">={COMPILE_TARGET}x",
            gain >= COMPILE_TARGET,
            f"vs torch.nn.Transformer; {rates['compiled'] / rates['ours']:.2f}x ours eager",
        )
    if device.type == "cuda":
        flops = measures.step_flops(trainees["ours"].model, batches[0], device)
        tokens = measures.target_tokens(batches[0][2])
        flops_per_token = flops / tokens  # forward + backward
        measured = measures.matmul_peak(device)
        sheet = peak_flops(device)
        for name in [n for n in ("ours", "compiled") if n in rates]:
            achieved = flops_per_token * rates[name]
            if sheet:
                report.add(
                    f"  MFU {name} {size} (bf16)",
                    achieved / sheet,
                    None,
                    "of peak",
                    target=f">={MFU_TARGET}" if size == "d1024" else None,
                    holds=achieved / sheet >= MFU_TARGET if size == "d1024" else None,
                    note=f"{achieved / 1e12:.0f} TFLOP/s of {sheet / 1e12:.0f} (datasheet)",
                )
            report.add(
                f"  share of measured matmul peak, {name}",
                achieved / measured,
                None,
                "",
                note=f"8192^3 bf16 product: {measured / 1e12:.0f} TFLOP/s",
            )


def cpu_paths(report, data, vocab, size, count, rounds, batch_tokens, threads, ladder):
    """The CPU training paths side by side, each in its own process, on batches of
    ``batch_tokens`` (None: the default experiment's): what a pipeline job runs against the
    eager fp32 path."""
    train = yaml.safe_load((ROOT / "config.yaml").read_text())["train"]
    batch_tokens = batch_tokens or train["batch_tokens"]
    setting = train["precision"]  # the default experiment's, as its jobs train
    batches = measures.training_batches(
        data / "train.ids.npz", batch_tokens, count * (rounds + 1), ladder=ladder
    )
    cfg = model_config(size, vocab)
    paths = measures.cpu_paths(setting)
    rates = measures.cpu_paths_throughput(cfg, paths, batches, rounds, threads)
    reference = rates["fp32 eager"]
    precision = training_precision(setting, torch.device("cpu"))
    cpu_mfu(report, cfg, batches[0], rates["pipeline"], threads, precision)
    for name, rate in rates.items():
        if name == "fp32 eager":
            continue
        main = name == "pipeline"
        label = f"CPU train tok/s {size}, {batch_tokens} tok" if main else f"  {name}"
        report.add(
            label + (f", ladder {ladder}" if main and ladder else ""),
            rate,
            reference,
            "tok/s",
            rate / reference,
            ">=2.0x" if main else None,
            rate / reference >= 2.0 if main else None,
            f"vs fp32 eager, {threads} thread(s)"
            + (f"; precision {setting} = {precision}" if main else ""),
        )


def cpu_mfu(report, cfg, batch, rate: float, threads: int, precision: str) -> None:
    """The pipeline's CPU path as a share of this core's matrix-product limit in the precision
    it trains in (bf16 where the CPU multiplies bf16 natively, else fp32), measured here at
    ``threads`` threads: at the step's own product shapes, and at a large square. The step's
    FLOPs are counted as the GPU figures count them (matrix products and attention, forward
    and backward)."""
    cpu = torch.device("cpu")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    flops = measures.step_flops(measures.build(cfg, "ours", cpu), batch, cpu)
    achieved = flops / measures.target_tokens(batch[2]) * rate
    tokens = batch[0].numel()  # the rows of the encoder's products (the decoder's alike)
    shapes = {"its own shapes": measures.step_shapes(cfg, tokens), "2048²": [(2048,) * 3]}
    for name, products in shapes.items():
        limit = measures.cpu_matmul_limit(products, threads, dtype)
        main = name == "its own shapes"
        report.add(
            f"CPU MFU pipeline {cfg.d_model}d" if main else "  of a large square's limit",
            achieved / limit,
            None,
            "of limit",
            target=">=0.65" if main else None,
            holds=achieved / limit >= 0.65 if main else None,
            note=f"{achieved / 1e9:.1f} GFLOP/s of {limit / 1e9:.1f} ({precision} products at "
            f"{name}, {threads} thread(s))",
        )


def qq_saving(report, device, data, vocab, size, batch_tokens, count, rounds):
    batches = measures.training_batches(data / "train.ids.npz", batch_tokens, count)
    trainees, flops = {}, {}
    for variant in (BASELINE, "qq@all"):
        model = measures.build(model_config(size, vocab, variant), "ours", device)
        flops[variant] = sum(measures.step_flops(model, b, device) for b in batches)
        trainees[variant] = measures.Trainee(model, device)
    seconds = measures.best_step_seconds(trainees, batches, rounds, device)
    flop_saved = 1 - flops["qq@all"] / flops[BASELINE]
    time_saved = 1 - seconds["qq@all"] / seconds[BASELINE]
    report.add(
        f"qq@all vs qk step, {size}: time saved",
        time_saved,
        flop_saved,
        "share",
        time_saved / flop_saved,
        ">=0.70",
        time_saved / flop_saved >= 0.70,
        "reference column: FLOP share saved",
    )


def beam(report, device, data, vocab, size, count, rounds):
    sentences, length = measures.typical_sentences(data / "test.ids.npz", count)
    torch.manual_seed(0)
    model = Transformer(model_config(size, vocab)).to(device)
    rates = measures.beam_rates(model, sentences, 5, rounds, device)
    ours = rates.get("graphed", rates["cached"])  # what translate uses on this device
    ratio = ours / rates["recomputed"]
    report.add(
        f"beam 5 sentences/s {size}, {length} tokens",
        ours,
        rates["recomputed"],
        "sent/s",
        ratio,
        ">=3.0x",
        ratio >= 3.0,
        "vs recomputing the prefix",
    )
    shared, per_row = rates["cached"], rates["per_row"]
    report.add(
        "  beams sharing their source vs per-row copies",
        shared,
        per_row,
        "sent/s",
        shared / per_row,
        f">={CPU_SPEEDUP_TARGET}x" if device.type == "cpu" else None,
        shared / per_row >= CPU_SPEEDUP_TARGET if device.type == "cpu" else None,
        "eager; same hypotheses",
    )
    if "graphed" in rates:
        graphed, eager = rates["graphed"], rates["cached"]
        report.add(
            "  CUDA-graph step vs eager cached",
            graphed,
            eager,
            "sent/s",
            graphed / eager,
            note="same hypotheses",
        )


def beam_previous(report, rounds):
    """perf/beam_vs_previous.py in a process of its own (it loads two versions of the library)
    on the default experiment's trained qk checkpoint; where that run or the commit is missing,
    a line says why and the benchmark goes on."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figure.json"
        command = [sys.executable, str(ROOT / "perf" / "beam_vs_previous.py")]
        done = subprocess.run(
            [*command, "--rounds", str(rounds), "--json", str(out)], capture_output=True, text=True
        )
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"beam against {PREVIOUS_SEARCH}'s search: not measured ({reason})", flush=True)
            return
        figure = json.loads(out.read_text())
    report.add(figure.pop("figure"), **figure)  # the other fields are Report.add's own


def memory(report, device, data, vocab, size, batch_tokens):
    cfg = model_config(size, vocab)
    if device.type == "cuda":
        batches = measures.training_batches(data / "train.ids.npz", batch_tokens, 1)
        peaks = {
            kind: measures.cuda_peak_step_memory(measures.build(cfg, kind, device), batches, device)
            for kind in ("ours", "reference")
        }
    else:
        peaks = {
            kind: measures.cpu_peak_step_memory(cfg, kind, data / "train.ids.npz", batch_tokens)
            for kind in ("ours", "reference")
        }
    mib = {kind: peak / 2**20 for kind, peak in peaks.items()}
    report.add(
        f"peak step memory {size}, {batch_tokens} tok",
        mib["ours"],
        mib["reference"],
        "MiB",
        mib["ours"] / mib["reference"],
        "<=1.0x",
        mib["ours"] <= mib["reference"],
        "above model + Adam state",
    )


def data_wait(report, device, data, vocab, size, batch_tokens, steps, threads):
    with tempfile.TemporaryDirectory() as folder:
        result = measures.data_wait_share(
            model_config(size, vocab),
            DataFiles.of(data, data.parent),
            Path(folder),
            steps,
            batch_tokens,
            str(device),
            threads,
        )
    for ladder in (0.0, LADDER):
        share, shapes = measures.padding_share(data / "train.ids.npz", batch_tokens, ladder=ladder)
        how = f"width ladder {ladder}" if ladder else "padded to the longest"
        report.add(
            f"padding, {batch_tokens}-tok batches, {how}",
            share,
            None,
            "of tokens",
            target="<=0.10" if ladder else None,
            holds=share <= 0.10 if ladder else None,
            note=f"one epoch, both sides; {shapes} batch shapes",
        )
    report.add(
        f"data wait, {steps} training steps {size}",
        result["share"],
        None,
        "of step",
        target="<0.05",
        holds=result["share"] < 0.05,
        note=f"real training loop, {result['tokens_per_second']:,.0f} tok/s",
    )


def snakemake_times(report, runs: int, variants: tuple | None, repeats: int):
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    if not Path(snakemake).exists():
        report.add("snakemake timings", None, None, "", note="skipped: snakemake not installed")
        return
    probe = measures.slurm_probe_seconds()
    with tempfile.TemporaryDirectory() as folder:
        grid = measures.grid_config(ROOT / "config.yaml", runs)
        seconds = measures.snakemake_seconds(
            snakemake, ROOT, Path(folder) / "grid", grid, "-n", repeats=repeats
        )
        report.add(
            f"snakemake --dry-run, {runs}-run grid",
            seconds,
            None,
            "s",
            target="<5",
            holds=seconds < 5,
            note=f"median of {repeats}",
        )
        smoke = experiment.rooted(yaml.safe_load((ROOT / "tests" / "smoke.yaml").read_text()), ROOT)
        if variants:
            smoke["variants"] = list(variants)
        workdir = Path(folder) / "smoke"
        began = time.perf_counter()
        measures.snakemake_seconds(snakemake, ROOT, workdir, smoke, repeats=1)
        first = time.perf_counter() - began
        seconds = measures.snakemake_seconds(snakemake, ROOT, workdir, smoke, repeats=repeats)
        report.add(
            "snakemake no-op rerun, finished smoke",
            seconds,
            first,
            "s",
            target="<5",
            holds=seconds < 5,
            note=f"median of {repeats}; reference column: the smoke run itself"
            + (f" ({', '.join(variants)} only)" if variants else ""),
        )
    if probe is not None:
        report.add(
            "  of which Slurm plugin's scontrol probe",
            probe,
            None,
            "s",
            note="slurmctld down: up to 10 s per call" if probe > 1 else "",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="short")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data", type=Path, default=DATA, help="tokenised corpus folder")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument(
        "--bucket-ladder",
        type=float,
        default=0.0,
        help="train.bucket_ladder of the throughput batches (0: none)",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=KINDS, help="kinds of figure to leave out"
    )
    parser.add_argument("--sizes", nargs="*", help="only these presets (e.g. d1024)")
    parser.add_argument("--out", type=Path, help="JSON file (default results/benchmark/...)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    plan = select((GPU_MODES if device.type == "cuda" else MODES)[args.mode], args.sizes, args.skip)
    configure_kernels(device)  # what training does: the same kernels for ours and the reference
    ensure_data(args.data)
    vocab = spm.SentencePieceProcessor(model_file=str(args.data / "spm.model")).get_piece_size()
    info = measures.machine(device, args.threads)
    print(printout.machine_line(info))
    print(f"mode: {args.mode}; corpus: {args.data} (vocabulary {vocab})")
    command = " ".join(["python3", str(Path(__file__).resolve().relative_to(ROOT)), *sys.argv[1:]])
    print(f"date: {time.strftime('%Y-%m-%d')}; command: {command}\n")
    print(printout.HEADER)
    out = args.out or ROOT / "results" / "benchmark" / f"{args.mode}-{device.type}.json"
    report, d = Report(out, {"machine": info, "mode": args.mode}), args.data
    began = time.perf_counter()
    measure = {
        Throughput: lambda p: throughput(
            report, device, d, vocab, **vars(p), compile_=args.compile, ladder=args.bucket_ladder
        ),
        CpuPaths: lambda p: cpu_paths(
            report, d, vocab, **vars(p), threads=JOB_THREADS, ladder=args.bucket_ladder
        ),
        QqSaving: lambda p: qq_saving(report, device, d, vocab, **vars(p)),
        Beam: lambda p: beam(report, device, d, vocab, **vars(p)),
        BeamPrevious: lambda p: beam_previous(report, **vars(p)),
        Memory: lambda p: memory(report, device, d, vocab, **vars(p)),
        DataWait: lambda p: data_wait(report, device, d, vocab, **vars(p), threads=args.threads),
        Snakemake: lambda p: snakemake_times(report, **vars(p)),
    }
    for p in plan:
        measure[type(p)](p)
    seconds = time.perf_counter() - began
    print(f"\n{len(report.figures)} figures in {seconds:.0f} s")
    report.write(seconds=seconds)
    print(f"written: {report.out}")


if __name__ == "__main__":
    main()
