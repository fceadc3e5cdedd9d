"""What a run writes as it trains, and the command line's overrides, module by module:
curves.tsv row by row, dynamics.tsv carried over a resume or restarted, TensorBoard files for
watching, and `--config` values typed as the schema says."""

import csv

from conftest import SCHEMA

from attnablate.config import overrides
from attnablate.train.files import RunFiles
from attnablate.train.live import LiveCurves
from attnablate.train.records import CURVE_COLUMNS, Curves, Records


def rows_of(path) -> list[dict]:
    return list(csv.DictReader(path.open(), delimiter="\t"))


def test_curves_are_rewritten_row_by_row_and_continue_a_resumed_runs_rows(tmp_path):
    path = tmp_path / "curves.tsv"
    curves = Curves(path)
    assert path.read_text().splitlines() == [
        "\t".join((*CURVE_COLUMNS, "valid_bleu"))
    ]  # a header at once
    curves.add(step=20, epoch=0, tokens=400, valid_loss=3.14159265, valid_bleu=None)
    first = rows_of(path)[0]
    assert first["step"] == "20" and first["valid_loss"] == "3.14159" and first["valid_bleu"] == ""
    resumed = Curves(path, curves.rows)  # a rerun job starts from the state's rows
    resumed.add(step=40, epoch=0, tokens=800, valid_loss=2.5)
    assert [r["step"] for r in rows_of(path)] == ["20", "40"]


def test_dynamics_restart_at_step_0_and_carry_over_a_resume(tmp_path):
    files = RunFiles(tmp_path / "run")
    files.folder.mkdir()
    carried = {"curves": [], "dynamics": [{"step": 0, "site": "enc", "layer": 0, "head": 0}]}
    records = Records(files, carried, fresh=False, tensorboard=False)
    records.add_dynamics([{"step": 20, "site": "enc", "layer": 0, "head": 0}])
    assert [r["step"] for r in rows_of(files.dynamics)] == ["0", "20"]
    records.restart_dynamics([{"step": 0, "site": "dec", "layer": 0, "head": 0}])
    assert [(r["step"], r["site"]) for r in rows_of(files.dynamics)] == [("0", "dec")]
    assert not list(files.folder.glob("events.out.tfevents.*"))  # tensorboard off: no files
    records.close()


def test_a_fresh_run_clears_the_event_files_of_an_earlier_run_in_its_folder(tmp_path):
    old = tmp_path / "events.out.tfevents.1.old"
    old.write_bytes(b"an earlier run")
    kept = LiveCurves(tmp_path, fresh=False)  # a resumed run goes on beside its own files
    kept.close()
    assert old.exists()
    live = LiveCurves(tmp_path, fresh=True)
    live.curves({"step": 20, "tokens": 400, "seconds": 2.0, "valid_loss": 3.0})
    live.dynamics([{"step": 20, "site": "enc", "symmetry": 0.5, "diag_mass": None}])
    live.close()
    assert not old.exists() and list(tmp_path.glob("events.out.tfevents.*"))


def test_command_line_values_are_typed_as_the_schema_says():
    """Snakemake hands nested --config values over as strings: numbers and booleans are read
    again where the schema types them so, and nothing else is touched."""
    given = {
        "seeds": ["1", "2"],
        "train": {"max_steps": "100"},
        "model": {"bias": "false"},
        "experiment": "42",
    }
    config = {**given, "train": {"max_steps": "100", "lr": 0.004}, "model": {"bias": "false"}}
    overrides.apply(config, given, SCHEMA)
    assert config["seeds"] == [1, 2]
    assert config["train"] == {"max_steps": 100, "lr": 0.004}  # the file's keys kept
    assert config["model"]["bias"] is False
    assert config["experiment"] == "42"  # a name stays text
    odd = {"seeds": ["one"]}
    overrides.apply(odd, odd, SCHEMA)
    assert odd == {"seeds": ["one"]}  # left for the schema to refuse, with its key


def test_whole_number_floats_are_integers_where_the_schema_asks_for_one():
    config = {"seeds": [1.0, 2.0], "train": {"budgets": [20.0, 40.0], "lr": 1.0}}
    overrides.integers(config, SCHEMA)
    assert config["seeds"] == [1, 2] and config["train"]["budgets"] == [20, 40]
    assert isinstance(config["train"]["lr"], float)  # a number may be a float
    halves = {"seeds": [1.5]}
    overrides.integers(halves, SCHEMA)
    assert halves == {"seeds": [1.5]}  # not whole: the schema refuses it
