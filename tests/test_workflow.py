"""The real Snakemake DAG, run end to end in a scratch folder."""

import csv

from conftest import snakemake


def read_tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_smoke_workflow_writes_the_model_table(tmp_path, smoke_config):
    result = snakemake(tmp_path, smoke_config)
    assert result.returncode == 0, result.stderr
    rows = read_tsv(tmp_path / "results/smoke/models.tsv")
    cells = {(r["variant"], r["match"]) for r in rows}
    assert cells == {("qk", "none"), ("qq@enc", "none"), ("qq@enc", "total")}
    by_cell = {(r["variant"], r["match"]): r for r in rows}
    qk = int(by_cell["qk", "none"]["params_total"])
    assert int(by_cell["qq@enc", "none"]["params_total"]) < qk
    assert abs(int(by_cell["qq@enc", "total"]["params_total"]) - qk) <= 0.005 * qk


def test_bad_variant_fails_the_dry_run_naming_the_key(tmp_path, smoke_config):
    smoke_config["variants"] = ["qk", "qq@encoder"]
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "variants[1]: unknown site 'encoder'" in result.stdout + result.stderr


def test_schema_rejects_an_unknown_key(tmp_path, smoke_config):
    smoke_config["sizes"]["micro"]["d_fff"] = 3
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "d_fff" in result.stdout + result.stderr
