# Helpers shared by every stage: the library on the path, the config checked, paths of runs.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from attnablate import experiment  # noqa: E402
from attnablate.errors import ConfigurationError  # noqa: E402

# Every run's model is built (on no device) now, so a bad variant or size fails the dry run.
experiment.check(config)

EXP = config["experiment"]
CORPUS = experiment.corpus_name(config)
TOKENIZER = "{model_type}{vocab_size}".format(**config["tokenizer"])
DATA = f"data/{CORPUS}"
TOK = f"{DATA}/{TOKENIZER}"
RUN_ID = "{experiment}/{variant}/{size}/{match}/seed{seed}"
RUN = f"runs/{RUN_ID}"
RUN_LOG = f"logs/{RUN_ID}"
RUN_BENCH = f"benchmarks/{RUN_ID}"
# Cluster jobs ask for GPUs only where the experiment runs on them.
GPUS = 1 if config["device"] == "cuda" else 0


def train_gpus(wildcards):
    """The GPUs of one training job: its size's ``gpus`` (DDP), on CUDA only."""
    return experiment.processes(config, wildcards.size) if GPUS else 0


wildcard_constraints:
    experiment=r"[A-Za-z0-9_.-]+",
    corpus=r"[A-Za-z0-9_.-]+",
    tokenizer=r"(unigram|bpe)[0-9]+",
    split=r"train|valid|test",
    variant=r"[A-Za-z0-9_@,+;]+",
    size=r"[A-Za-z0-9_-]+",
    match=r"none|total|non_embedding",
    seed=r"[0-9]+",


def corpus_files():
    """The user's corpus files: inputs of prepare, so that a changed file reruns it."""
    files = (
        config["corpus"].get("files", {})
        if config["corpus"]["source"] == "files"
        else {}
    )
    return [path for pair in files.values() for path in (pair["src"], pair["tgt"])]


def run_paths(name):
    """``name`` (e.g. "meta.json") in the folder of every run of the experiment."""
    return [
        f"{RUN}/{name}".format(experiment=EXP, **run) for run in experiment.runs(config)
    ]


def run_model(wildcards):
    """The model config of one run, as a dict: a params entry, so that changing another
    size or variant leaves this run alone, while changing its own dimensions retrains it.
    """
    vocab = config["tokenizer"]["vocab_size"]
    return experiment.model_config(
        config, wildcards.variant, wildcards.size, wildcards.match, vocab
    ).__dict__


def train_runtime():
    """Minutes a training job may take: its time budget with a margin, or a generous default
    for a step budget (a cluster profile can override it per rule)."""
    minutes = config["train"]["max_minutes"]
    return int(minutes * 1.2 + 15) if minutes > 0 else 240


FIGURES = ["bleu_vs_params.png", "valid_loss.png", "bleu_vs_tokens.png"]


def final_outputs():
    return [
        f"results/{EXP}/models.tsv",
        f"results/{EXP}/runs.tsv",
        *[f"reports/{EXP}/{figure}" for figure in FIGURES],
        f"reports/{EXP}/summary.md",
    ]
