"""Training: the schedule, determinism, learning, and divergence recorded as a result."""

import csv
import json
import platform
from dataclasses import replace

import pytest
import torch

from attnablate.convergence import convergence
from attnablate.errors import ConfigurationError
from attnablate.io import read_tsv
from attnablate.model.config import ModelConfig
from attnablate.report.aggregate import stopped_by
from attnablate.train import runtime
from attnablate.train.config import JobConfig, TrainConfig, compiles, learning_rate
from attnablate.train.files import RunFiles
from attnablate.train.loop import Run, train
from attnablate.train.runtime import training_precision


def run(tmp_path, data, name, seed=1, tensorboard=True, variant="qq@enc", **overrides):
    """Train the tiny model (qq@enc) on the test corpus for 40 steps in ``tmp_path/name``."""
    files = RunFiles(tmp_path / name)
    job = JobConfig(log_every=10, tensorboard=tensorboard)
    settings = {"max_steps": 40, "batch_tokens": 400, "warmup_steps": 10, "eval_every": 20}
    quick = {"valid_bleu_sentences": 10, "device": "cpu"}
    cfg = TrainConfig(**{**settings, **quick, **overrides}, job=job)
    model = ModelConfig(
        vocab_size=200, d_model=32, n_heads=2, enc_layers=1, dec_layers=1, d_ff=64, variant=variant
    )
    meta = train(Run(model, cfg, seed, {"variant": variant}), data, files)
    return meta, files


def without_seconds(path):
    """curves.tsv without its wall-clock column, the one thing that may differ between runs."""
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    column = rows[0].index("seconds")
    return [row[:column] + row[column + 1 :] for row in rows]


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(lr=1e-3, warmup_steps=100)
    assert learning_rate(1, cfg) == pytest.approx(1e-5)
    assert learning_rate(100, cfg) == pytest.approx(1e-3)
    assert learning_rate(400, cfg) == pytest.approx(5e-4)


def test_the_linear_schedule_anneals_to_the_end_of_the_budget():
    cfg = TrainConfig(lr=1e-3, warmup_steps=100, max_steps=1000, schedule="linear")
    assert learning_rate(50, cfg) == pytest.approx(5e-4)
    assert learning_rate(100, cfg) == pytest.approx(1e-3)
    assert learning_rate(550, cfg) == pytest.approx(1e-3 * 451 / 901)
    assert learning_rate(1000, cfg) == pytest.approx(1e-3 / 901)  # the last update: ~0
    assert learning_rate(1001, cfg) == 0.0


def test_the_wsd_schedule_holds_the_peak_then_cools_down_to_the_budget():
    """Warmup, the peak rate to the branch point (the last step before the cooldown), then
    the cooldown over the last fifth of the budget, linear or 1 - sqrt, to ~0 at its end."""
    cfg = TrainConfig(lr=1e-3, warmup_steps=100, max_steps=1000, schedule="wsd")
    assert learning_rate(50, cfg) == pytest.approx(5e-4)
    assert learning_rate(100, cfg) == pytest.approx(1e-3)
    assert learning_rate(800, cfg) == pytest.approx(1e-3)  # the branch point: still the peak
    assert learning_rate(801, cfg) == pytest.approx(1e-3 * 200 / 201)
    assert learning_rate(900, cfg) == pytest.approx(1e-3 * 101 / 201)
    assert learning_rate(1000, cfg) == pytest.approx(1e-3 / 201)  # the last update: ~0
    assert learning_rate(1001, cfg) == 0.0
    root = replace(cfg, cooldown_shape="1-sqrt")
    assert learning_rate(800, root) == pytest.approx(1e-3)
    assert learning_rate(900, root) == pytest.approx(1e-3 * (1 - (100 / 201) ** 0.5))
    assert learning_rate(1001, root) == 0.0
    later = TrainConfig(lr=1e-3, warmup_steps=100, max_steps=2000, schedule="wsd")
    assert learning_rate(1600, later) == pytest.approx(1e-3)  # a larger budget branches later


def test_a_wsd_run_trains_to_an_annealed_end(tmp_path, data):
    meta, outputs = run(tmp_path, data, "wsd", schedule="wsd", cooldown_shape="1-sqrt")
    rows = list(csv.DictReader(outputs.curves.open(), delimiter="\t"))
    assert meta.steps == 40 and not meta.diverged
    assert float(rows[0]["lr"]) == pytest.approx(1e-3)  # step 20: stable, at the peak
    assert float(rows[-1]["lr"]) < 1e-3 / 8  # step 40: the cooldown's last step
    assert json.loads(outputs.meta.read_text())["train_config"]["schedule"] == "wsd"


def test_a_wsd_cooldown_may_not_start_before_warmup_ends(tmp_path, data):
    with pytest.raises(ConfigurationError, match="train.cooldown_fraction: the cooldown"):
        run(tmp_path, data, "early", schedule="wsd", cooldown_fraction=0.9, warmup_steps=10)
    with pytest.raises(ConfigurationError, match="train.stop_at_convergence: the wsd"):
        run(tmp_path, data, "wsdstop", schedule="wsd", stop_at_convergence=True)


