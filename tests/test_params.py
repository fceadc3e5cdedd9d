"""Parameter matching: every variant at every size preset reaches qk's count within 0.5%."""

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from conftest import smoke_experiment
from test_model import EVERY_VARIANT

from attnablate.config import experiment
from attnablate.config.experiment import Experiment, write_model_table
from attnablate.data.tokenizer import vocabulary_size
from attnablate.errors import ConfigurationError
from attnablate.io import read_tsv
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params, match_params, matched_config
from attnablate.model.transformer import Transformer

ROOT = Path(__file__).resolve().parents[1]
# the model tests' variants, and sites they leave out
VARIANTS = ["qq@enc", "qq@cross", "qdq@enc,dec", *EVERY_VARIANT]


def presets():
    """Every size preset of every config the project ships."""
    return list(_presets())


def _presets():
    for path in [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]:
        config = yaml.safe_load(path.read_text())
        for name, size in config["sizes"].items():
            dims = {k: v for k, v in size.items() if k not in experiment.SIZE_TRAINING_KEYS}
            model = ModelConfig(vocab_size=8000, **dims, **config.get("model", {}))
            yield pytest.param(model, id=f"{path.stem}-{name}")


@pytest.mark.parametrize("size", presets())
@pytest.mark.parametrize("which", ["total", "non_embedding"])
def test_match_params_reaches_half_a_percent_for_every_variant(size, which):
    target = count_params(size, which)
    one_site = size.architecture != "encoder_decoder"  # site self: every spec's @all form
    for variant in dict.fromkeys(v.split("@")[0] + "@all" if one_site else v for v in VARIANTS):
        d_ff = match_params(variant, size, which)
        # a variant that saves parameters widens d_ff; one that saves none at this size (gqa2
        # with two heads is multi-head attention) keeps it
        saves = count_params(dataclasses.replace(size, variant=variant), which) < target
        assert d_ff > size.d_ff if saves else d_ff == size.d_ff, variant
        matched = count_params(dataclasses.replace(size, variant=variant, d_ff=d_ff), which)
        assert abs(matched - target) / target <= 0.005, variant


def test_unmatched_variant_has_fewer_parameters_and_matched_the_same():
    size = ModelConfig(vocab_size=1000, d_model=64, n_heads=4, d_ff=256)
    assert count_params(dataclasses.replace(size, variant="qq@all")) < count_params(size)
    matched = matched_config("qq@all", size)
    assert matched.variant == "qq@all" and matched.d_model == 64
    assert abs(count_params(matched) - count_params(size)) / count_params(size) <= 0.005


def test_an_unknown_count_is_a_configuration_error():
    size = ModelConfig(vocab_size=1000, d_model=64, n_heads=4, d_ff=256)
    with pytest.raises(ConfigurationError, match="unknown count 'all'"):
        match_params("qq@all", size, which="all")


def test_the_model_table_counts_with_the_tokenizers_real_vocabulary(tmp_path, data):
    """sentencepiece may give fewer pieces than asked for; training builds its model with
    the real count, and so must models.tsv."""
    config = smoke_experiment()
    config["tokenizer"]["vocab_size"] = 8000  # far more than the test corpus supports
    real = vocabulary_size(data.spm)
    assert real < 8000
    planned = Experiment.of(config)
    write_model_table(planned, vocabulary_size(data.spm), tmp_path / "models.tsv")
    rows = read_tsv(tmp_path / "models.tsv")
    for row in rows:
        cfg = planned.model_config(row["variant"], row["size"], row["match"], real)
        assert int(row["params_total"]) == count_params(cfg)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bias", [True, False])
def test_the_count_from_a_config_is_the_built_models(variant, bias):
    """params counts a config without PyTorch (the workflow does at every start); the model
    built on the meta device must hold exactly that many parameters, tied ones once."""
    cfg = ModelConfig(
        vocab_size=1000,
        d_model=64,
        n_heads=8,
        enc_layers=2,
        dec_layers=3,
        d_ff=96,
        bias=bias,
        variant=variant,
    )
    with torch.device("meta"):
        built = Transformer(cfg, init=False)
    for which in ("total", "non_embedding"):
        assert count_params(cfg, which) == count_params(built, which), which
