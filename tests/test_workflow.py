"""The real Snakemake DAG, run end to end on the smoke experiment in a scratch folder."""

import copy
import json
import re
import shutil
import subprocess

import pytest
import torch
import yaml
from conftest import ROOT, SNAKEMAKE, planned_jobs, saved_dataset, snakemake

from attnablate.analysis.verdict import Verdict
from attnablate.io import read_tsv
from attnablate.report.outputs import FIGURES

pytestmark = pytest.mark.workflow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUNS = ["qk/micro/none", "qq@enc/micro/none", "qq@enc/micro/total"]


@pytest.fixture
def smoke(smoke_run):
    """The finished smoke run of conftest (shared with the other workflow tests)."""
    return smoke_run


def test_every_output_of_the_smoke_run(smoke):
    workdir, _ = smoke
    data = workdir / "data" / "smoke-de-en"
    for split in ("train", "valid", "test"):
        src = (data / f"{split}.src").read_text().splitlines()
        tgt = (data / f"{split}.tgt").read_text().splitlines()
        assert len(src) == len(tgt) > 0
    for run in RUNS:
        folder = workdir / "runs" / "smoke" / run / "seed1" / "steps30"
        scores = json.loads((folder / "scores.json").read_text())
        assert 0 <= scores["bleu"] <= 100 and 0 <= scores["chrf"] <= 100
        assert "version:2.6.0" in scores["bleu_signature"]
        curves = read_tsv(folder / "curves.tsv")
        assert [int(row["step"]) for row in curves] == [15, 30]
        assert all(float(row["valid_loss"]) > 0 for row in curves)
        hyps = (folder / "test.hyp").read_text().split("\n")[:-1]
        assert len(hyps) == len((data / "test.tgt").read_text().splitlines())
        dynamics = read_tsv(folder / "dynamics.tsv")
        sites = {(row["site"], row["layer"], row["head"]) for row in dynamics}
        # step 0 (before training) and 2 validations, 3 sites, 2 heads
        assert len(dynamics) == 3 * len(sites) == 3 * 3 * 2
        assert sorted({int(row["step"]) for row in dynamics}) == [0, 15, 30]
        assert all(0 <= float(row["symmetry"]) <= 1 for row in dynamics)
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["steps"] == 30 and meta["device"] == "cpu"
        assert (workdir / "benchmarks" / "smoke" / run / "seed1" / "steps30" / "train.tsv").exists()
    runs = read_tsv(workdir / "results" / "smoke" / "runs.tsv")
    assert sorted(f"{r['variant']}/{r['size']}/{r['match']}" for r in runs) == sorted(RUNS)
    by_match = {(r["variant"], r["match"]): int(r["params_total"]) for r in runs}
    qk = by_match["qk", "none"]
    assert by_match["qq@enc", "none"] < qk
    assert abs(by_match["qq@enc", "total"] - qk) <= 0.005 * qk
    report = workdir / "reports" / "smoke"
    figures = ["bleu_vs_params", "valid_loss", "bleu_vs_tokens", "dynamics", "attention_maps"]
    for figure in (f"{name}.png" for name in figures):
        assert (report / figure).read_bytes()[:8] == PNG_SIGNATURE
    tests = read_tsv(workdir / "results" / "smoke" / "significance.tsv")
    assert sorted((t["variant"], t["match"]) for t in tests) == [
        ("qq@enc", "none"),
        ("qq@enc", "total"),
    ]
    for test in tests:
        assert 0 < float(test["p_ar"]) <= 1 and 0 < float(test["p_bootstrap_holm"]) <= 1
        assert test["holm_family"] == "2"  # matched and unmatched: one family per seed
        assert (
            float(test["delta_ci_low"]) <= float(test["delta_bleu"]) <= float(test["delta_ci_high"])
        )
    comparison = read_tsv(workdir / "results" / "smoke" / "comparison.tsv")
    assert [(c["label"], c["seeds"], c["verdict"]) for c in comparison] == [
        ("qq@enc", "1", "one seed"),
        ("qq@enc (matched: total)", "1", "one seed"),
    ]
    summary = (report / "summary.md").read_text()
    made, first = summary.split("\n\n")[1:3]  # after the title: provenance, convergence
    made_from = (report / "config.yaml").read_text()
    commit = made_from.splitlines()[0].split("at commit ")[1].split()[0].rstrip(".")
    assert len(commit) == 40 and f"at commit `{commit}" in made
    used = yaml.safe_load(made_from)
    assert used["variants"] == ["qk", "qq@enc"]
    assert used["decode"]["length_penalty"] == 1.0  # the schema's defaults filled in
    assert first.startswith(("**Not converged.**", "**Partly converged.**", "**Converged.**"))
    assert "- At size `micro`, `qq@enc` (" in summary
    assert "one seed, so no verdict across training noise" in summary
    assert "(2 comparisons per family)" in summary
    assert "- `qk`: the learned bilinear form W_Qᵀ W_K goes from" in summary
    assert "symmetric by construction" in summary  # qq@enc's encoder, at step 0 already
    assert "Scaling: no power law is fitted: the experiment has 1 model size" in summary
    assert "| `qq@enc (matched: total)` |" in summary and "![valid_loss](valid_loss.png)" in summary
    here = f"cpu {torch.backends.cpu.get_cpu_capability()}, 1 thread, torch {torch.__version__}"
    assert f"**Kernels.** Every run trained under `{here}`" in summary  # to rerun it to the bit


