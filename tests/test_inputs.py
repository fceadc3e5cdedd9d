"""Bad input as a careless or hostile user gives it: each stops the dry run (the schema, then
checks.check, as workflow/rules/common.smk runs them) with the key it concerns, or a
job with a message that names it; nothing is reinterpreted in silence."""

import subprocess

import pytest
from conftest import ROOT, SNAKEMAKE, dry_check, smoke_experiment, snakemake

from attnablate.errors import ConfigurationError
from attnablate.train.runtime import pick_device

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


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
    from attnablate.data.tokenizer import train_tokenizer

    files = [ROOT / "tests" / "data" / "john.de", ROOT / "tests" / "data" / "john.en"]
    with pytest.raises(ConfigurationError) as error:
        train_tokenizer(files, tmp_path / "spm.model", 20, "unigram")
    assert error.value.key == "tokenizer.vocab_size"
    assert "20 is fewer pieces" in str(error.value) and "(78," in str(error.value)


@pytest.mark.parametrize(
    "variants, words",
    [
        (["qk", "qq", "qq@all"], ["variants[2]", "same model as variants[1] ('qq')"]),
        (["qk", "qq@enc,dec,cross", "qq"], ["variants[2]", "same model as variants[1]"]),
        (["qk", "qk@enc"], ["variants[1]", "'qk@enc' is the baseline qk"]),
    ],
)
def test_two_variants_that_build_one_model_are_refused(variants, words):
    config = {**smoke_experiment(), "variants": variants}
    with pytest.raises(ConfigurationError) as error:
        dry_check(config)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_an_unknown_variant_is_named_before_the_matched_variants_are(tmp_path):
    """The default config names matched_variants: [qq@enc]; an override of the variants
    with a typo is answered with the typo."""
    result = subprocess.run(
        [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--dry-run", "--config"]
        + ['variants=["no_such_variant@all"]'],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "variants[0]: unknown variant 'no_such_variant'" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "text, words",
    [
        ("train:\n  lr: 0.1\ntrain:\n  max_steps: 10\n", ["line 4", "'train' is given twice"]),
        ("train:\n  max_steps: 010\n", ["line 3", "010 would be read as the number 8"]),
        ("train:\n  max_steps: 1_000\n", ["line 3", "1_000 would be read as the number 1000"]),
        ("train:\n  compile: no\n", ["line 3", "no would be read as false"]),
    ],
)
def test_a_config_file_yaml_would_reinterpret_stops_the_dry_run_at_its_line(
    tmp_path, smoke_config, text, words
):
    (tmp_path / "mine.yaml").write_text("experiment: mine\n" + text)  # the text from line 2
    result = snakemake(tmp_path, smoke_config, "--dry-run", "--configfile", "mine.yaml")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert all(word in output for word in words), output[-2000:]


def test_a_config_file_is_typed_as_written_and_only_config_values_are_retyped(
    tmp_path, smoke_config
):
    """A quoted number in a --configfile is refused as config.yaml would refuse it; the same
    text given with --config (which arrives as a string) is typed."""
    (tmp_path / "mine.yaml").write_text('train:\n  max_steps: "40"\n')
    result = snakemake(tmp_path, smoke_config, "--dry-run", "--configfile", "mine.yaml")
    assert result.returncode != 0
    assert "'40' is not of type 'integer'" in result.stdout + result.stderr
    result = snakemake(tmp_path, smoke_config, "--dry-run", "--config", "train={max_steps: 40}")
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c["sizes"]["micro"].update(d_model=1 << 20), ["is greater than the maximum"]),
        (lambda c: c["decode"].update(beam_size=10_000), ["is greater than the maximum of 64"]),
        (
            lambda c: c["sizes"]["micro"].update(gpus=64),
            ["sizes.micro.gpus: 64 training processes on the CPU", "at most one process per core"],
        ),
    ],
)
def test_sizes_beams_and_processes_have_bounds(change, words):
    config = smoke_experiment()
    change(config)
    with pytest.raises(Exception) as error:
        dry_check(config)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_a_killed_writes_temporary_is_removed_at_the_next_start_and_a_live_one_kept(
    tmp_path, smoke_config
):
    """A temporary named for a process that is gone (a killed write) goes at the next run's
    start; one of a live process (a write in progress) stays; outputs are untouched."""
    import os

    from attnablate.io import remove_stale_temporaries, temporary

    folder = tmp_path / "runs" / "smoke"
    folder.mkdir(parents=True)
    live = temporary(folder / "attention.npz", ".npz")
    live.write_bytes(b"in progress")
    dead = folder / live.name.replace(f"-{os.getpid()}.", "-999999999.")
    dead.write_bytes(b"half of a file")
    (folder / "kept.tsv").write_text("a\n")
    assert remove_stale_temporaries([tmp_path / "runs"]) == [dead]
    assert live.exists() and (folder / "kept.tsv").exists()
    dead.write_bytes(b"half of a file")
    result = snakemake(tmp_path, smoke_config, "--until", "prepare")  # runs, so starts
    assert result.returncode == 0, result.stderr[-2000:]
    assert not dead.exists() and "left by a write that was killed" in result.stderr


def test_figures_tables_and_the_tokenizer_are_written_whole_or_not_at_all(tmp_path):
    """A write that fails midway leaves the old file and no temporary."""
    import matplotlib.pyplot as plt

    from attnablate.report.figures import save

    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    fig, _ = plt.subplots()
    fig.savefig = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    with pytest.raises(OSError):
        save(fig, target)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]
    from attnablate.data.tokenizer import train_tokenizer

    files = [ROOT / "tests" / "data" / "john.de", ROOT / "tests" / "data" / "john.en"]
    train_tokenizer(files, tmp_path / "spm.model", 300, "unigram")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png", "spm.model", "spm.vocab"]


def test_a_yte_config_is_refused_as_code(tmp_path, smoke_config):
    (tmp_path / "mine.yaml").write_text("__use_yte__: true\nexperiment: mine\n")
    result = snakemake(tmp_path, smoke_config, "--dry-run", "--configfile", "mine.yaml")
    assert result.returncode != 0
    assert "__use_yte__: Snakemake has evaluated this file" in result.stdout + result.stderr
