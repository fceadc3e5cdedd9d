# Helpers shared by every stage: the library on the path, the config checked, paths of runs.
import hashlib
import json
import os
import re
import signal
import sys
from pathlib import Path

from snakemake.utils import validate

# This file's own folder, not the main Snakefile's: the workflow also works as a module.
sys.path.insert(0, str(Path(workflow.current_basedir).parent / "scripts"))

if "SLURM_STEP_ID" in os.environ:
    # The Snakemake that runs one job inside a Slurm job step: Slurm's USR1 before the time
    # limit and TERM on preemption reach every process of the step, and this one must outlive
    # them until training has written its resume state (when it ends, Slurm kills the rest of
    # the step). Ignored here; training installs its own handlers; Slurm's SIGKILL still ends
    # everything after its grace time.
    for signum in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)

from attnablate.config import (
    files as config_file,
    checks,
    experiment,
    overrides,
    shared,
)  # noqa: E402
from attnablate.io import remove_stale_temporaries  # noqa: E402
from attnablate.report import reference  # noqa: E402
from attnablate.report.files import reference_inputs  # noqa: E402
from attnablate.report.outputs import FIGURES  # noqa: E402
from attnablate.model.params import count_params  # noqa: E402
from attnablate.model.variants import BASELINE  # noqa: E402
from attnablate.tasks import MASKED, task_of  # noqa: E402

# --config values typed as the schema says (Snakemake passes nested ones as strings), then
# validated: the schema fills every default.
SCHEMA = Path(workflow.current_basedir).parent / "schemas" / "config.schema.yaml"
for path in dict.fromkeys([*workflow.configfiles, *workflow.overwrite_configfiles]):
    config_file.check(path)  # what YAML 1.1 would reinterpret in silence: file and line
# only --config values are retyped: a --configfile is YAML, typed as config.yaml is
overrides.apply(config, dict(workflow.config_settings.config), SCHEMA)
overrides.integers(config, SCHEMA)  # seeds: [1.0] is seed 1, never a folder "seed1.0"
validate(config, str(SCHEMA))
# Every run's model is built (on no device) now, so a bad variant or size fails the dry run.
checks.check(config)
reference.check(config)  # other experiments' reports that claims compare with
shared.check(config)  # another experiment's runs that this one continues
# the experiment as the workflow plans it (config/experiment.py), read once
EXPERIMENT = experiment.Experiment.of(config)


def digest(settings: dict) -> str:
    """The param of a rule whose output depends on config settings that hold free text (a
    claim, a path): their digest. Snakemake writes params into the HTML report unescaped, so
    no free text of the config may reach one; the step reads the settings from the config.
    """
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


CONFIG_DIGEST = digest(config)

EXP = config["experiment"]
CORPUS = EXPERIMENT.corpus_name
TOKENIZER = "{model_type}{vocab_size}".format(**config["tokenizer"])
DATA = f"data/{CORPUS}"
TOK = f"{DATA}/{TOKENIZER}"
# A cell (one seed of a variant at a size) is trained to each budget: on a ladder by one
# stable run (CELL/stable) and a cooldown per budget, otherwise by one run to max_steps. Its
# folder is under the experiment's own name, or another's whose runs it continues (runs).
RUNS = EXPERIMENT.runs_folder
CELL_ID = f"{RUNS}/{{variant}}/{{size}}/{{match}}/seed{{seed}}"
CELL = f"runs/{CELL_ID}"
# a ladder cell's stable run, one job per branch point: the segment that ends at {point}
STABLE_ID = f"{CELL_ID}/stable{{point}}"
STABLE = f"runs/{STABLE_ID}"
RUN_ID = f"{CELL_ID}/steps{{budget}}"
RUN = f"runs/{RUN_ID}"
RUN_LOG = f"logs/{RUN_ID}"
RUN_BENCH = f"benchmarks/{RUN_ID}"
# what the experiment's family is judged on (tasks.py), and the test output of one of its runs
# that the compare jobs test: translations, or the masked task's sentence rows
TASK = task_of(EXPERIMENT.family)
TESTED = "test.masked.tsv" if TASK is MASKED else "test.hyp"
# the baseline's run that a compare job of (size, seed, budget) tests the others against
BASELINE_RUN = f"runs/{RUNS}/{BASELINE}/{{size}}/none/seed{{seed}}/steps{{budget}}"
# Cluster jobs ask for GPUs only where the experiment runs on them.
GPUS = 1 if config["device"] == "cuda" else 0


