"""The decoder-only family at tiny dimensions: one stack over source ⟨EOS⟩ target, the source
part bidirectional or causal, the target causal; the same forward as the encoder-decoder's,
so that training is shared; parameter counts from the config as from the built model; beam
search over a prefix cache; batches by joint length; dynamics of the prefix and the target."""

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from attnablate.data.batches import TokenBatches
from attnablate.errors import ConfigurationError
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.model.search import DecodeConfig, PrefixStep, beam_search, stepper_for
from attnablate.model.transformer import DecoderOnlyTransformer, Transformer, build
from attnablate.train.config import TrainConfig
from attnablate.train.dynamics import attention_maps, diagnose
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


@pytest.mark.parametrize("prefix", ["bidirectional", "causal"])
@pytest.mark.parametrize("variant", ["qk", "qq", "qq_centred", "qq_selfmask", "mqa", "noo"])
def test_decoding_step_by_step_on_the_prefix_cache_gives_the_forward_logits(variant, prefix):
    """The cache's path (the source once, then one target token a step, each row at its own
    positions) is the training path: masks, positions and self scores included."""
    m = model(variant, prefix=prefix)
    src, tgt = batch()
    cache = m.prefill(src)
    steps = [m.decode(tgt[:, t : t + 1], cache) for t in range(tgt.size(1))]
    real = tgt.ne(0)  # a padded target position's logits are never read
    assert_close(torch.cat(steps, dim=1)[real], m(src, tgt)[real], atol=1e-5, rtol=1e-5)


def test_beam_search_on_the_cache_finds_what_recomputing_every_prefix_finds():
    m = model("qq")
    src, _ = batch(seed=3)
    assert stepper_for(m, src.device, DecodeConfig()) is PrefixStep
    cached = beam_search(m, src, DecodeConfig(beam_size=3, max_len_b=6))
    recomputed = beam_search(m, src, DecodeConfig(beam_size=3, max_len_b=6, use_cache=False))
    assert cached == recomputed
    assert len(cached) == 3 and all(len(h) <= 1.5 * 6 + 6 for h in cached)


def test_a_reordered_cache_follows_its_rows():
    """Beam search keeps rows by index: the cache's keys, padding and positions follow."""
    m = model()
    src, tgt = batch()
    order = torch.tensor([2, 0, 0])
    cache = m.prefill(src)
    m.decode(tgt[:, :2], cache)
    cache.reorder(order)
    step = m.decode(tgt[order, 2:3], cache)
    assert_close(step, m(src[order], tgt[order, :3])[:, 2:3], atol=1e-5, rtol=1e-5)


def test_analysis_weights_are_those_of_the_training_path():
    m = model("qq_centred")
    src, tgt = batch()
    weights: list = []
    assert_close(m(src, tgt, weights), m(src, tgt))  # the reference path, the same logits
    by_site = m.attention_weights(src, tgt)
    assert list(by_site) == [("self", 0), ("self", 1)]
    L = src.size(1) + tgt.size(1)
    assert by_site["self", 0].shape == (3, 2, L, L)


def test_dynamics_report_the_prefix_and_the_target_with_one_form():
    m = model("qq")
    src, tgt = batch()
    rows = diagnose(m, src, tgt, step=0)
    assert len(rows) == 2 * 2 * 2  # parts × layers × heads
    by = {(r["site"], r["layer"], r["head"]): r for r in rows}
    for layer in range(2):
        for head in range(2):
            prefix, target = by["prefix", layer, head], by["target", layer, head]
            assert prefix["symmetry"] == target["symmetry"] == pytest.approx(1.0)
    # a token's attention on itself: each part's own queries (sentence 0: 6 source tokens)
    w = m.attention_weights(src, tgt)["self", 0][0]  # (H, L, L)
    src_len = [6, 4, 6]
    assert by["prefix", 0, 0]["diag_mass"] != by["target", 0, 0]["diag_mass"]
    mean_prefix = sum(
        m.attention_weights(src, tgt)["self", 0][b, 0].diagonal()[: src_len[b]].sum()
        for b in range(3)
    ) / sum(src_len)
    assert by["prefix", 0, 0]["diag_mass"] == pytest.approx(mean_prefix.item(), rel=1e-5)
    assert w.shape[-1] == 11


def test_the_attention_maps_are_the_blocks_of_the_packed_row():
    m = model()
    src_ids, tgt_ids = torch.tensor([5, 6, 7]).numpy(), torch.tensor([8, 9]).numpy()
    maps = attention_maps(m, src_ids, tgt_ids)
    assert set(maps) == {"prefix", "target", "target_prefix"}
    assert maps["prefix"].shape == (4, 4)  # 3 tokens and EOS
    assert maps["target"].shape == (3, 3) and maps["target_prefix"].shape == (3, 4)
    rows = maps["target"].sum(1) + maps["target_prefix"].sum(1)
    assert_close(torch.tensor(rows), torch.ones(3))  # each target query's weights: all its keys


def test_decoder_only_batches_are_filled_by_the_joint_length():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 30, (2, 300), generator=g).tolist()
    src = [list(range(4, 4 + n)) for n in lengths[0]]
    tgt = [list(range(4, 4 + n)) for n in lengths[1]]
    joint = TokenBatches(src, tgt, batch_tokens=240, seed=1, joint=True)
    sides = TokenBatches(src, tgt, batch_tokens=240, seed=1)
    for indices in joint.epoch(0):
        rows = [len(src[i]) + len(tgt[i]) + 2 for i in indices]  # + EOS and BOS
        assert max(rows) * len(indices) <= 240 or len(indices) == 1
    assert len(joint.epoch(0)) > len(sides.epoch(0))  # a packed row costs both sides