def test_a_linear_schedule_needs_a_step_budget_beyond_warmup(tmp_path, data):
    with pytest.raises(ConfigurationError, match="train.max_steps: the linear schedule"):
        run(tmp_path, data, "short", schedule="linear", max_steps=10, warmup_steps=10)


def test_same_seed_same_numbers_and_the_loss_falls(tmp_path, data):
    meta_a, out_a = run(tmp_path, data, "a")
    meta_b, out_b = run(tmp_path, data, "b")
    curves = without_seconds(out_a.curves)
    assert curves == without_seconds(out_b.curves)
    weights_a = torch.load(out_a.checkpoint)["model"]
    weights_b = torch.load(out_b.checkpoint)["model"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    rows = list(csv.DictReader(out_a.curves.open(), delimiter="\t"))
    assert len(rows) == 2 and float(rows[1]["valid_loss"]) < float(rows[0]["valid_loss"])
    assert meta_a.steps == 40 and not meta_a.diverged
    assert meta_a.params_total > 0 and meta_a.tokens > 0
    recorded = json.loads(out_a.meta.read_text())
    assert recorded["model_config"]["variant"] == "qq@enc"
    assert recorded["train_config"]["job"]["compile"] is False  # "auto" on the CPU: what was done
    meta_c, out_c = run(tmp_path, data, "c", seed=2)
    assert without_seconds(out_c.curves) != curves


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_either_precision_is_deterministic_and_recorded(tmp_path, data, precision):
    """bf16 autocast on the CPU as in fp32: the same seed gives bit-identical weights; the two
    precisions give different ones (the setting is applied); meta.json says which was used."""
    meta_a, out_a = run(tmp_path, data, "a", precision=precision)
    meta_b, out_b = run(tmp_path, data, "b", precision=precision)
    weights_a = torch.load(out_a.checkpoint)["model"]
    weights_b = torch.load(out_b.checkpoint)["model"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert without_seconds(out_a.curves) == without_seconds(out_b.curves)
    assert json.loads(out_a.meta.read_text())["train_config"]["precision"] == precision
    other = {"fp32": "bf16", "bf16": "fp32"}[precision]
    _, out_c = run(tmp_path, data, "c", precision=other)
    weights_c = torch.load(out_c.checkpoint)["model"]
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)


def test_precision_auto_is_bf16_where_the_device_multiplies_bf16_natively(monkeypatch):
    cpu = torch.device("cpu")
    assert training_precision("auto", torch.device("cuda")) == "bf16"
    assert training_precision("fp32", torch.device("cuda")) == "fp32"
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)
    assert training_precision("auto", cpu) == "fp32"
    assert training_precision("bf16", cpu) == "bf16"  # asked for: emulated, but done
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    assert training_precision("auto", cpu) == "bf16"


def test_the_cpu_allocator_keeps_freed_memory_on_glibc():
    """Every CPU job asks glibc to reuse freed blocks (configure_kernels): the C library takes
    the setting where it is glibc, and nothing is asked of another."""
    assert runtime.keep_freed_memory() == (platform.libc_ver()[0] == "glibc")


@pytest.mark.parametrize(
    "setting, device, ladder, compiled",
    [
        ("auto", "cuda", 1.1, True),  # measured to pay: 1.89x eager at d512
        ("auto", "cuda", 0.0, False),  # a new shape nearly every step: 0.14x
        ("auto", "cpu", 1.1, False),
        (True, "cpu", 0.0, True),
        (False, "cuda", 1.1, False),
    ],
)
def test_compile_auto_compiles_where_it_was_measured_to_pay(setting, device, ladder, compiled):
    cfg = TrainConfig(job=JobConfig(compile=setting), bucket_ladder=ladder)
    assert compiles(cfg, torch.device(device)) is compiled


def test_dynamics_start_at_step_0_before_any_training(tmp_path, data):
    """The initial values are logged, so that what tying imposes is told apart from what
    training changes: qq@enc's encoder form is symmetric at step 0 already."""
    run(tmp_path, data, "dyn")
    rows = list(csv.DictReader((tmp_path / "dyn" / "dynamics.tsv").open(), delimiter="\t"))
    assert sorted({int(r["step"]) for r in rows}) == [0, 20, 40]
    at_start = [r for r in rows if r["step"] == "0"]
    assert {r["site"] for r in at_start} == {"enc", "dec", "cross"}
    assert all(float(r["symmetry"]) > 0.999 for r in at_start if r["site"] == "enc")
    assert all(float(r["symmetry"]) < 0.9 for r in at_start if r["site"] == "dec")


