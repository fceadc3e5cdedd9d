"""docs/performance's tables come from the raw printouts there: a printed figure reads back
as printed, and a study's, packing run's or timed pipeline run's printout gives the figures a
user looks for (wall time against the window, runs converged, packing against one alone, what
the default run costs)."""

import sys

import pytest
from conftest import ROOT

# perf/ and tools/ are script folders, not packages: one module each, as the tool imports them
sys.path[:0] = [str(ROOT / "perf"), str(ROOT / "tools")]
import run_times  # noqa: E402

import perf_tables as tables  # noqa: E402
import printout  # noqa: E402


@pytest.mark.parametrize(
    "figure",
    [
        {
            "figure": "train tok/s d512 (46.2M params, 16000 tok), ladder 1.1",
            "ours": 104365.0,
            "reference": 121768.0,
            "unit": "tok/s",
            "ratio": 0.857,
            "target": ">=1.0x",
            "holds": False,
            "note": "vs torch.nn.Transformer",
        },
        {
            "figure": "  MFU ours d1024 (bf16)",
            "ours": 0.2604,
            "reference": None,
            "unit": "of peak",
            "ratio": None,
            "target": ">=0.4",
            "holds": False,
            "note": "257 TFLOP/s of 989 (datasheet)",
        },
        {
            "figure": "  share of measured matmul peak, ours",
            "ours": 0.0384,
            "reference": None,
            "unit": "",
            "ratio": None,
            "target": None,
            "holds": None,
            "note": "",
        },
        {
            "figure": "padding, 4000-tok batches, width ladder 1.1",
            "ours": 0.088,
            "reference": None,
            "unit": "of tokens",
            "ratio": None,
            "target": "<=0.10",
            "holds": True,
            "note": "one epoch, both sides; 312 batch shapes",
        },
        {
            "figure": "beam 5 sentences/s d512, 34 tokens",
            "ours": 1234.5,
            "reference": 98.0,
            "unit": "sent/s",
            "ratio": 12.597,
            "target": ">=3.0x",
            "holds": True,
            "note": "vs recomputing the prefix",
        },
    ],
)
def test_a_printed_figure_reads_back_as_printed(figure):
    line = printout.format_row(figure)
    fields = printout.parse_row(line)
    assert fields is not None, line
    assert fields["figure"] == figure["figure"].strip()
    assert fields["indent"] == figure["figure"].startswith(" ")
    assert fields["ours"] == printout.number(figure["ours"])
    assert fields["reference"] == printout.number(figure["reference"])
    assert fields["unit"] == figure["unit"]
    assert fields["ratio"] == printout.ratio_text(figure["ratio"])
    assert fields["target"] == (figure["target"] or "")
    assert fields["met"] == printout.MARKS[figure["holds"]]
    assert fields["note"] == figure["note"]


def test_other_lines_of_a_printout_are_not_figures():
    for line in [
        printout.HEADER,
        "train pairs: 28102 (0 longer than 128 tokens dropped)",
        "step 30/60 | loss 7.5901 | 21,789 tok/s | data 2.3% of step time",
        "qk\tnone\t1\t8240\t22247990\t22.375\t241.34",
        "done: 60 steps, 619,628 target tokens in 0m33s",
    ]:
        assert printout.parse_row(line) is None, line


STUDY = """# tools/gpu-check.sh study, 2026-12-01: configs/gpu.yaml through Snakemake
# (python3 -m snakemake --configfile configs/gpu.yaml --cores 16 --resources gpu_share=100), mps: on
NVIDIA H100 80GB HBM3, 81559 MiB, 570.86.15
torch 2.11.0+cu130 python 3.12.3
study: exit {status} after {seconds} s wall

## per run (results/gpu/runs.tsv)
variant\tseed\tsteps\ttokens_per_second\tstopped_by\tconverged\tlast_quarter_gain
qk\t1\t5200\t90000.6\tconverged\tTrue\t0.004
qk\t2\t12600\t91000.0\tminutes\tFalse\t0.021

## the DAG's job timeline (Snakemake's log, job ends)
[Tue Dec  1 04:09:53 2026] Finished jobid: 20 (Rule: train)
"""


