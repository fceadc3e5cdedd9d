"""The benchmark's check mode (the short mode's figures at the least work): every figure of
the performance issue printed, with the machine, and the checks it makes on the way (equal
parameter counts, the cached beam search equal to recomputing the prefix) passing. Targets are
not asserted here: timings belong to the benchmark's output, not to a test (docs/performance)."""

import json
import math
import subprocess
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "perf"))
from benchmark import PREVIOUS_SEARCH  # noqa: E402

import printout  # noqa: E402

FIGURES = (
    "train tok/s small",
    "CPU train tok/s small",  # the pipeline's CPU path against eager fp32
    "  bf16 alone",
    "  allocator and caches alone",
    "CPU MFU pipeline",  # of the core's matrix-product limit, measured in the same run
    "  of a large square's limit",
    "qq@all vs qk step, small",
    "beam 5 sentences/s small",
    "  beams sharing their source vs per-row copies",
    "peak step memory small",
    "data wait",
    "snakemake --dry-run,",
    "snakemake no-op rerun, finished smoke",
)


@pytest.mark.workflow
@pytest.mark.slow
def test_short_benchmark_prints_every_figure(tmp_path):
    out = tmp_path / "benchmark.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "perf" / "benchmark.py"), "--mode", "check", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["machine"]["torch"] and result["machine"]["cores"] >= 1
    names = [f["figure"] for f in result["figures"]]
    for figure in FIGURES:
        assert any(name.startswith(figure) for name in names), (figure, names)
        assert figure in done.stdout
    for f in result["figures"]:
        if f["ours"] is not None:  # well-formed; its size is the printout's, not a test's
            assert isinstance(f["ours"], (int, float)) and math.isfinite(f["ours"]), f
        if f["target"]:
            assert f["holds"] in (True, False), f
    # the printout is what docs/performance keeps and its tables are read from: every
    # figure of the JSON reads back from it, with the date and command beside it
    printed = [fields for fields in map(printout.parse_row, done.stdout.splitlines()) if fields]
    assert [p["figure"] for p in printed] == [f["figure"].strip() for f in result["figures"]]
    assert [p["ours"] for p in printed] == [printout.number(f["ours"]) for f in result["figures"]]
    assert "; command: python3 perf/benchmark.py --mode check --out " in done.stdout


def test_sizes_keep_only_the_figures_of_the_presets_named():
    """`--sizes d1024` measures d1024 alone (and the workflow's own overhead, which has no
    preset); `--skip` leaves out whole kinds of figure."""
    sys.path.insert(0, str(ROOT / "perf"))
    import benchmark

    plan = benchmark.select(benchmark.GPU_MODES["short"], ["d1024"])
    assert plan == [benchmark.Throughput("d1024", 16000, 4, 2), benchmark.Snakemake(100)]
    kept = benchmark.select(benchmark.MODES["full"], ["d512"], skip=["beam", "snakemake"])
    assert {type(p).__name__ for p in kept} == {"Throughput", "QqSaving", "Memory"}
    assert all(p.size == "d512" for p in kept)
    assert benchmark.select(benchmark.MODES["short"]) == benchmark.MODES["short"]


def test_a_negative_figure_reads_back_from_its_printed_line():
    """A time saving measured under load can come out below zero: its line still reads back
    (docs/performance's tables are read from the printout)."""
    figure = {
        "figure": "qq@all vs qk step, d512: time saved",
        "ours": -0.010771659938633382,
        "reference": 0.067,
        "unit": "share",
        "ratio": -0.16,
        "target": ">=0.70",
        "holds": False,
        "note": "reference column: FLOP share saved",
    }
    fields = printout.parse_row(printout.format_row(figure))
    assert fields["figure"] == figure["figure"]
    assert (fields["ours"], fields["ratio"], fields["met"]) == ("-0.0108", "-0.16x", "NO")
    # far below zero where the FLOP share saved is small: the ratio still fits its column
    shown_as = {-166.4: "-166x", -2.5e5: "-2e+05x", 99.994: "99.99x", -99.996: "-100x"}
    for ratio, shown in shown_as.items():
        fields = printout.parse_row(printout.format_row({**figure, "ratio": ratio}))
        assert fields["ratio"] == shown and fields["met"] == "NO", ratio


