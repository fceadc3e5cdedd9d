"""Data-parallel training: two processes (gloo, on the CPU) follow one process that sees the
same global batches, within float-summation tolerance, in each model family."""

import dataclasses

import pytest

from attnablate.io import read_tsv
from attnablate.model.config import ModelConfig
from attnablate.train.config import JobConfig, TrainConfig
from attnablate.train.distributed import launch
from attnablate.train.files import RunFiles
from attnablate.train.loop import Run, train

# dropout 0: with dropout the ranks draw their own masks, and the runs may differ legitimately
MODEL = ModelConfig(
    vocab_size=200,
    d_model=32,
    n_heads=2,
    enc_layers=1,
    dec_layers=1,
    d_ff=64,
    dropout=0.0,
    variant="qq@all",
)
TRAIN = TrainConfig(
    max_steps=60,
    batch_tokens=500,
    warmup_steps=10,
    eval_every=20,
    valid_bleu_sentences=10,
    job=JobConfig(log_every=20),
    device="cpu",
    # fp32: within float-summation tolerance needs fp32 sums; in bf16 a rank's half batch
    # rounds its products differently from the whole batch's
    precision="fp32",
)


DECODER_ONLY = dataclasses.replace(
    MODEL, architecture="decoder_only", enc_layers=0, dec_layers=2, variant="qq@self"
)
# its masks drawn per sentence: the same whichever rank's shard a sentence lands in
ENCODER_ONLY = dataclasses.replace(
    DECODER_ONLY, architecture="encoder_only", enc_layers=2, dec_layers=0
)


def run(folder, data, processes, model):
    files = RunFiles(folder)
    launch(processes, train, Run(model, TRAIN, 3, {}), data, files, backend="gloo")
    return read_tsv(files.curves)


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [MODEL, DECODER_ONLY, ENCODER_ONLY],
    ids=["encoder_decoder", "decoder_only", "encoder_only"],
)
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, data, model):
    one = run(tmp_path / "one", data, 1, model)
    two = run(tmp_path / "two", data, 2, model)
    assert [row["step"] for row in two] == [row["step"] for row in one] == ["20", "40", "60"]
    assert [row["tokens"] for row in two] == [row["tokens"] for row in one]  # same batches
    for a, b in zip(one, two):
        for column in ("train_loss", "valid_loss", "grad_norm"):
            assert float(b[column]) == pytest.approx(float(a[column]), rel=1e-4), column