def test_a_study_printout_gives_its_window_and_its_convergence(tmp_path):
    path = tmp_path / "h100-gpu-study-2026-12-01.txt"
    path.write_text(STUDY.format(status=0, seconds=431))
    found = tables.read(path)
    assert found.date == "2026-12-01"
    assert (
        found.machine == "NVIDIA H100 80GB HBM3 (driver 570.86.15), torch 2.11.0+cu130, "
        "Python 3.12.3"
    )
    rows = {r["figure"]: r for r in found.rows}
    wall = rows["study end to end (the whole Snakemake DAG)"]
    assert (wall["ours"], wall["target"], wall["met"]) == ("431", "<=480", "yes")
    converged = rows["runs converged (the report's rule)"]
    assert (converged["ours"], converged["met"]) == ("1 of 2", "NO")
    assert rows["steps a run"]["ours"] == "5,200–12,600"
    assert rows["steps a run"]["note"] == "stopped by converged: 1, minutes: 1"
    assert rows["aggregate train tok/s, 2 packed runs"]["ours"] == "181,001"
    # over the window, or cut by its timeout: not met, whatever the seconds
    cut = STUDY.format(status=124, seconds=470).split("## per run")[0] + "## per run\n"
    path.write_text(cut)
    (wall,) = tables.read(path).rows  # no runs.tsv: the wall time alone
    assert (wall["met"], wall["note"]) == ("NO", "exit status 124")


def test_packing_is_set_against_one_run_alone_of_the_same_setting(tmp_path):
    lines = [
        "packing no-mps: 1 run(s) of d256, 400 steps: wall 20.0 s, tok/s each 100,000; "
        "aggregate 100,000 = 1.00x one alone",
        "packing no-mps: 4 run(s) of d256, 400 steps: wall 40.0 s, tok/s each 50,000, 50,000, "
        "50,000, 50,000; aggregate 200,000 = 2.00x one alone",
        "packing mps: 1 run(s) of d256, 400 steps: wall 20.0 s, tok/s each 110,000; "
        "aggregate 110,000 = 1.00x one alone",
        "packing mps: 4 run(s) of d256, 400 steps: wall 25.0 s, tok/s each 100,000, 100,000, "
        "100,000, 100,000; aggregate 400,000 = 3.64x one alone",
    ]
    rows = tables.packing_rows(lines)
    assert [r["figure"] for r in rows] == [
        "train tok/s, one d256 run alone (no-mps)",
        "aggregate train tok/s, 4 packed d256 runs (no-mps)",
        "train tok/s, one d256 run alone (mps)",
        "aggregate train tok/s, 4 packed d256 runs (mps)",
    ]
    assert (rows[1]["reference"], rows[1]["target"], rows[1]["met"]) == ("100,000", ">=2.5x", "NO")
    assert (rows[3]["reference"], rows[3]["met"]) == ("110,000", "yes")


def test_every_printout_in_docs_performance_gives_figures_with_machine_and_date():
    found = tables.measurements()
    names = {m.name for m in found}
    for path in (ROOT / "docs" / "performance").glob("*.txt"):
        text = path.read_text()
        kinds = (printout.HEADER, "study: exit", "whole run: ")
        if any(kind in text for kind in kinds) or "packing" in text.split("\n")[0]:
            assert path.name in names, f"{path.name}: no figure read"
    for m in found:
        assert m.date and m.machine, f"{m.name}: no date or machine"
        for r in m.rows:
            assert r["met"] in ("yes", "NO", ""), (m.name, r)


def test_docs_performance_shows_the_tables_of_its_printouts():
    page = tables.PAGE.read_text()
    shown = page.split(tables.BEGIN)[1].split(tables.END)[0].strip("\n")
    assert shown == "\n".join(tables.tables(tables.measurements())).strip("\n")


