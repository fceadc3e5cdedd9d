"""The dry run's validation under mutated configs (Hypothesis): the default and smoke configs
(and the decoder-only config, whose claim compares with reports/default) with a key removed, a
value of another type or range (whole numbers written as floats among them), an odd string or
report folder, an extra key or a duplicated entry. Every mutation ends in a plan or in an error
that names a key (the schema's, or a ConfigurationError); never in another exception."""

import copy

import pytest
import yaml
from conftest import ROOT, dry_check, smoke_experiment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake.exceptions import WorkflowError

from attnablate.config.experiment import Experiment
from attnablate.errors import ConfigurationError

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BASES = {
    "default": yaml.safe_load((ROOT / "config.yaml").read_text()),
    "smoke": smoke_experiment(),
    "decoder-only": yaml.safe_load((ROOT / "configs" / "decoder-only.yaml").read_text()),
}
ODD = ["", " ", "..", ".", "<script>alert(1)</script>", "a|b\nc", "qq@nowhere", "💥", "0" * 300]
# report folders a claim's reference may name: outside reports/, missing, itself, a sibling
FOLDERS = ["/tmp", "reports/../reports/default", "reports/nowhere", "reports/decoder-only"]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-3, max_value=10**4).map(float),  # 40.0 where 40 is meant
    st.sampled_from(ODD),
    st.sampled_from(FOLDERS),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.just({}),
    st.just({"unknown_key": 1}),
)


def paths(value, prefix=()):
    """Every (path, value) in a nested config: dict keys and list indices."""
    yield prefix, value
    if isinstance(value, (dict, list)):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from paths(item, (*prefix, key))


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(BASES)))
    config = copy.deepcopy(BASES[name])
    where = draw(st.sampled_from([p for p, _ in paths(config) if p]))
    *parents, last = where
    holder = config
    for key in parents:
        holder = holder[key]
    action = draw(st.sampled_from(["replace", "remove", "extra", "duplicate"]))
    if action == "replace":
        holder[last] = draw(VALUES)
    elif action == "remove":
        del holder[last]
    elif action == "extra" and isinstance(holder, dict):
        holder[draw(st.sampled_from(["extra", "lr ", "Train", "..", "seeds"]))] = draw(VALUES)
    elif isinstance(holder, list):
        holder.append(holder[last])  # an entry twice
    return name, where, action, config


def dry_run_validation(config: dict) -> None:
    """What workflow/rules/common.smk does with a config before it plans: its checks, and the
    runs it would plan."""
    Experiment.of(dry_check(config)).runs()


@settings(
    max_examples=180,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_every_mutated_config_is_planned_or_refused_with_its_key(case):
    name, where, action, config = case
    try:
        dry_run_validation(config)
    except ConfigurationError as error:
        assert error.key, f"{name} {action} {where}: no key in {error}"
    except WorkflowError as error:
        assert "ValidationError" in str(error) or "validating" in str(error), str(error)
    except Exception as error:  # noqa: BLE001  (the point: no other exception)
        pytest.fail(f"{name}: {action} at {where} raised {type(error).__name__}: {error}")


def test_the_bases_are_valid_as_given():
    for config in BASES.values():
        dry_run_validation(copy.deepcopy(config))
