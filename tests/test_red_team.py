"""The red team's defects, each as a test: claims that test nothing, references outside
reports/ or malformed, whole numbers written as floats, budgets without bound, keys a model
family ignores, and a damaged meta.json. Each stops the dry run (or the job) with the key or
the file it concerns and a way out."""

import csv
import json
import shutil

import pytest
from conftest import ROOT, dry_check, planned_jobs, smoke_experiment, snakemake
from snakemake.exceptions import WorkflowError

from attnablate.analysis.claims import visible
from attnablate.errors import ConfigurationError, DamagedFileError
from attnablate.meta import RunMeta


def with_claims(*claims) -> dict:
    config = smoke_experiment()
    config["claims"] = [{"claim": "a claim", **claim} for claim in claims]
    return config


QQ_WORSE = {"variant": "qq@enc", "expect": "worse"}


@pytest.mark.parametrize(
    "claims, key, words",
    [
        ([{**QQ_WORSE, "against": "qq@enc"}], "claims[0].against", ["with itself"]),
        ([{"variant": "qk", "expect": "worse"}], "claims[0].against", ["with itself"]),
        ([{"variant": "qk", "match": "total", "expect": "worse"}], "claims[0].match", ["baseline"]),
        ([QQ_WORSE, {**QQ_WORSE, "claim": "said again"}], "claims[1]", ["tests what claims[0]"]),
        ([QQ_WORSE, {**QQ_WORSE, "variant": "qq@enc"}], "claims[1]", ["Holm"]),
        ([{**QQ_WORSE, "margin": 1.0}], "claims[0].margin", ["reads no margin"]),
        ([{**QQ_WORSE, "expect": "better", "margin": 1.0}], "claims[0].margin", ["no margin"]),
        (
            [{"variant": "qq@enc", "measure": "params", "expect": "same", "margin": 2}],
            "claims[0].margin",
            ["above 0×"],
        ),
        ([{**QQ_WORSE, "expect": "same", "margin": 101}], "claims[0].margin", ["0 to 100"]),
        ([{**QQ_WORSE, "claim": "   "}], "claims[0].claim", ["empty"]),
    ],
)
def test_a_claim_that_tests_nothing_stops_the_dry_run(claims, key, words):
    with pytest.raises(ConfigurationError) as error:
        dry_check(with_claims(*claims))
    assert error.value.key == key
    assert all(word in str(error.value) for word in words), str(error.value)


def test_an_empty_claim_text_is_refused_by_the_schema():
    with pytest.raises(WorkflowError, match="claim"):
        dry_check(with_claims({**QQ_WORSE, "claim": ""}))


def test_the_claims_that_do_test_something_pass():
    dry_check(
        with_claims(
            QQ_WORSE,
            {"variant": "qq@enc", "match": "total", "expect": "not_better", "margin": 1.0},
            {"variant": "qq@enc", "against": "qk", "expect": "better"},
        )
    )


def test_bidirectional_controls_in_a_claim_are_shown_as_visible_escapes():
    text = "QQ\u202eᵀ is worse\u2066 \u200bthan QK\u0007\nsecond line\tend"
    assert visible(text) == "QQ\\u202eᵀ is worse\\u2066 \\u200bthan QK\\u0007\nsecond line\tend"
    assert visible("QQᵀ saves weights — but does worse") == "QQᵀ saves weights — but does worse"


# Whole numbers written as floats, where the schema asks for an integer
FLOATS = [
    (lambda c: c["corpus"].update(valid_size=40.0), lambda c: c["corpus"]["valid_size"], 40),
    (lambda c: c.update(seeds=[1.0]), lambda c: c["seeds"], [1]),
    (lambda c: c["train"].update(max_steps=30.0), lambda c: c["train"]["max_steps"], 30),
    (
        lambda c: c["train"].update(schedule="wsd", budgets=[20.0, 40]),
        lambda c: c["train"]["budgets"],
        [20, 40],
    ),
    (
        lambda c: c["tokenizer"].update(vocab_size=300.0),
        lambda c: c["tokenizer"]["vocab_size"],
        300,
    ),
    (lambda c: c["sizes"]["micro"].update(d_ff=32.0), lambda c: c["sizes"]["micro"]["d_ff"], 32),
]