def test_the_readme_says_what_the_default_run_costs_from_its_printout():
    readme = (ROOT / "README.md").read_text()
    shown = readme.split(tables.COST_BEGIN)[1].split(tables.COST_END)[0].strip("\n")
    assert shown == "\n".join(tables.cost(tables.measurements()))
    assert tables.DEFAULT_RUN in shown


RUN = """# /usr/bin/time -v ./run.sh in a fresh clone, 2026-12-02, on a 2-core machine
platform: Linux | cpu: AMD EPYC | cores: 2 | python: 3.11.7 | torch: 2.13.0+cpu | device: cpu

whole run: 45:57.94 wall (/usr/bin/time), exit 0; venv and data preparation 64 s of it
job stable               n=15 mean  166.3 s  min  148.5  max  189.3
job steps1000/train      n=15 mean   48.5 s  min   40.1  max   62.4

variant  match  seed  budget  steps  epochs_seen  best valid loss  test BLEU  doubling_gain
qk       none      1     500    500        0.862         3.647710     7.3247       0.201059
qk       none      1    1000   1000        1.733         2.914305    17.4741            nan
qk       none      2    1000   1000        1.727         2.931420    17.1073            nan
qq@enc   total     1    1000   1000        1.733         2.845347    30.0000            nan
"""


def test_a_timed_run_gives_its_wall_time_jobs_and_the_baselines_bleu(tmp_path):
    path = tmp_path / "cpu-2core-run.txt"
    path.write_text(RUN)
    found = tables.read(path)
    assert (found.date, found.machine) == (
        "2026-12-02",
        "AMD EPYC, 2 cores, torch 2.13.0+cpu, Python 3.11.7",
    )
    rows = {r["figure"]: r for r in found.rows}
    assert rows[tables.WHOLE_RUN]["ours"] == "45:57.94"
    assert rows["job stable"]["ours"] == "166.3" and rows["job stable"]["indent"]
    bleu = rows["qk test BLEU at 1,000 steps"]  # the baseline unmatched, its largest budget
    assert (bleu["ours"], bleu["note"]) == ("17.29", "mean of 2 seeds: 17.47, 17.11")
    # the table's lines are not figures of a benchmark
    assert len(rows) == 4


def test_a_finished_experiments_run_times_print_as_the_tables_read_them(tmp_path):
    """perf/run_times.py's printout of an experiment's benchmark files and runs table is what
    tools/perf_tables.py reads back: the whole run, each kind of job's mean, qk's BLEU."""
    head = "s\th:m:s\tmax_rss\n"
    jobs = {"stable200/train": 50.0, "stable400/train": 70.0, "steps250/train": 12.5}
    jobs |= {"steps250/translate": 30.0}
    for seed in (1, 2):
        for job, seconds in jobs.items():
            path = tmp_path / "benchmarks" / "x" / "qk" / "small" / "none" / f"seed{seed}" / job
            path.with_suffix(".tsv").parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".tsv").write_text(f"{head}{seconds + seed}\t0:00:50\t700\n")
    runs = tmp_path / "results" / "x" / "runs.tsv"
    runs.parent.mkdir(parents=True)
    columns = "variant\tmatch\tseed\tbudget\tsteps\tepochs_seen\tbest_valid_loss\tkernels"
    zen5, zen3 = "cpu AVX512, 1 thread, torch 2.13.0+cpu", "cpu AVX2, 1 thread, torch 2.13.0+cpu"
    kernels = {1: zen5, 2: f"{zen5} then {zen3}"}  # the second run resumed under other kernels
    rows = [
        f"qk\tnone\t{seed}\t250\t250\t0.43\t4.3\t{kernels[seed]}\t{bleu}"
        for seed, bleu in ((1, 2), (2, 3))
    ]
    columns += "\ttest_bleu"
    runs.write_text("\n".join([columns, *rows]) + "\n")
    (tmp_path / "reports" / "x").mkdir(parents=True)
    (tmp_path / "reports" / "x" / "config.yaml").write_text("experiment: x\n")
    lines = [
        *run_times.whole_line("1:02:03"),
        *run_times.kernels_lines(runs),
        *run_times.job_lines(tmp_path / "benchmarks" / "x"),
        "",
        *run_times.runs_lines(runs),
    ]
    assert lines[2:4] == [f"trained under: {zen5} (2 runs)", f"trained under: {zen3} (1 run)"]
    platform = "platform: L | cpu: AMD EPYC | cores: 2 | threads: 1 | python: 3.11.7 | torch: 2"
    assert tables.machine([platform, *lines]).endswith(
        f"Python 3.11.7; its runs trained under {zen5} (2 runs); {zen3} (1 run)"
    )
    read = {row["figure"]: row for row in tables.run_rows(lines)}
    assert read[tables.WHOLE_RUN]["ours"] == "1:02:03"
    assert float(read["job stable"]["ours"]) == pytest.approx(61.5)  # 51, 52, 71, 72
    assert float(read["job steps250/translate"]["ours"]) == pytest.approx(31.5)
    assert read["qk test BLEU at 250 steps"]["ours"] == "2.50"
    masked = runs.read_text().replace("test_bleu", "test_accuracy")  # an encoder-only table
    runs.write_text(masked.replace("\t2\n", "\t18.5\n").replace("\t3\n", "\t19.5\n"))
    read = {row["figure"]: row for row in tables.run_rows(run_times.runs_lines(runs))}
    assert read == {}  # without its whole-run line a printout gives no figure
    lines = [*run_times.whole_line("1:02:03"), "", *run_times.runs_lines(runs)]
    score = {row["figure"]: row for row in tables.run_rows(lines)}["qk test accuracy at 250 steps"]
    assert (score["ours"], score["unit"]) == ("19.00", "%")


