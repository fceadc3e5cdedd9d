"""The workflow's steps: the one module that knows the rules' input, output and params names
(workflow/rules/*.smk). Each step script calls one function here with Snakemake's ``job``
object; the function hands the library typed configs and paths, so that the library, the
benchmark, the tools and the tests call the same functions the same way.
"""

import signal
from dataclasses import fields
from pathlib import Path

from attnablate.config.experiment import COOLDOWN_KEYS, Experiment, write_model_table
from attnablate.model.config import ModelConfig

SPLITS = ("train", "valid", "test")  # the prepared corpus's


def train(job) -> None:
    """Rule ``train`` (a run, or on a ladder one budget's cooldown) or ``stable`` (a ladder
    cell's run at the peak rate). Its params hold what the run's numbers depend on: ``model``
    (the shape; the vocabulary is the tokenizer's, an input), ``train`` (the recipe at its
    size, without ``train.job``: how the job runs changes none of its numbers, so it is read
    from the config and changing it reruns nothing), ``device`` and ``processes``. A stable
    segment trains to its ``point`` (a wildcard): the branch point it ends at."""
    from attnablate.data.tokenizer import vocabulary_size
    from attnablate.train import distributed as dist
    from attnablate.train.config import JobConfig, TrainConfig
    from attnablate.train.files import DataFiles, RunFiles
    from attnablate.train.loop import STOP_SIGNALS, Run
    from attnablate.train.loop import train as train_run
    from attnablate.train.state import Branches

    planned, wildcards = Experiment.of(job.config), dict(job.wildcards)
    files = RunFiles(Path(job.output.meta).parent, keeps_model="checkpoint" in job.output.keys())
    for name in ("checkpoint", "curves", "dynamics", "meta"):
        _agree_path(job.output, name, getattr(files, name))
    data = DataFiles(*(Path(job.input[name]) for name in ("train", "valid", "spm", "valid_ref")))
    cooldown = {}
    branches = None
    if job.rule == "stable":
        # the largest budget's cooldown settings put its cooldown's start at this run's end
        top = planned.train_settings(wildcards["size"], planned.budgets[-1])
        cooldown = {key: top[key] for key in COOLDOWN_KEYS}
        branches = Branches(files.branches, int(wildcards["point"]), planned.branch_points)
    elif planned.ladder:
        branches = Branches(files.branches)
    run = Run(
        ModelConfig(**job.params.model, vocab_size=vocabulary_size(data.spm)),
        TrainConfig(
            **job.params.train,
            **cooldown,
            job=JobConfig(**job.config["train"]["job"]),
            device=job.params.device,
        ),
        int(wildcards["seed"]),
        {
            "experiment": planned.runs_folder,  # whose runs folder holds it
            **wildcards,
            **{key: int(wildcards[key]) for key in ("seed", "budget", "point") if key in wildcards},
        },
        job.threads,
    )
    if job.params.processes > 1:
        # Slurm signals every process of the job: the launcher waits for its ranks to stop.
        for signum in STOP_SIGNALS:
            signal.signal(signum, lambda signum, frame: None)
    dist.launch(job.params.processes, train_run, run, data, files, branches)


def translate(job) -> None:
    """Rule ``translate``: the test set with a run's best checkpoint."""
    from attnablate.evaluate.decode import translate_test_set
    from attnablate.model.search import DecodeConfig

    translate_test_set(
        Path(job.input.checkpoint),
        Path(job.input.spm),
        Path(job.input.test),
        Path(job.output.hyp),
        DecodeConfig(**job.params.decode),
        job.params.device,
        job.threads,
    )


def score(job) -> None:
    """Rule ``score``: sacrebleu's BLEU and chrF of a run's translations."""
    from attnablate.evaluate.score import score_run

    score_run(Path(job.input.hyp), Path(job.input.ref), Path(job.input.meta), job.output.scores)


def evaluate_masked(job) -> None:
    """Rule ``evaluate_masked``: a masked run's accuracy and loss on the test split's pieces."""
    from attnablate.evaluate.masked import evaluate_run

    evaluate_run(
        Path(job.input.checkpoint),
        Path(job.input.test),
        Path(job.input.meta),
        job.output.sentences,
        job.output.scores,
    )


def masked_baseline(job) -> None:
    """Rule ``masked_baseline``: the test split's masked pieces guessed from their training
    frequencies alone."""
    from attnablate.evaluate.masked import write_frequency_baseline

    write_frequency_baseline(
        Path(job.input.train), Path(job.input.test), job.params.vocab_size, job.output.scores
    )


def attention(job) -> None:
    """Rule ``attention``: the attention maps of a run's best checkpoint."""
    from attnablate.train.dynamics import write_attention_maps

    write_attention_maps(
        Path(job.input.checkpoint), Path(job.input.spm), Path(job.input.test), job.output.maps
    )