@pytest.mark.parametrize("change, read, value", FLOATS)
def test_whole_numbers_written_as_floats_are_integers_everywhere(change, read, value):
    config = smoke_experiment()
    change(config)
    checked = dry_check(config)
    assert read(checked) == value
    assert all(type(v) is int for v in (value if isinstance(value, list) else [value]))
    assert all(
        type(v) is int for v in (read(checked) if isinstance(value, list) else [read(checked)])
    )


def test_a_float_that_is_not_whole_is_refused_where_an_integer_is_asked():
    config = smoke_experiment()
    config["seeds"] = [1.5]
    with pytest.raises(WorkflowError, match="1.5 is not of type 'integer'"):
        dry_check(config)


def test_a_whole_float_from_the_command_line_names_an_integer_folder(tmp_path, smoke_config):
    result = snakemake(tmp_path, smoke_config, "--dry-run", "--config", "seeds=[2.0]")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "seed2/" in result.stdout and "seed2.0" not in result.stdout


@pytest.mark.parametrize("where", ["budgets", "max_steps"])
def test_budgets_are_bounded(where):
    config = smoke_experiment()
    config["train"]["schedule"] = "wsd"
    if where == "budgets":
        config["train"]["budgets"] = [20, 10**15]
    else:
        config["train"]["max_steps"] = 10**30
    with pytest.raises(WorkflowError, match="is greater than the maximum of 1000000000"):
        dry_check(config)


def test_a_zero_step_cooldown_is_refused_at_the_dry_run():
    config = smoke_experiment()
    config["train"].update(schedule="wsd", budgets=[40, 80], cooldown_fraction=0.001)
    with pytest.raises(ConfigurationError) as error:
        dry_check(config)
    assert error.value.key == "train.budgets[0]"
    assert "train.cooldown_fraction" in str(error.value) and "no step" in str(error.value)


def test_a_prefix_on_an_encoder_decoder_is_refused():
    config = smoke_experiment()
    config["model"] = {"prefix": "causal"}
    with pytest.raises(ConfigurationError) as error:
        dry_check(config)
    assert error.value.key == "model.prefix"
    assert "decoder_only" in str(error.value)


def test_a_damaged_meta_json_names_its_file_and_the_way_out(tmp_path):
    path = tmp_path / "meta.json"
    for damage in ("{not json", "[1, 2]", json.dumps({"params_total": 1})):
        path.write_text(damage)
        with pytest.raises(DamagedFileError) as error:
            RunMeta.read(path)
        assert str(path) in str(error.value) and "--forcerun" in str(error.value)


@pytest.mark.workflow
def test_the_way_out_of_a_damaged_meta_json_works(smoke_run, tmp_path):
    """The command DamagedFileError gives redoes the run that wrote the file, and what follows
    from it, in one invocation."""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke_run[0], workdir, symlinks=True)
    meta = "runs/smoke/qk/micro/none/seed1/steps30/meta.json"
    (workdir / meta).write_text("{not json")
    with pytest.raises(DamagedFileError) as error:
        RunMeta.read(workdir / meta)
    assert f"--forcerun {workdir / meta}" in str(error.value)
    result = snakemake(workdir, smoke_run[1], "--forcerun", meta)
    assert result.returncode == 0, result.stderr[-3000:]
    assert RunMeta.read(workdir / meta).steps == 30
    assert planned_jobs(workdir, smoke_run[1]) == []