def one_stack(config: dict, experiment: str, architecture: str, stack: dict) -> dict:
    """The smoke experiment as a single-stack model of about its size (``stack``: its
    enc_layers and dec_layers), with qk and qq at its one site."""
    config = copy.deepcopy(config)
    config["experiment"] = experiment
    config["model"] = {"architecture": architecture}
    config["variants"], config["matched_variants"] = ["qk", "qq"], ["qq"]
    config["sizes"] = {"micro": {"d_model": 16, "n_heads": 2, **stack, "d_ff": 32}}
    return config


def decoder_only(config: dict) -> dict:
    """The smoke experiment as a decoder-only model of about its size, with the claim that
    its Δ for QQᵀ is the encoder-decoder smoke run's Δ for QQᵀ at the encoder."""
    stack = {"enc_layers": 0, "dec_layers": 2}
    config = one_stack(config, "smoke-decoder", "decoder_only", stack)
    config["claims"] = [
        {"claim": "QQᵀ is worse", "variant": "qq", "expect": "worse"},
        {
            "claim": "the conclusions carry over",
            "variant": "qq",
            "expect": "same",
            "margin": 1.0,
            "reference": {"report": "reports/smoke", "variant": "qq@enc"},
        },
    ]
    # the replication's wiring: the encoder-decoder smoke report as the one replicated, which
    # has no row of the decoder-only cells (the replication's numbers: test_replication.py)
    config["replicates"] = {"report": "reports/smoke", "margin": 1.0}
    return config


def test_a_decoder_only_experiment_runs_end_to_end_and_compares_with_the_encoder_decoder(
    tmp_path, smoke
):
    """The same DAG for the other family: packed rows trained, translated by beam search on
    the prefix cache, scored, its dynamics split into the prefix and the target, and a claim
    read against another experiment's committed report."""
    workdir, config = smoke
    shutil.copytree(workdir / "reports" / "smoke", tmp_path / "reports" / "smoke")
    shutil.copytree(workdir / "data", tmp_path / "data")  # the same corpus, prepared once
    result = snakemake(tmp_path, decoder_only(config))
    assert result.returncode == 0, result.stderr[-3000:]
    data = tmp_path / "data" / "smoke-de-en"
    for run in ("qk/micro/none", "qq/micro/none", "qq/micro/total"):
        folder = tmp_path / "runs" / "smoke-decoder" / run / "seed1" / "steps30"
        hyps = (folder / "test.hyp").read_text().split("\n")[:-1]
        assert len(hyps) == len((data / "test.tgt").read_text().splitlines())
        assert any(hyps), "beam search on the prefix cache translated nothing"
        dynamics = read_tsv(folder / "dynamics.tsv")
        assert {row["site"] for row in dynamics} == {"prefix", "target"}
        assert len(dynamics) == 3 * 2 * 2 * 2  # steps 0, 15, 30; two parts, layers, heads
    runs = {
        (r["variant"], r["match"]): int(r["params_total"])
        for r in read_tsv(tmp_path / "results" / "smoke-decoder" / "runs.tsv")
    }
    assert runs["qq", "none"] < runs["qk", "none"]
    assert abs(runs["qq", "total"] - runs["qk", "none"]) <= 0.005 * runs["qk", "none"]
    claims = read_tsv(tmp_path / "results" / "smoke-decoder" / "claims.tsv")
    assert [c["reference"] for c in claims] == ["", "reports/smoke: qq@enc"]
    assert claims[1]["verdict"] == Verdict.CLAIM_ONE_SEED  # no interval to judge by
    [beside] = read_tsv(tmp_path / "results" / "smoke-decoder" / "replication.tsv")
    assert beside["verdict"] == Verdict.UNTESTABLE
    assert beside["reason"] == "reports/smoke has no one row of qq at micro, 30 steps"
    summary = (tmp_path / "reports" / "smoke-decoder" / "summary.md").read_text()
    assert "Δ BLEU vs qk − Δ BLEU of `reports/smoke: qq@enc` within ±1" in summary
    assert "## Beside `reports/smoke`" in summary
    assert "in the prefix" in summary and "in the target" in summary
    assert "- `qq`: self-attention (the source prefix and the target): W_K is W_Q" in summary
    # the reference's report is an input: a changed one reruns the claims and the report
    # alone (a touch does not: Snakemake compares the checksums of inputs that no rule writes)
    theirs = tmp_path / "reports" / "smoke" / "comparison.csv"
    theirs.write_text(theirs.read_text() + "\n")
    assert {rule for rule, _ in planned_jobs(tmp_path, decoder_only(config))} == {
        "claims",
        "report",
    }