def test_run_times_count_only_the_experiments_own_jobs_in_a_shared_runs_folder(tmp_path):
    """An experiment that continues another's runs (``runs:``) shares its benchmark folder:
    its printout counts the jobs of its own cells up to its largest budget, not the other
    experiment's cells or the longer study's segments of the same cells."""
    folder = tmp_path / "benchmarks" / "default"
    jobs = ["stable200/train", "stable800/train", "steps1000/train", "stable1600/train"]
    jobs += ["steps2000/train", "steps2000/translate"]
    for cell in ("qk/small/none/seed1", "qq@enc/small/none/seed1"):
        for job in jobs:
            path = folder / cell / f"{job}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("s\th:m:s\tmax_rss\n10.0\t0:00:10\t700\n")
    table = tmp_path / "runs.tsv"
    rows = ["variant\tsize\tmatch\tseed\tbudget", "qk\tsmall\tnone\t1\t250"]
    table.write_text("\n".join([*rows, "qk\tsmall\tnone\t1\t1000"]) + "\n")
    own = [str(p.relative_to(folder)) for p in run_times.own_jobs(folder, table)]
    assert own == [
        "qk/small/none/seed1/stable200/train.tsv",
        "qk/small/none/seed1/stable800/train.tsv",
        "qk/small/none/seed1/steps1000/train.tsv",
    ]
    assert len(run_times.own_jobs(folder, None)) == 2 * len(jobs)  # no table: every job


def test_the_baselines_score_is_read_at_the_first_size_only(tmp_path):
    """An experiment with presets of other rates (the controls) has qk at several sizes: the
    printout's qk score is the recipe's size's, not a mean over rates that train apart."""
    table = tmp_path / "runs.tsv"
    head = "variant\tsize\tmatch\tseed\tbudget\ttest_bleu"
    rows = [f"qk\tsmall\tnone\t{seed}\t1000\t{bleu}" for seed, bleu in ((1, 17.0), (2, 18.0))]
    rows += ["qk\tsmall-lr-twice\tnone\t1\t1000\t4.0"]
    table.write_text("\n".join([head, *rows]) + "\n")
    lines = [*run_times.whole_line("1:00:00"), "", *run_times.runs_lines(table)]
    score = {row["figure"]: row for row in tables.run_rows(lines)}["qk test BLEU at 1,000 steps"]
    assert (score["ours"], score["note"]) == ("17.50", "size small, mean of 2 seeds: 17.00, 18.00")