# A committed report that a claim compares with: a copy of reports/default, damaged in turn.
def referring(folder: str, variant: str = "qq@enc", match: str = "none") -> dict:
    return with_claims(
        {
            **QQ_WORSE,
            "expect": "same",
            "margin": 1.0,
            "reference": {"report": folder, "variant": variant, "match": match},
        }
    )


@pytest.fixture
def reports(tmp_path, monkeypatch):
    """A working directory holding a copy of the committed reports/default."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "reports" / "default", tmp_path / "reports" / "default")
    return tmp_path / "reports" / "default"


def test_a_sound_reference_passes(reports):
    dry_check(referring("reports/default"))
    dry_check(referring("reports/default", "qq@enc", "total"))


@pytest.mark.parametrize(
    "folder",
    ["/tmp/reports/default", "reports/../reports/default", "../reports/default", "results/x"],
)
def test_a_reference_stays_inside_reports(reports, folder):
    with pytest.raises((ConfigurationError, WorkflowError)) as error:
        dry_check(referring(folder))
    assert "reports/" in str(error.value)


def test_a_reference_is_not_the_experiments_own_report(reports):
    with pytest.raises(ConfigurationError, match="this experiment's own report"):
        dry_check(referring("reports/smoke"))


@pytest.mark.parametrize(
    "variant, words", [("zz@enc", ["zz"]), ("qq @enc", ["qq @enc"]), ("nov@dec", ["not a cell"])]
)
def test_the_referenced_variant_is_checked(reports, variant, words):
    with pytest.raises(ConfigurationError) as error:
        dry_check(referring("reports/default", variant))
    assert error.value.key.startswith("claims[0].reference")
    assert all(word in str(error.value) for word in words), str(error.value)


def rewrite_csv(path, change) -> None:
    """comparison.csv with ``change(rows)`` applied to its list of dict rows."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    rows, columns = change(rows, columns)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def set_first(column, value):
    def change(rows, columns):
        rows[0][column] = value
        return rows, columns

    return change


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda r: (r / "config.yaml").write_text(""), ["config.yaml", "a mapping"]),
        (lambda r: (r / "config.yaml").write_text("- a\n- b\n"), ["config.yaml", "a mapping"]),
        (lambda r: (r / "config.yaml").write_text("a: [1\nb: 2\n"), ["config.yaml", "not YAML"]),
        (lambda r: (r / "config.yaml").unlink(), ["no such file", "config.yaml"]),
        (lambda r: (r / "comparison.csv").write_text(""), ["comparison.csv", "no column"]),
        (lambda r: rewrite_csv(r / "comparison.csv", lambda rows, c: ([], c)), ["no row"]),
        (
            lambda r: rewrite_csv(
                r / "comparison.csv",
                lambda rows, c: (
                    [{k: v for k, v in x.items() if k != "label"} for x in rows],
                    [k for k in c if k != "label"],
                ),
            ),
            ["no column label"],
        ),
        (
            lambda r: rewrite_csv(r / "comparison.csv", set_first("seed_deltas", "1:abc")),
            ["comparison.csv:2", "1:abc"],
        ),
        (
            lambda r: rewrite_csv(r / "comparison.csv", set_first("seed_deltas", "1:nan;2:+1.0")),
            ["comparison.csv:2", "not a finite number"],
        ),
        (
            lambda r: rewrite_csv(r / "comparison.csv", set_first("seed_deltas", "1:-inf")),
            ["comparison.csv:2", "-inf"],
        ),
        (
            lambda r: rewrite_csv(r / "comparison.csv", set_first("budget", "1e3")),
            ["comparison.csv:2", "budget"],
        ),
    ],
)
def test_a_malformed_reference_stops_the_dry_run_naming_its_file(reports, damage, words):
    damage(reports)
    with pytest.raises(ConfigurationError) as error:
        dry_check(referring("reports/default"))
    assert error.value.key == "claims[0].reference.report"
    assert all(word in str(error.value) for word in words), str(error.value)