def whole_gpus(wildcards) -> bool:
    """Whether this size's jobs take whole GPUs: on CUDA, unless the size is packed (its jobs
    then ask for shards of one: gpu_shards)."""
    return bool(GPUS) and not EXPERIMENT.packed(wildcards.size)


def train_gpus(wildcards):
    """The GPUs of one training job: its size's ``gpus`` (DDP), when it takes whole GPUs."""
    return EXPERIMENT.processes(wildcards.size) if whole_gpus(wildcards) else 0


def translate_gpus(wildcards):
    return 1 if whole_gpus(wildcards) else 0


def gpu_share(wildcards):
    """Hundredths of a GPU that one train or translate job of this size takes: a size with
    ``runs_per_gpu: N`` packs N jobs on one GPU. Local runs give the GPUs they have with
    ``--resources gpu_share=100`` (per GPU); 0 on the CPU."""
    return EXPERIMENT.gpu_share(wildcards.size) if GPUS else 0


def gpu_shards(wildcards):
    """A packed size's share of a GPU as Slurm's ``shard`` GRES (``shard:N``, 100 shards a
    GPU: the cluster's gres.conf must say so), or nothing for whole GPUs or the CPU."""
    packed = GPUS and EXPERIMENT.packed(wildcards.size)
    return f"shard:{gpu_share(wildcards)}" if packed else ""


def train_cpus(wildcards):
    """The CPU cores of one training job on a cluster: ``cpus_per_process`` for each of its
    processes (the job starts once, on one node, and spawns one process per GPU)."""
    return config["cpus_per_process"] * EXPERIMENT.processes(wildcards.size)


# The workflow builds its own experiment only: another's report (a claim's reference) is an
# input that experiment's own run committed, never something to rebuild here.
wildcard_constraints:
    experiment=re.escape(EXP),
    corpus=experiment.NAME_PATTERN,
    tokenizer=r"(unigram|bpe)[0-9]+",
    split=r"train|valid|test",
    variant=experiment.VARIANT_PATTERN,
    size=r"[A-Za-z0-9_-]+",
    match=r"none|total|non_embedding",
    seed=r"[0-9]+",
    budget=r"[0-9]+",
    point=r"[0-9]+",


def canonical(settings: dict) -> dict:
    """A params entry with its keys sorted: Snakemake compares params by their text, and two
    config files listing the same settings in another order must not rerun anything."""
    return json.loads(json.dumps(settings, sort_keys=True))


def corpus_files():
    """The user's corpus files (or saved dataset folder): inputs of prepare, so that a
    changed file reruns it."""
    corpus = config["corpus"]
    if corpus["source"] == "huggingface":
        return [corpus["path"]] if Path(corpus["path"]).is_dir() else []
    files = corpus.get("files", {}) if corpus["source"] == "files" else {}
    return [path for pair in files.values() for path in (pair["src"], pair["tgt"])]


def run_paths(name, largest_budget=False):
    """``name`` (e.g. "meta.json") in the folder of every run of the experiment (or of every
    run at its largest budget)."""
    top = EXPERIMENT.budgets[-1]
    return [
        f"{RUN}/{name}".format(**run)
        for run in EXPERIMENT.runs()
        if run["budget"] == top or not largest_budget
    ]


def claim_references():
    """The reports of other experiments that claims compare with (``reference.report``) and
    the one the experiment ``replicates``: each one's comparison table and config."""
    return [str(path) for path in reference_inputs(config)]


def stable_paths(name):
    """``name`` in the last stable segment of every cell, on a ladder (none otherwise): it
    carries the stable run's records from step 0."""
    if not EXPERIMENT.ladder:
        return []
    end = EXPERIMENT.stable_steps
    cells = EXPERIMENT.cells()
    return [f"{STABLE}/{name}".format(point=end, **cell) for cell in cells]


def run_model(wildcards):
    """The model config of one run but its vocabulary, as a dict: a params entry, so that
    changing another size or variant leaves this run alone, while changing its own
    dimensions retrains it. The vocabulary is the tokenizer's, an input of the run."""
    vocab = config["tokenizer"][
        "vocab_size"
    ]  # matching counts the embedding at this size
    cfg = EXPERIMENT.model_config(
        wildcards.variant, wildcards.size, wildcards.match, vocab
    )
    return {k: v for k, v in cfg.__dict__.items() if k != "vocab_size"}