def encoder_only(config: dict) -> dict:
    """The smoke experiment as an encoder-only model of about its size, masked-language
    trained on the sources, with a claim in its own measure."""
    stack = {"enc_layers": 2, "dec_layers": 0}
    first = config["claims"][0]["claim"]
    config = one_stack(config, "smoke-encoder", "encoder_only", stack)
    config["claims"] = [
        {"claim": first, "variant": "qq", "expect": "worse"},
        {
            "claim": "at equal weights, no better",
            "variant": "qq",
            "match": "total",
            "expect": "not_better",
            "margin": 1.0,
        },
    ]  # fmt: skip  the first in the encoder-decoder smoke report's words: set beside it
    config["carries"] = {"report": "reports/smoke"}
    return config


def test_an_encoder_only_experiment_runs_end_to_end_judged_by_masked_token_accuracy(
    tmp_path, smoke
):
    """The DAG of the third family: masked-language training on the sources, the test
    split's masked pieces scored in place of translations, paired tests over test sentences,
    the claims and the report in accuracy points, the symmetry also on the published scale."""
    workdir, config = smoke
    shutil.copytree(workdir / "reports" / "smoke", tmp_path / "reports" / "smoke")
    shutil.copytree(workdir / "data", tmp_path / "data")  # the same corpus, prepared once
    result = snakemake(tmp_path, encoder_only(config))
    assert result.returncode == 0, result.stderr[-3000:]
    test_sentences = len((tmp_path / "data" / "smoke-de-en" / "test.src").read_text().splitlines())
    for run in ("qk/micro/none", "qq/micro/none", "qq/micro/total"):
        folder = tmp_path / "runs" / "smoke-encoder" / run / "seed1" / "steps30"
        assert not (folder / "test.hyp").exists()  # nothing is translated
        rows = read_tsv(folder / "test.masked.tsv")
        assert len(rows) == test_sentences and all(int(r["count"]) >= 1 for r in rows)
        scores = json.loads((folder / "scores.json").read_text())
        correct = sum(int(r["correct"]) for r in rows)
        assert scores["accuracy"] == round(100 * correct / scores["pieces"], 4)
        [baseline] = (tmp_path / "data" / "smoke-de-en").glob("*/masked_baseline.json")
        guessed = json.loads(baseline.read_text())  # the same pieces, from their frequencies
        assert guessed["pieces"] == scores["pieces"] and 0 < guessed["masked_loss"]
        assert {row["site"] for row in read_tsv(folder / "dynamics.tsv")} == {"self"}
        assert read_tsv(folder / "curves.tsv")[-1]["valid_accuracy"]
    [run] = [r for r in read_tsv(tmp_path / "results" / "smoke-encoder" / "runs.tsv")
             if r["variant"] == "qq" and r["match"] == "none"]  # fmt: skip
    assert run["test_accuracy"] and run["test_masked_loss"] and "test_bleu" not in run
    tests = read_tsv(tmp_path / "results" / "smoke-encoder" / "significance.tsv")
    assert {t["variant"] for t in tests} == {"qq"} and all(0 < float(t["p_ar"]) <= 1 for t in tests)
    claims = read_tsv(tmp_path / "results" / "smoke-encoder" / "claims.tsv")
    assert [c["measure"] for c in claims] == ["accuracy", "accuracy"]
    summary = (tmp_path / "reports" / "smoke-encoder" / "summary.md").read_text()
    assert "Δ accuracy vs qk < 0" in summary
    assert f"alone, without its sentence, scores {guessed['accuracy']:.2f}% accuracy" in summary
    assert "BLEU" not in summary.split("## Does it carry")[0]  # the other family's measure
    assert "on the published scale 2s − 1" in summary
    assert "- `qq`: self-attention (bidirectional): W_K is W_Q" in summary
    # the first claim beside the encoder-decoder's verdict on it, each in its own measure
    [beside] = read_tsv(tmp_path / "results" / "smoke-encoder" / "carries.tsv")
    assert (beside["label_here"], beside["label_there"]) == ("qq", "qq@enc")
    assert (beside["measure_here"], beside["measure_there"]) == ("accuracy", "bleu")
    assert beside["outcome"] == "not decided"  # one seed: no verdict on either side
    assert "## Does it carry to another family? Beside `reports/smoke`" in summary


