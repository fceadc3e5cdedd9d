"""Bad input as a careless or hostile user gives it: each stops the dry run (the schema, then
experiment.check, as workflow/rules/common.smk runs them) with the key it concerns, or a
job with a message that names it; nothing is reinterpreted in silence."""

import copy

import pytest
from conftest import ROOT, smoke_experiment, snakemake
from snakemake.utils import validate

from attnablate.errors import ConfigurationError
from attnablate.experiment import check
from attnablate.runtime import pick_device

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def dry_check(config: dict) -> None:
    """What the dry run checks of a config: the schema (defaults filled in), then the
    experiment."""
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    check(config)


@pytest.mark.parametrize(
    "change, key, words",
    [
        (lambda c: c["corpus"].pop("files"), "corpus.files", ["missing: train, valid, test"]),
        (
            lambda c: c["corpus"].update(files={"train": c["corpus"]["files"]["all"]}),
            "corpus.files",
            ["missing: valid, test"],
        ),
        (
            lambda c: c["corpus"]["files"].update(train=c["corpus"]["files"]["all"]),
            "corpus.files",
            ["gives all and train"],
        ),
    ],
)
def test_a_corpus_of_files_names_its_splits(change, key, words):
    config = smoke_experiment()
    change(config)
    with pytest.raises(ConfigurationError) as error:
        dry_check(config)
    assert error.value.key == key
    assert all(word in str(error.value) for word in words)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"device": "tpu"}, ["'tpu' does not match", "device"]),
        ({"device": "cuda:x"}, ["'cuda:x' does not match"]),
        ({"seeds": [2**32]}, ["4294967296 is greater than the maximum"]),
    ],
)
def test_the_schema_refuses_what_a_job_would_fail_on_late(change, words):
    config = {**smoke_experiment(), **change}
    with pytest.raises(Exception) as error:
        dry_check(config)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_a_device_this_machine_lacks_is_named_when_the_job_starts():
    with pytest.raises(ConfigurationError) as error:
        pick_device("cuda:999")
    assert error.value.key == "device" and "no such device" in str(error.value)


def test_the_dry_run_names_the_missing_splits(tmp_path, smoke_config):
    smoke_config["corpus"]["files"].pop("all")
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "corpus.files: needs all" in result.stdout + result.stderr


def test_a_vocabulary_smaller_than_the_corpus_characters_names_its_key_and_minimum(tmp_path):
    from attnablate.tokenizer import train_tokenizer

    files = [ROOT / "tests" / "data" / "john.de", ROOT / "tests" / "data" / "john.en"]
    with pytest.raises(ConfigurationError) as error:
        train_tokenizer(files, tmp_path / "spm.model", 20, "unigram")
    assert error.value.key == "tokenizer.vocab_size"
    assert "20 is fewer pieces" in str(error.value) and "(78," in str(error.value)
