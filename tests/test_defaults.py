"""Defaults have one home, the config schema: where a dataclass of the library repeats one
(for direct use in the tests and the benchmark), the two must agree."""

import dataclasses

import pytest
import yaml
from conftest import ROOT

from attnablate.model.config import ModelConfig
from attnablate.model.search import DecodeConfig
from attnablate.train.config import JobConfig, TrainConfig

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
SECTIONS = [
    ("train", TrainConfig, {"device"}),  # device: a top-level key of the config
    ("train.job", JobConfig, set()),  # a block of train: how the job runs
    ("decode", DecodeConfig, {"use_cache", "cuda_graph", "share_source"}),  # benchmark references
    (
        "model",
        ModelConfig,
        {
            "vocab_size",
            "d_model",
            "n_heads",
            "enc_layers",
            "dec_layers",
            "d_ff",
            "pad_id",
            "variant",
        },
    ),  # per size, per run, fixed
]

# keys of a section that describe the experiment, not one run (a ladder's budgets: each is one
# run's max_steps)
EXPERIMENT_ONLY = {"train": ("budgets",)}


@pytest.mark.parametrize(("section", "cls", "elsewhere"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_every_dataclass_default_is_the_schema_default(section, cls, elsewhere):
    schema = SCHEMA
    for key in section.split("."):
        schema = schema["properties"][key]
    properties = dict(schema["properties"])
    for key in EXPERIMENT_ONLY.get(section, ()):
        del properties[key]
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert set(fields) - elsewhere == set(properties), section
    for name, default in fields.items():
        if properties.get(name, {}).get("type") == "object":  # a block: its own section
            continue
        if name not in elsewhere:
            assert properties[name]["default"] == default, f"{section}.{name}"


def test_the_device_default_agrees_too():
    assert SCHEMA["properties"]["device"]["default"] == TrainConfig().device