def test_the_encoder_only_experiment_plans_every_cell_beside_the_default_report(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "encoder-only.yaml").read_text())
    result = snakemake(tmp_path, config, "--dry-run")
    assert result.returncode != 0
    assert "carries.report: no such file: reports/default/" in result.stdout  # named, missing
    shutil.copytree(ROOT / "reports" / "default", tmp_path / "reports" / "default")
    jobs = planned_jobs(tmp_path, config)
    stable = sorted(where.split("/")[2:5] for rule, where in jobs if rule == "stable")
    cells = [[v, "small", "none"] for v in ("qk", "qq", "nov", "noo")] + [["qq", "small", "total"]]
    assert stable == sorted(cells * 3 * 3)  # three seeds, a stable segment per budget
    rules = [rule for rule, _ in jobs]
    assert rules.count("evaluate_masked") == 5 * 3 * 3 and "translate" not in rules


def test_a_report_missing_one_of_its_files_is_drawn_again(smoke, tmp_path):
    """`snakemake` asks for every file the report step writes: with one of them gone (the
    claims' table another family's report reads), a finished experiment plans its report."""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke[0], workdir, symlinks=True)
    for name in ("claims.csv", "config.yaml"):
        (workdir / "reports" / "smoke" / name).unlink()
        assert ("report", f"reports/smoke/{name}") in planned_jobs(workdir, smoke[1])
        shutil.copy2(smoke[0] / "reports" / "smoke" / name, workdir / "reports" / "smoke" / name)


def test_the_decoder_only_experiment_plans_every_cell_beside_the_encoder_decoders(tmp_path):
    """Every claim is set beside reports/default's verdict, and the last one reads the
    encoder-decoder's Δ at the same dose (`qq@enc,dec`, reports/controls): each report named
    while missing; then it plans the default's five cells, in the default's precision."""
    config = yaml.safe_load((ROOT / "configs" / "decoder-only.yaml").read_text())
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert config["train"]["precision"] == default["train"]["precision"]
    assert config["carries"] == {"report": "reports/default"}
    assert config["claims"][-1]["reference"] == {
        "report": "reports/controls",
        "variant": "qq@enc,dec",
    }
    for report in ("controls", "default"):  # the reference is read first, then the carries
        result = snakemake(tmp_path, config, "--dry-run")
        assert result.returncode != 0
        assert f"reports/{report}/" in result.stdout + result.stderr  # named, missing
        shutil.copytree(ROOT / "reports" / report, tmp_path / "reports" / report)
    jobs = planned_jobs(tmp_path, config)
    stable = sorted(where.split("/")[2:4] for rule, where in jobs if rule == "stable")
    cells = [[v, "small"] for v in ["qk", "qq", "nov", "noo", "qq"]]
    assert stable == sorted(cells * 3 * 3)  # three seeds, a stable segment per budget
    assert [rule for rule, _ in jobs].count("translate") == 5 * 3 * 3