def test_a_run_of_qq_centred_starts_from_its_fit_and_repeats_exactly(tmp_path, data):
    """qq_centred's start is fitted on the run's first training pairs before step 0: its
    step-0 attention on oneself is near qk's, not qq's, and the same seed gives the same
    weights (the fit draws nothing from the run's random stream)."""
    _, out_a = run(tmp_path, data, "a", variant="qq_centred@enc")
    _, out_b = run(tmp_path, data, "b", variant="qq_centred@enc")
    weights_a, weights_b = (torch.load(out.checkpoint)["model"] for out in (out_a, out_b))
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    own = {}
    for variant in ("qk", "qq@enc"):
        run(tmp_path, data, variant, variant=variant, tensorboard=False)
    for name in ("a", "qk", "qq@enc"):
        rows = list(csv.DictReader((tmp_path / name / "dynamics.tsv").open(), delimiter="\t"))
        at_start = [float(r["diag_mass"]) for r in rows if r["step"] == "0" and r["site"] == "enc"]
        own[name] = sum(at_start) / len(at_start)
    assert abs(own["a"] - own["qk"]) < (own["qq@enc"] - own["qk"]) / 4, own


def test_a_diverging_run_is_recorded_not_raised(tmp_path, data):
    meta, outputs = run(tmp_path, data, "diverge", lr=1e30, warmup_steps=1, clip_norm=0)
    assert meta.diverged and meta.diverged_at <= 40
    assert json.loads(outputs.meta.read_text())["diverged_at"] == meta.diverged_at
    assert outputs.checkpoint.exists()


def test_a_budget_is_required(tmp_path, data):
    with pytest.raises(ConfigurationError, match="train.max_steps: is 0 and so is"):
        run(tmp_path, data, "nobudget", max_steps=0)


def test_pairs_longer_than_max_len_are_dropped_and_counted(tmp_path, data):
    meta, _ = run(tmp_path, data, "short", max_len=40)
    assert meta.dropped_long_pairs > 0 and meta.steps == 40


def test_nothing_within_max_len_is_a_clear_error_not_a_crash(tmp_path, data):
    with pytest.raises(ConfigurationError, match="train.max_len: no training pair"):
        run(tmp_path, data, "none", max_len=1)


def test_tensorboard_holds_the_numbers_of_curves_and_dynamics(tmp_path, data):
    """The event files beside curves.tsv, read back as TensorBoard reads them: every
    validation's numbers and each site's dynamics, at their steps; and none when switched off."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(tmp_path, data, "tb")
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = {
        tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]
    }
    curves = list(csv.DictReader((tmp_path / "tb" / "curves.tsv").open(), delimiter="\t"))
    for row in curves:
        step = int(row["step"])
        assert scalars["loss/valid"][step] == pytest.approx(float(row["valid_loss"]), rel=1e-6)
        assert scalars["bleu/valid_greedy"][step] == pytest.approx(float(row["valid_bleu"]))
        assert scalars["train/lr"][step] == pytest.approx(float(row["lr"]), rel=1e-6)
        assert scalars["loss/train"][step] == pytest.approx(float(row["train_loss"]), rel=1e-6)
        rate = float(row["tokens"]) / float(row["seconds"])
        assert scalars["train/tokens_per_second"][step] == pytest.approx(rate, rel=1e-3)
    dynamics = list(csv.DictReader((tmp_path / "tb" / "dynamics.tsv").open(), delimiter="\t"))
    enc_0 = [float(r["symmetry"]) for r in dynamics if r["site"] == "enc" and r["step"] == "0"]
    assert scalars["dynamics/enc/symmetry"][0] == pytest.approx(sum(enc_0) / len(enc_0), rel=1e-5)
    assert sorted(scalars["dynamics/dec/entropy"]) == [0, 20, 40]

    run(tmp_path, data, "off", tensorboard=False)
    assert not list((tmp_path / "off").glob("events.out.tfevents.*"))


def test_a_run_stops_where_the_report_calls_it_converged(tmp_path, data):
    """stop_at_convergence ends a run at the first validation where the report's rule holds:
    a run that no longer learns (a learning rate of ~0) stops at step 10, the first validation
    with an earlier one to compare with; one still learning runs to its cap."""
    flat, out = run(tmp_path, data, "flat", lr=1e-9, eval_every=5, stop_at_convergence=True)
    assert (flat.steps, flat.converged_at, stopped_by(flat)) == (10, 10, "converged")
    assert convergence(read_tsv(out.curves))["converged"]
    learning, out = run(tmp_path, data, "learning", eval_every=5, stop_at_convergence=True)
    assert (learning.steps, learning.converged_at, stopped_by(learning)) == (
        40,
        None,
        "steps",
    )
    assert not convergence(read_tsv(out.curves))["converged"]


def test_stopping_at_convergence_refuses_a_schedule_that_ends_at_the_budget(tmp_path, data):
    with pytest.raises(ConfigurationError, match="train.stop_at_convergence: the linear"):
        run(tmp_path, data, "linear", schedule="linear", stop_at_convergence=True)