SNAKEMAKE_LOG = """\
[Thu Dec  3 13:07:17 2026]
localrule stable:
    output: runs/x/stable200/meta.json
    log: logs/x/stable200/train.log
    jobid: 7
    reason: Missing output files

[Thu Dec  3 13:07:18 2026]
rule score:
    log: logs/x/steps250/score.log
    jobid: 9

[Thu Dec  3 13:07:21 2026]
Finished jobid: 9 (Rule: score)
[Thu Dec  3 13:09:57 2026]
Finished jobid: 7 (Rule: stable)
"""


def test_outside_the_work_is_each_jobs_time_besides_the_parts_its_log_gives(tmp_path):
    """A training job of 160 s whose log gives 150 s of steps, evaluation and states has 10 s
    outside the work; a scoring job without a job-time line is outside the work whole."""
    import outside_work

    from attnablate.timing import JobClock, read_line

    clock = JobClock()
    clock.begin()
    clock.add("steps", 140.0)
    clock.add("evaluation", 9.5)
    assert list(read_line(f"step 10\n{clock.line()}\n")) == [
        "before",
        "steps",
        "evaluation",
        "other",
    ]
    log = tmp_path / "logs" / "x" / "stable200" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "done\njob time: before 6.0 s | steps 140.0 s | evaluation 9.5 s | states 0.5 s | "
        "other 4.0 s\n"
    )
    (tmp_path / "run.log").write_text(SNAKEMAKE_LOG)
    jobs = outside_work.jobs_of(tmp_path / "run.log")
    assert [(j["rule"], j["end"] - j["start"]) for j in jobs] == [("score", 3.0), ("stable", 160.0)]
    rows, wall = outside_work.table(jobs, tmp_path)
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["stable"]["work"] == 150.0 and by_rule["stable"]["timed"] == 1
    assert by_rule["score"]["work"] == 0.0 and wall == 160.0


@pytest.mark.slow
@pytest.mark.skipif(
    subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", PREVIOUS_SEARCH]).returncode != 0,
    reason="the clone lacks the commit whose search is compared against",
)
def test_beam_against_the_previous_search_prints_its_figure(tmp_path):
    """The earlier commit's search and this one's on a saved model: the figure line reads
    back, and both searches give the same hypotheses."""
    import numpy as np
    import torch

    from attnablate.model.config import ModelConfig
    from attnablate.model.transformer import Transformer
    from attnablate.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=48, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=32)
    save_checkpoint(tmp_path / "model.pt", Transformer(cfg), step=1)
    rng = np.random.default_rng(0)
    sentences = [rng.integers(4, 48, size=n) for n in (3, 5, 7, 4, 6)]  # ids past the specials
    ids = np.concatenate(sentences).astype(np.int32)
    offsets = np.cumsum([0] + [len(s) for s in sentences])
    np.savez(
        tmp_path / "test.ids.npz",
        src_ids=ids,
        src_offsets=offsets,
        tgt_ids=ids,
        tgt_offsets=offsets,
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "perf" / "beam_vs_previous.py"), "--rounds", "1"]
        + ["--checkpoint", str(tmp_path / "model.pt"), "--test", str(tmp_path / "test.ids.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    (row,) = lines[lines.index(printout.HEADER.rstrip()) + 1 :]
    row = printout.parse_row(row)
    assert row["figure"].startswith("beam 4 sentences/s") and row["unit"] == "sent/s"
    assert float(row["ours"]) > 0 and float(row["reference"]) > 0
    assert "5 of 5 same hypotheses" in row["note"]