def size_params(size):
    """Total parameters of the qk model of a size (millions), to scale resources with."""
    cfg = EXPERIMENT.size_config(size, config["tokenizer"]["vocab_size"])
    return count_params(cfg) / 1e6


def train_mem_mb(wildcards):
    """Host memory of a training job: data and interpreter, plus weights, gradients and Adam
    state (16 bytes a parameter) with room for activations."""
    return int(4000 + 64 * size_params(wildcards.size))


def train_runtime(wildcards):
    """Minutes a training job may take: its time budget with a margin; for a step budget,
    a default that grows with the model (a cluster profile can override it per rule)."""
    minutes = config["train"]["max_minutes"]
    if minutes > 0:
        return int(minutes * 1.2 + 15)
    return int(120 + 2 * size_params(wildcards.size))


def train_settings(wildcards):
    """The train settings a run's numbers depend on (with its size's own lr and its budget):
    its params. train.job, how the job runs, is not among them: changing it retrains nothing.
    """
    return canonical(EXPERIMENT.train_settings(wildcards.size, int(wildcards.budget)))


def stable_settings(wildcards):
    """A stable run's params: its train settings, less those of the cooldowns that branch
    off it, so that adding a budget or changing the cooldowns' shape leaves it alone."""
    settings = EXPERIMENT.train_settings(wildcards.size)
    return canonical(
        {k: v for k, v in settings.items() if k not in experiment.COOLDOWN_KEYS}
    )


def stable_run(wildcards):
    """A cooldown's input: the stable segment that ends at its branch point. An ordinary
    input: a segment reruns when the stable run's recipe changes, and so then does every
    cooldown after it; a larger top budget adds a segment and reruns none of the others.
    """
    if not EXPERIMENT.ladder:
        return []
    point = EXPERIMENT.branch_point(int(wildcards.budget))
    return f"{STABLE}/meta.json".format(point=point, **wildcards)


def previous_segment(wildcards):
    """A stable segment's input: the segment before it (none for the first), whose state
    it continues from."""
    earlier = [p for p in EXPERIMENT.branch_points if p < int(wildcards.point)]
    if not earlier:
        return []
    return f"{STABLE}/meta.json".format(**{**wildcards, "point": earlier[-1]})


COMPARED = ("size", "match", "seed", "budget")  # what one compare job holds fixed


def variants_compared() -> dict:
    """(size, match, seed, budget), as wildcard text, -> the variants compared with qk there,
    in config order: built once, since a compare job's inputs look it up (a large grid has
    thousands)."""
    cells = {}
    for r in EXPERIMENT.runs():
        if r["variant"] != BASELINE:
            key = tuple(str(r[k]) for k in COMPARED)
            cells.setdefault(key, []).append(r["variant"])
    return cells


VARIANTS_COMPARED = variants_compared()


def compare_cells():
    """(size, match, seed, budget) with at least one variant to compare against qk."""
    runs = EXPERIMENT.runs()
    cells = {tuple(r[k] for k in COMPARED) for r in runs if r["variant"] != BASELINE}
    return sorted(cells, key=str)


def compared_variants(wildcards):
    """The variants compared with qk in one cell at one budget, in config order."""
    return VARIANTS_COMPARED.get(tuple(wildcards[k] for k in COMPARED), [])


def compared_runs(name):
    """Input function: ``name`` (e.g. "test.hyp") of every run compared in a cell."""

    def paths(wildcards):
        return [
            f"{RUN}/{name}".format(
                variant=v,
                size=wildcards.size,
                match=wildcards.match,
                seed=wildcards.seed,
                budget=wildcards.budget,
            )
            for v in compared_variants(wildcards)
        ]

    return paths


def significance_tables():
    return [
        f"results/{EXP}/compare/{size}/{match}/seed{seed}/steps{budget}.tsv"
        for size, match, seed, budget in compare_cells()
    ]


def final_outputs():
    """The experiment's model and run tables, and every file its report step writes (read from
    the rule, so that a file the step gains is asked for too; rule all is read after it).
    """
    report_files = expand(rules.report.output, experiment=EXP)
    return [f"results/{EXP}/models.tsv", f"results/{EXP}/runs.tsv", *report_files]


# A write killed half way leaves its temporary file (attnablate/io.py): removed before jobs
# run again, once its writer is gone.
onstart:
    for stale in remove_stale_temporaries(["data", "runs", "results", "reports"]):
        print(f"removed {stale}, left by a write that was killed", file=sys.stderr)
