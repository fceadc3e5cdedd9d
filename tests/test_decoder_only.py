"""The decoder-only family at tiny dimensions: one stack over source ⟨EOS⟩ target, the source
part bidirectional or causal, the target causal; the same forward as the encoder-decoder's,
so that training is shared; parameter counts from the config as from the built model."""

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from attnablate.errors import ConfigurationError
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.model.transformer import DecoderOnlyTransformer, Transformer, build
from attnablate.train.config import TrainConfig
from attnablate.train.step import train_step

V, D = 23, 16
BASE = ModelConfig(
    vocab_size=V,
    d_model=D,
    n_heads=2,
    enc_layers=0,
    dec_layers=2,
    d_ff=32,
    dropout=0.0,
    architecture="decoder_only",
)
VARIANTS = [
    "qk",
    "qq",
    "qq_selfmask",
    "qq_centred",
    "qk_symstart",
    "qdq",
    "kv",
    "nov",
    "noo",
    "rq",
    "mqa",
    "qq+noo@self",
]


def model(variant="qk", seed=0, **kw):
    torch.manual_seed(seed)
    return DecoderOnlyTransformer(dataclasses.replace(BASE, variant=variant, **kw)).eval()


def batch(seed=0):
    """Sources ending in EOS (2) and targets starting with BOS (1), right-padded (0)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V, (3, 6), generator=g)
    tgt = torch.randint(4, V, (3, 5), generator=g)
    src[:, -1] = 2
    src[1, 3], src[1, 4:] = 2, 0
    tgt[:, 0] = 1
    tgt[2, 3:] = 0
    return src, tgt


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameters_counted_from_the_config_are_the_built_models(variant):
    cfg = dataclasses.replace(BASE, variant=variant)
    built = DecoderOnlyTransformer(cfg)
    for which in ("total", "non_embedding"):
        assert count_params(cfg, which) == count_params(built, which), which


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_training_step_reaches_every_parameter(variant):
    m = model(variant).train()
    src, tgt = batch()
    out = torch.roll(tgt, -1, dims=1)
    optimizer = torch.optim.Adam(m.parameters())
    cpu = torch.device("cpu")
    loss, _ = train_step(m, optimizer, (src, tgt, out), 10.0, 1.0, TrainConfig(), 1, cpu)
    assert torch.isfinite(loss)
    frozen = {"rq", "mqa"}  # rq's W_Q is fixed by design; mqa trains all it has
    for name, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and (p.grad.abs().sum() > 0 or variant in frozen), name


def test_a_target_position_sees_the_source_and_its_own_past_only():
    m = model()
    src, tgt = batch()
    logits = m(src, tgt)  # (B, T, V)
    assert logits.shape == (3, 5, V)
    later = tgt.clone()
    later[0, 3] = 7 if later[0, 3] != 7 else 8
    changed = m(src, later)
    assert_close(changed[0, :3], logits[0, :3])  # before the changed token: as before
    assert not torch.allclose(changed[0, 3:], logits[0, 3:])
    source = src.clone()
    source[0, 4] = 9 if source[0, 4] != 9 else 10
    assert not torch.allclose(m(source, tgt)[0, 0], logits[0, 0])  # every target sees it


@pytest.mark.parametrize("prefix, sees_ahead", [("bidirectional", True), ("causal", False)])
def test_the_source_attends_to_all_of_itself_or_causally(prefix, sees_ahead):
    m = model(prefix=prefix)
    src, tgt = batch()
    weights: list = []
    m(src, tgt, weights)
    first = weights[0][0]  # layer 0, sentence 0: (H, L, L); its source is 6 tokens
    ahead = first[:, 0, 1:6].sum()  # the first source token's attention on later source tokens
    assert (ahead > 0) == sees_ahead
    assert first[:, 6, 7:].sum() == 0  # a target position never sees a later one


def test_padding_never_changes_a_sentence():
    """A sentence alone and in a batch with longer ones gives the same logits: each row is
    packed, so its positions do not depend on the batch's widths."""
    m = model("qq")
    src, tgt = batch()
    alone = m(src[1:2, :4], tgt[1:2, :5])
    together = m(src, tgt)[1:2]
    assert_close(alone, together)


def test_each_family_builds_its_own_model_and_refuses_the_other_ones_settings():
    assert isinstance(build(BASE), DecoderOnlyTransformer)
    assert isinstance(
        build(dataclasses.replace(BASE, architecture="encoder_decoder", enc_layers=1)), Transformer
    )
    with pytest.raises(ConfigurationError, match="architecture"):
        Transformer(BASE)
    with pytest.raises(ConfigurationError, match="enc_layers: a decoder_only model has no encoder"):
        dataclasses.replace(BASE, enc_layers=2).validate()
    with pytest.raises(ConfigurationError, match="a site of the encoder_decoder model 'enc'"):
        dataclasses.replace(BASE, variant="qq@enc").validate()
    with pytest.raises(ConfigurationError, match="prefix"):
        dataclasses.replace(BASE, prefix="sideways").validate()