def test_the_html_report_holds_every_figure_and_table_under_its_heading(smoke):
    """`--report report.html` files every figure of outputs.FIGURES, the summary and the
    tables under the report's three headings (the browser test reads it as a person would)."""
    workdir, config = smoke
    result = snakemake(workdir, config, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    for heading in ("1. Summary", "2. Figures", "3. Tables"):
        assert heading in html, heading
    for name in [*(f"{figure}.png" for figure in FIGURES), "summary.html", "tables.html"]:
        assert name in html, name
    for theme in set(FIGURES.values()):
        assert theme in html, theme


def test_a_finished_run_has_nothing_left_to_do(smoke):
    workdir, config = smoke
    assert planned_jobs(workdir, config) == []


def test_changing_one_variant_reruns_only_its_runs(smoke):
    workdir, config = smoke
    changed = copy.deepcopy(config)
    changed["variants"] = ["qk", "qq@enc,dec"]
    jobs = planned_jobs(workdir, changed)
    trained = sorted(log for rule, log in jobs if rule == "train")
    assert trained == [f"runs/smoke/qq@enc,dec/micro/{m}/seed1/steps30" for m in ("none", "total")]
    assert {rule for rule, _ in jobs} == {
        "model_table",
        "train",
        "attention",
        "translate",
        "score",
        "compare",
        "aggregate",
        "claims",
        "report",
    }
    assert sum(rule == "translate" for rule, _ in jobs) == 2  # qk is neither retrained nor rescored


def test_adding_a_variant_trains_only_the_new_one(smoke):
    workdir, config = smoke
    changed = copy.deepcopy(config)
    changed["variants"].append("noo@all")
    jobs = planned_jobs(workdir, changed)
    trained = sorted(log for rule, log in jobs if rule == "train")
    assert trained == [f"runs/smoke/noo@all/micro/{m}/seed1/steps30" for m in ("none", "total")]
    assert sum(rule in ("prepare", "tokenizer", "encode") for rule, _ in jobs) == 0


def test_changing_the_beam_retranslates_without_retraining(smoke):
    workdir, config = smoke
    changed = copy.deepcopy(config)
    changed["decode"]["beam_size"] = 3
    jobs = planned_jobs(workdir, changed)
    rules = [rule for rule, _ in jobs]
    assert rules.count("translate") == rules.count("score") == len(RUNS)
    assert "train" not in rules and "model_table" not in rules
    assert set(rules) == {"translate", "score", "compare", "aggregate", "claims", "report"}


def test_changing_a_claim_retests_the_claims_and_redraws_the_report_alone(smoke):
    workdir, config = smoke
    changed = copy.deepcopy(config)
    changed["claims"][0]["expect"] = "better"
    assert {rule for rule, _ in planned_jobs(workdir, changed)} == {"claims", "report"}


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


def test_the_default_experiment_plans_every_stage(tmp_path):
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    jobs = [rule for rule, _ in planned_jobs(tmp_path, config)]
    cells = len(config["variants"]) + len(config.get("matched_variants", []))
    cells *= len(config["sizes"]) * len(config["seeds"])
    runs = cells * len(config["train"]["budgets"])  # a ladder: a cooldown per budget
    assert jobs.count("stable") == runs  # a stable segment per budget's branch point
    assert jobs.count("train") == jobs.count("translate") == jobs.count("score") == runs
    assert {"prepare", "tokenizer", "encode", "aggregate", "report"} <= set(jobs)


def test_the_controls_plan_every_control_and_the_learning_rate_check(tmp_path):
    """configs/controls.yaml: the default's cells and the initialisation controls at the
    default's shape, and qq@enc with qk beside it at half and twice the peak rate (presets
    of the same shape that name their variants, unmatched), each at every budget."""
    config = yaml.safe_load((ROOT / "configs" / "controls.yaml").read_text())
    del config["runs"]  # its own runs here: the default's are not in this folder
    jobs = planned_jobs(tmp_path, config)
    stable = sorted(where.split("/")[2:5] for rule, where in jobs if rule == "stable")
    cells = [[v, "small", "none"] for v in config["variants"]] + [["qq@enc", "small", "total"]]
    checks = ("small-lr-half", "small-lr-twice")
    cells += [[v, size, "none"] for v in ("qk", "qq@enc") for size in checks]
    assert stable == sorted(cells * 3 * 3)  # three seeds, a stable segment per budget
    lrs = {
        size: preset.get("lr", config["train"]["lr"]) for size, preset in config["sizes"].items()
    }
    assert lrs == {"small": 0.004, "small-lr-half": 0.002, "small-lr-twice": 0.008}
    config["sizes"]["small-lr-half"]["variants"] = ["qq@dec"]
    result = snakemake(tmp_path, config, "--dry-run")
    assert "sizes.small-lr-half.variants[0]: 'qq@dec' is not one of the experiment's" in (
        result.stdout + result.stderr
    )


def test_a_matched_variant_the_variants_leave_out_is_not_planned(tmp_path, smoke_config):
    """As with a claim: an override of variants may leave a matched variant out (its matched
    run is then not planned); a name no variant has still fails."""
    smoke_config["matched_variants"] = ["noo@all"]
    jobs = planned_jobs(tmp_path, smoke_config)
    trained = {where.split("/")[2:5] == ["qq@enc", "micro", "total"] for r, where in jobs}
    assert {rule for rule, _ in jobs} >= {"train", "report"} and trained == {False}
    smoke_config["matched_variants"] = ["nooo@all"]
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "matched_variants[0]: unknown variant 'nooo'" in result.stdout + result.stderr


def planned_resources(workdir, config, *args) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry run of ``config`` plans (dry_run_jobs)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return [(rule, job["resources"]) for rule, job in dry_run_jobs(workdir, "config.yaml", *args)]


def dry_run_jobs(workdir, configfile, *args) -> list[tuple[str, dict]]:
    """(rule, {"resources": ..., "wildcards": ...}) of every job a dry run with ``configfile``
    plans. Snakemake gives a job's resources in no machine-readable output (--summary has
    none), so this is the one place that reads its dry-run text: "rule NAME:" opens a job, its
    "wildcards: a=1, b=2" and "resources: ..." lines follow."""
    command = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--configfile", str(configfile)]
    result = subprocess.run(
        [*command, "--cores", "2", "--dry-run", *args], cwd=workdir, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = []
    for line in result.stdout.splitlines():
        if re.match(r"^(local)?rule \w+:", line):
            jobs.append((line.split()[-1].rstrip(":"), {"resources": {}, "wildcards": {}}))
            continue
        field = line.strip().split(":", 1)[0]
        if field in ("resources", "wildcards") and jobs:
            pairs = (item.split("=", 1) for item in line.split(":", 1)[1].split(", "))
            jobs[-1][1][field].update({key.strip(): value for key, value in pairs})
    return jobs


def test_the_readme_cluster_command_plans_every_cell_of_the_paper_config_on_its_gpus(tmp_path):
    """`snakemake --configfile configs/paper.yaml`, as docs/cluster.md has it, dry-run: its
    sizes, variants and seeds only (the default's sizes are not merged in), and every (variant,
    size, match, seed) trains a stable segment and a cooldown per budget, each on as many GPUs
    as its size asks for, and translates on one. On its first seed (`--config seeds=[1]`, as
    docs/cluster.md changes keys): every seed plans alike, and all six plan 24,220 jobs, two
    minutes of Snakemake's own work."""
    paper = ROOT / "configs" / "paper.yaml"
    config = yaml.safe_load(paper.read_text())
    placeholder_corpus(tmp_path, config)
    jobs = dry_run_jobs(tmp_path, paper, "--config", f"seeds=[{config['seeds'][0]}]")
    assert {job["wildcards"]["seed"] for rule, job in jobs if rule == "train"} == {"1"}
    variants, sizes, seeds = len(config["variants"]), len(config["sizes"]), 1
    cells = (2 * variants - 1) * sizes * seeds  # matched: every variant but qk
    budgets = len(config["train"]["budgets"])
    runs = [job["wildcards"] for rule, job in jobs if rule == "train"]  # a cooldown per budget
    assert {run["size"] for run in runs} == set(config["sizes"])
    assert len(runs) == cells * budgets
    train = [job["resources"] for rule, job in jobs if rule in ("train", "stable")]
    assert len(train) == cells * 2 * budgets  # a stable segment and a cooldown per budget
    gpus = {size: str(preset.get("gpus", 1)) for size, preset in config["sizes"].items()}
    assert sorted(r["gpu"] for r in train) == sorted(
        gpus[size] for size in config["sizes"] for _ in range(len(train) // sizes)
    )
    translate = [job["resources"] for rule, job in jobs if rule == "translate"]
    assert len(translate) == cells * budgets and all(r["gpu"] == "1" for r in translate)


@pytest.mark.slow
def test_the_readme_commands_pass_in_sequence(tmp_path):
    """A fresh clone, then the README's two commands in that order: the run regenerates
    reports/default/ with this machine's numbers (here the smoke experiment's, under the
    default's name), and the test suite must still pass its check of the README's answer table."""
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, cwd=ROOT, capture_output=True, text=True, check=True)
    files = files.stdout.split()
    clone = tmp_path / "clone"
    for name in files:
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run([*git, *args], cwd=clone, check=True, capture_output=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")  # built already: the commands reuse it
    run = subprocess.run(
        ["./run.sh", "--configfile", "tests/smoke.yaml", "--config", "experiment=default"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    committed = (ROOT / "reports" / "default" / "summary.md").read_text()
    assert (clone / "reports" / "default" / "summary.md").read_text() != committed
    tests = subprocess.run(
        ["./test.sh", "tests/test_style.py", "-k", "readme"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]


def test_a_configfile_on_the_command_line_replaces_the_default_experiment():
    """`./run.sh --configfile other.yaml` runs other.yaml's experiment alone: the default's
    sizes, seeds and variants are not merged into it."""
    result = subprocess.run(
        [str(SNAKEMAKE), "--configfile", "tests/smoke.yaml", "--dry-run", "--cores", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sizes = set(re.findall(r"size=(\w+)", result.stdout))
    assert sizes == {"micro"}  # config.yaml's sizes are not added


def planned_runs(workdir, *args) -> set[str]:
    """The runs (experiment/variant/size/match/seed/budget) a call of Snakemake would train, read
    from its --summary table rather than its dry-run text."""
    command = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--summary", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    header = rows[0]
    files = [dict(zip(header, row)) for row in rows[1:]]
    return {
        row["output_file"].removeprefix("runs/").removesuffix("/meta.json")
        for row in files
        if row["rule"] == "train" and row["output_file"].endswith("/meta.json")
    }


def placeholder_corpus(workdir, config) -> None:
    """Stand-ins for the user's corpus files of a `source: files` config."""
    for pair in config["corpus"]["files"].values():
        for side in ("src", "tgt"):
            path = workdir / pair[side]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("ein Satz\n")


def test_a_user_config_naming_one_size_plans_that_size_only(tmp_path, smoke_config):
    """A --configfile replaces config.yaml rather than merging with it (the Snakefile reads
    Snakemake's workflow.overwrite_configfiles and common.smk its config_settings: an upgrade
    that changed either would merge the default's sizes in, and fail here)."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(smoke_config))  # the default: micro
    smoke_config["sizes"] = {"solo": smoke_config["sizes"]["micro"]}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(smoke_config))
    runs = planned_runs(tmp_path, "--configfile", "mine.yaml")
    assert runs == {
        "smoke/qk/solo/none/seed1/steps30",
        "smoke/qq@enc/solo/none/seed1/steps30",
        "smoke/qq@enc/solo/total/seed1/steps30",
    }


def test_command_line_overrides_are_typed_and_merged(tmp_path, smoke_config):
    """The keys users change most, from the command line: nested values arrive from Snakemake
    as strings, and are read as the schema types them, merged into the experiment's."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(smoke_config))
    runs = planned_runs(tmp_path, "--configfile", "config.yaml", "--config", "seeds=[1,2]")
    assert {run.split("/")[-2] for run in runs} == {"seed1", "seed2"}
    runs = planned_runs(tmp_path, "--configfile", "config.yaml", "--config", 'variants=["qk"]')
    assert runs == {"smoke/qk/micro/none/seed1/steps30"}
    assert planned_runs(
        tmp_path, "--configfile", "config.yaml", "--config", "train={max_steps: 100}"
    )
    # merged, not replaced: the file's warmup stays; typed: the message has numbers
    command = [
        str(SNAKEMAKE),
        "-s",
        str(ROOT / "Snakefile"),
        "-n",
        "--configfile",
        "config.yaml",
        "--config",
        "train={max_steps: 10, schedule: linear}",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert "must exceed train.warmup_steps (10), got 10" in result.stdout + result.stderr


def test_the_workflow_works_as_a_module(tmp_path, smoke_config):
    """Included with `module` from another workflow's Snakefile, it finds its own library."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(smoke_config))
    (tmp_path / "Snakefile").write_text(
        'configfile: "config.yaml"\n\n\n'
        f'module attnablate:\n    snakefile:\n        "{ROOT / "Snakefile"}"\n'
        "    config:\n        config\n\n\n"
        "use rule * from attnablate as attnablate_*\n"
    )
    result = subprocess.run(
        [str(SNAKEMAKE), "--summary"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rules = [line.split("\t")[2] for line in result.stdout.splitlines()[1:]]
    assert rules.count("attnablate_train") == 3 * 4  # three runs, four outputs each


def test_a_hugging_face_corpus_is_prepared_once_with_its_official_splits(tmp_path, smoke_config):
    """A dataset saved with save_to_disk (as a login node would, for compute nodes without
    internet): its own splits, the test set named in the prepare log; a second experiment
    on it plans no preparation; a folder that is no saved dataset fails the dry run."""
    folder = saved_dataset(tmp_path)
    corpus = {"source": "huggingface", "path": str(folder), "src": "de", "tgt": "en"}
    first = {**smoke_config, "experiment": "hf_a", "corpus": corpus}
    prepared = "data/hf-john-de-en-de-en/prepare.json"
    result = snakemake(tmp_path, first, prepared)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads((tmp_path / prepared).read_text())
    assert stats["splits"] == {"train": 300, "valid": 40, "test": 40}
    assert stats["test_set"] == f"{folder} (saved with save_to_disk), split 'test'"
    log = (tmp_path / "logs" / "data" / "hf-john-de-en-de-en" / "prepare.log").read_text()
    assert "test set: " in log
    de = (ROOT / "tests" / "data" / "john.de").read_text().splitlines()
    test_src = (tmp_path / "data" / "hf-john-de-en-de-en" / "test.src").read_text().splitlines()
    assert test_src == [" ".join(line.split()) for line in de[340:380]]

    second = {**first, "experiment": "hf_b"}
    (tmp_path / "second.yaml").write_text(yaml.safe_dump(second))
    command = [
        str(SNAKEMAKE),
        "-s",
        str(ROOT / "Snakefile"),
        "--configfile",
        "second.yaml",
        "--summary",
    ]
    summary = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    rows = [line.split("\t") for line in summary.stdout.splitlines()[1:]]
    plans = {row[0]: row[5] for row in rows if row[2] == "prepare"}
    assert plans and set(plans.values()) == {"no update"}, plans

    (tmp_path / "not-a-dataset").mkdir()
    bad = {**first, "corpus": {**corpus, "path": str(tmp_path / "not-a-dataset")}}
    result = snakemake(tmp_path, bad, "--dry-run")
    assert result.returncode != 0
    assert "corpus.path: " in result.stdout + result.stderr
    assert "not a dataset written by save_to_disk" in result.stdout + result.stderr
    # a path that is no folder is never fetched from the hub by accident
    missing = {**first, "corpus": {**corpus, "path": "corpora/iwslt2017-de-en"}}
    result = snakemake(tmp_path, missing, "--dry-run")
    assert result.returncode != 0
    assert "corpus.path: no such folder: corpora/iwslt2017-de-en" in result.stdout + result.stderr
    assert "corpus.hub: true" in result.stdout + result.stderr


@pytest.mark.parametrize("key", ["experiment", "corpus.name"])
@pytest.mark.parametrize("name", [".", "..", "..."])
def test_a_name_of_dots_alone_is_refused_before_it_leaves_its_folder(
    tmp_path, smoke_config, key, name
):
    """experiment: .. would write runs/, results/ and reports/ one level up; corpus.name: ..
    the prepared corpus beside data/ (outside the project where data/ is a link)."""
    if key == "experiment":
        smoke_config["experiment"] = name
    else:
        smoke_config["corpus"]["name"] = name
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "does not match" in result.stdout + result.stderr
    assert f"'{name}'" in result.stdout + result.stderr


def test_a_name_pattern_matches_in_a_path_as_in_the_schema():
    from attnablate.config.experiment import NAME_PATTERN

    for name in ("smoke", "a.b", "bible-de-en", ".hidden"):
        assert re.fullmatch(NAME_PATTERN, name) and re.match(f"{NAME_PATTERN}/", f"{name}/x")
    for name in (".", "..", "..."):
        assert not re.match(f"(?:{NAME_PATTERN})/", f"{name}/x")
        assert not re.fullmatch(NAME_PATTERN, name)


GPU_STUDY = ROOT / "configs" / "gpu.yaml"


@pytest.mark.parametrize(
    "overrides, experiment",
    [
        ((), "gpu"),
        (("--config", "experiment=gpu-fr-en", "corpus={src: fr}"), "gpu-fr-en"),
        (("--config", "experiment=gpu-es-en", "corpus={src: es}"), "gpu-es-en"),
    ],
)
def test_the_gpu_study_and_its_next_language_pairs_plan_the_eight_cells(
    tmp_path, overrides, experiment
):
    """configs/gpu.yaml as docs/gpu.md runs it, and with the other language pairs of the
    bundled corpus: the default experiment's five cells and the three initialisation
    controls, six seeds each."""
    runs = planned_runs(tmp_path, "--configfile", str(GPU_STUDY), *overrides)
    cells = {run.rsplit("/", 2)[0] for run in runs}
    assert cells == {
        f"{experiment}/{cell}"
        for cell in (
            "qk/d256/none",
            "qq@enc/d256/none",
            "qq@enc/d256/total",
            "nov@enc/d256/none",
            "noo@enc/d256/none",
            "qq_centred@enc/d256/none",
            "qk_symstart@enc/d256/none",
            "qq_selfmask@enc/d256/none",
        )
    }
    assert len(runs) == 48 * len(yaml.safe_load(GPU_STUDY.read_text())["train"]["budgets"])


@pytest.mark.parametrize("size, runs_per_gpu, share", [("d256", 16, 6), ("d512", 5, 20)])
def test_packed_jobs_ask_their_share_of_a_gpu(tmp_path, size, runs_per_gpu, share):
    """A size's runs_per_gpu becomes each train and translate job's gpu_share (hundredths of a
    GPU), which `--resources gpu_share=100` turns into that many jobs at once on one GPU. The
    d512 study (the next config) takes paper.yaml's d512 preset, five runs to a GPU."""
    config = yaml.safe_load(GPU_STUDY.read_text())
    if size != "d256":
        preset = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())["sizes"][size]
        config["sizes"] = {size: {**preset, "runs_per_gpu": runs_per_gpu}}
    assert config["sizes"][size]["runs_per_gpu"] == runs_per_gpu
    jobs = planned_resources(tmp_path, config, "--resources", "gpu_share=100")
    packed = [r for rule, r in jobs if rule in ("stable", "train", "translate")]
    budgets = len(config["train"]["budgets"])
    assert len(packed) == 48 * 3 * budgets  # per budget: a stable segment, cooldown, translation
    assert all(resources["gpu_share"] == str(share) for resources in packed)
    # on a Slurm cluster: a share of one GPU as shards, not a whole GPU
    assert all((r["gres"], r["gpu"]) == (f"shard:{share}", "0") for r in packed)
    assert not any("gpu_share" in resources for rule, resources in jobs if rule == "score")


def test_a_size_cannot_both_share_a_gpu_and_span_several(tmp_path, smoke_config):
    smoke_config["sizes"]["micro"].update(gpus=2, runs_per_gpu=4)
    result = snakemake(tmp_path, smoke_config, "--dry-run")
    assert result.returncode != 0
    assert "sizes.micro.runs_per_gpu: is 4, but the size trains on 2 GPUs" in (
        result.stdout + result.stderr
    )