def compare(job) -> None:
    """Rule ``compare``: the variants of one (size, match, seed, budget) against the
    baseline, paired by test sentence."""
    from attnablate.config.experiment import Experiment
    from attnablate.evaluate.compare import run_compare
    from attnablate.model.variants import BASELINE
    from attnablate.tasks import task_of

    cell = {key: job.wildcards[key] for key in ("experiment", "size", "match", "seed", "budget")}
    systems = dict(zip(job.params.variants, job.input.systems, strict=True))
    scores = dict(zip(job.params.variants, job.input.system_scores, strict=True))
    scores[BASELINE] = job.input.baseline_scores
    task = task_of(Experiment.of(job.config).family)
    run_compare(cell, job.input.baseline, systems, scores, job.input.ref, job.output.table, task)


def prepare(job) -> None:
    """Rule ``prepare``: the corpus cleaned and split into its folder under data/."""
    from attnablate.data.corpus import write_prepared

    folder = Path(job.output.stats).parent
    names = {f"{split}_{side}": f"{split}.{side}" for split in SPLITS for side in ("src", "tgt")}
    _agree(job.output, {**names, "stats": "prepare.json"}, folder)
    write_prepared(job.config["corpus"], folder)


def tokenizer(job) -> None:
    """Rule ``tokenizer``: sentencepiece on the training split."""
    from attnablate.data.tokenizer import run_tokenizer

    run_tokenizer(job.params.tokenizer, list(job.input), job.output.model)


def encode(job) -> None:
    """Rule ``encode``: one split as token ids."""
    from attnablate.data.tokenizer import run_encode

    run_encode(job.input.model, job.input.src, job.input.tgt, job.output.ids)


def model_table(job) -> None:
    """Rule ``model_table``: every run's dimensions and parameter counts, with the
    tokenizer's vocabulary."""
    from attnablate.data.tokenizer import vocabulary_size

    planned = Experiment.of(job.config)
    write_model_table(planned, vocabulary_size(job.input.spm), job.output.table)


def aggregate(job) -> None:
    """Rule ``aggregate``: every run's files into the experiment's tables."""
    from attnablate.report.aggregate import aggregate as aggregate_runs
    from attnablate.report.files import Tables

    tables = Tables.of(Path(job.output.runs).parent)
    _agree_files(job.output, tables)
    runs = [Path(path).parent for path in job.input.meta]
    for name in ("scores", "curves", "dynamics"):  # each run's files, in its folder
        assert [Path(path).parent for path in job.input[name]] == runs, name
    stable = [Path(path).parent for path in job.input.stable_meta]
    aggregate_runs(runs, stable, list(job.input.significance), tables)


def claims(job) -> None:
    """Rule ``claims``: each claim of the config tested at each budget of the runs table,
    and set beside the report the experiment replicates and the other family's it carries
    to."""
    from attnablate.analysis.carries import write_carries
    from attnablate.analysis.claims import read_claims, write_claims
    from attnablate.analysis.replication import write_replication
    from attnablate.analysis.runs import read_table, with_labels
    from attnablate.report.files import Tables, reference_inputs
    from attnablate.report.reference import claims_of, comparison_tables

    tables = Tables.of(Path(job.input.runs).parent)
    _agree_files(job.input, tables)
    _agree_files(job.output, tables)
    read = reference_inputs(job.config)
    if [Path(path) for path in job.input.references] != read:
        raise RuntimeError(f"rule files references: {list(job.input.references)}, read: {read}")
    references, claims = comparison_tables(job.config), job.config["claims"]
    runs = with_labels(read_table(tables.runs))  # read once, for both tables
    write_claims(claims, runs, references, tables.claims)
    write_replication(job.config, runs, references, tables.replication)
    carries = job.config.get("carries")
    theirs = claims_of(carries["report"], "carries", job.config["experiment"]) if carries else None
    write_carries(job.config, read_claims(tables.claims), theirs, tables.carries)
    print(f"{len(claims)} claims tested")


def report(job) -> None:
    """Rule ``report``: the figures, summary and tables of an experiment."""
    from attnablate.report.build import build_report
    from attnablate.report.files import ReportFiles, Tables

    tables = Tables.of(Path(job.input.runs).parent)
    report_files = ReportFiles.of(Path(job.output.summary).parent)
    _agree_files(job.input, tables)
    _agree_path(job.output, "scaling_table", tables.scaling)  # "scaling" is a figure there
    _agree_files(job.output, report_files)
    _agree_path(job.output, "claims_csv", report_files.claims)  # "claims" is an input there
    for name, path in report_files.figures.items():
        _agree_path(job.output, name, path)
    build_report(
        tables,
        Path(job.input.corpus),
        list(job.input.attention),
        report_files,
        job.wildcards.experiment,
        dict(job.config),
        getattr(job.input, "baseline", None),  # the masked task's
    )


def _agree(named, files: dict, folder) -> None:
    """The rule's files of these names are ``folder``'s ``files`` (name -> file name)."""
    for name, file in files.items():
        _agree_path(named, name, Path(folder) / file)


def _agree_files(named, files) -> None:
    """The rule's files are where the library reads and writes them: each of the rule's
    names that ``files`` (a dataclass of paths) also has (a rule edited alone fails here)."""
    for field in fields(files):
        value = getattr(files, field.name)
        if isinstance(value, Path):
            _agree_path(named, field.name, value)


def _agree_path(named, name: str, path) -> None:
    if name in named.keys() and Path(named[name]) != Path(path):
        raise RuntimeError(f"rule file {name}: {named[name]}, the library's {path}")
