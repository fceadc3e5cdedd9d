"""The Transformer and its attention variants, at tiny dimensions with fixed seeds."""

import dataclasses
import re

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from attnablate.errors import ConfigurationError
from attnablate.model.attention import Attention
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.model.transformer import Transformer
from attnablate.model.variants import SITES, VARIANTS, AttentionSpec, build_spec, parse_sites
from attnablate.train.checkpoint import load_checkpoint, save_checkpoint

D, H, V = 16, 4, 50
BASE = ModelConfig(
    vocab_size=V, d_model=D, n_heads=H, enc_layers=2, dec_layers=2, d_ff=32, dropout=0.0
)
EVERY_VARIANT = [
    "qk",
    "qq@all",
    "qq_selfmask@enc,dec",
    "qq_centred@enc,dec",
    "qk_symstart@all",
    "qdq@all",
    "iq@all",
    "kv@all",
    "nov@all",
    "noo@all",
    "rq@all",
    "rv@all",
    "ro@all",
    "mqa@all",
    "gqa2@all",
    "qq+noo@all",
    "qq@enc;nov@dec;kv@cross",
]  # every registered variant at least once (a test below checks), and a composition


def test_every_registered_variant_is_in_the_model_tests():
    """A variant added to the registry is built, masked and decoded by the tests here (and
    counted by the parameter tests, which take this list)."""
    named = {name for spec in EVERY_VARIANT for name in re.split(r"[;+]|@[^;]*", spec) if name}
    assert set(VARIANTS) | {"gqa2"} == named


SITES_PER_MODEL = BASE.enc_layers + 2 * BASE.dec_layers  # enc self, dec self, cross per layer
LINEAR = D * D + D  # one d_model x d_model projection with its bias


def model(variant="qk", seed=0, **kw):
    torch.manual_seed(seed)
    return Transformer(dataclasses.replace(BASE, variant=variant, **kw)).eval()


def batch(seed=0, B=3, S=7, T=6):
    """Source and target ids with right padding of different lengths (pad id 0)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, V, (B, S), generator=g)
    tgt = torch.randint(1, V, (B, T), generator=g)
    src[1, 5:] = 0
    src[2, 3:] = 0
    tgt[2, 4:] = 0
    return src, tgt


def attention_weights(attn: Attention, x, **kw) -> torch.Tensor:
    """The weights (B, H, T, S) one attention call computes on the reference path."""
    kept: list = []
    attn(x, weights=kept, **kw)
    return kept[0]


def attention(spec: AttentionSpec, seed=0):
    torch.manual_seed(seed)
    return Attention(D, H, spec, dropout=0.0, bias=True).eval()


# --- the baseline against PyTorch's reference -------------------------------------------------


def load_into_mha(attn: Attention) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(D, H, bias=True, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(
            torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
        )
        mha.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        mha.out_proj.weight.copy_(attn.out_proj.weight)
        mha.out_proj.bias.copy_(attn.out_proj.bias)
    return mha


def test_qk_equals_multihead_attention_with_causal_mask():
    attn = attention(build_spec("qk"))
    mha = load_into_mha(attn)
    x = torch.randn(2, 5, D)
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)  # True = may not attend
    expected, _ = mha(x, x, x, attn_mask=causal, need_weights=False)
    assert_close(attn(x, causal=True), expected)


def test_qk_equals_multihead_attention_with_key_padding_mask():
    attn = attention(build_spec("qk"))
    mha = load_into_mha(attn)
    x, memory = torch.randn(2, 5, D), torch.randn(2, 7, D)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    expected, _ = mha(x, memory, memory, key_padding_mask=pad, need_weights=False)
    assert_close(attn(x, memory, key_padding_mask=pad), expected)
    expected_self, _ = mha(memory, memory, memory, key_padding_mask=pad, need_weights=False)
    assert_close(attn(memory, key_padding_mask=pad), expected_self)


REGISTERED = [
    "qk",
    "qq",
    "qq_selfmask",
    "qdq",
    "iq",
    "kv",
    "nov",
    "noo",
    "rq",
    "rv",
    "ro",
    "mqa",
    "gqa2",
]


@pytest.mark.parametrize("combo", REGISTERED)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_reference_path_equals_sdpa_path_for_every_spec(combo, causal, padded):
    """The analysis path (a ``weights`` list) sees what training computes: no mask dropped, in
    particular the plain causal one that SDPA takes as a flag."""
    x = torch.randn(2, 6, D)
    pad = None
    if padded:
        pad = torch.zeros(2, 6, dtype=torch.bool)
        pad[0, 4:] = True
    attn = attention(build_spec(combo))
    fast = attn(x, causal=causal, key_padding_mask=pad)
    kept: list = []
    y = attn(x, causal=causal, key_padding_mask=pad, weights=kept)
    (weights,) = kept
    assert_close(y, fast)  # weights: (B, H, T, S)
    assert weights.shape == (2, H, 6, 6)
    if causal:
        assert (weights.triu(1) == 0).all()  # nothing above the diagonal: no look ahead


@pytest.mark.parametrize("variant", EVERY_VARIANT)
@pytest.mark.parametrize("padded", [False, True])
def test_the_model_on_the_analysis_path_equals_the_training_path(variant, padded):
    """Every site at once (enc, dec, cross), as the diagnostics and attention maps run it."""
    m = model(variant)
    src, tgt = batch()
    if not padded:
        src, tgt = src.clamp(min=1), tgt.clamp(min=1)
    fast = m(src, tgt)
    weights = []
    memory, src_pad = m.encode(src, weights)
    assert_close(m.decode(tgt, memory, src_pad, weights=weights), fast)
    by_site = m.attention_weights(src, tgt)
    assert len(weights) == len(by_site) == len(list(m.attention_modules()))
    for (site, _), w in by_site.items():
        if site == "dec":
            assert (w.triu(1) == 0).all()


# --- each variant's structure and what it saves -------------------------------------------------


def test_qq_ties_key_to_query_and_scores_are_symmetric():
    attn = attention(build_spec("qq"))
    assert attn.k_proj is attn.q_proj
    scores = attn.scores(torch.randn(2, 6, D))  # (B, H, T, T)
    assert torch.equal(scores, scores.transpose(-2, -1))  # exactly, not approximately
    assert (scores.diagonal(dim1=-2, dim2=-1) >= 0).all()  # x W Wᵀ x is positive semi-definite


def test_qk_scores_are_not_symmetric():
    scores = attention(build_spec("qk")).scores(torch.randn(2, 6, D))
    assert not torch.allclose(scores, scores.transpose(-2, -1))


def test_qq_in_cross_attention_is_one_symmetric_bilinear_form():
    """x_dec W Wᵀ x_enc: swapping decoder and encoder inputs transposes the score matrix."""
    attn = attention(build_spec("qq"))
    dec, enc = torch.randn(2, 4, D), torch.randn(2, 7, D)
    scores = attn.scores(dec, enc)  # (B, H, 4, 7): not square
    assert scores.shape == (2, H, 4, 7)
    assert_close(scores, attn.scores(enc, dec).transpose(-2, -1))


@pytest.mark.parametrize(
    "variant, saved_per_site",
    [
        ("qq", LINEAR),
        ("qq_selfmask", LINEAR),
        ("qq_centred", LINEAR - H),  # one learned score per head on attention to oneself
        ("qk_symstart", 0),  # W_K only starts as a copy of W_Q
        ("qdq", LINEAR - D),  # the diagonal D adds d_model parameters back
        ("iq", LINEAR),
        ("kv", LINEAR),
        ("nov", LINEAR),
        ("noo", LINEAR),
        ("rq", LINEAR),
        ("rv", LINEAR),
        ("ro", LINEAR),
        ("mqa", 2 * (LINEAR - (D * D // H + D // H))),  # K and V shrink to one head each
        ("gqa2", 2 * (LINEAR - 2 * (D * D // H + D // H))),  # ... to two heads each
        ("qq+noo", 2 * LINEAR),
    ],
)
def test_exact_parameter_saving_per_site(variant, saved_per_site):
    sites = "enc,dec" if variant in ("qq_selfmask", "qq_centred") else "all"
    n_sites = BASE.enc_layers + BASE.dec_layers if sites == "enc,dec" else SITES_PER_MODEL
    saved = count_params(model("qk")) - count_params(model(f"{variant}@{sites}"))
    assert saved == saved_per_site * n_sites


def test_qk_count_is_the_textbook_formula():
    """Nothing counted twice or left out: embedding + attention + MLP + layer norms."""
    mlp = D * BASE.d_ff + BASE.d_ff + BASE.d_ff * D + D
    ln = 2 * D
    enc_layer = 4 * LINEAR + mlp + 2 * ln
    dec_layer = 8 * LINEAR + mlp + 3 * ln
    expected = V * D + BASE.enc_layers * enc_layer + BASE.dec_layers * dec_layer + 2 * ln
    assert count_params(model("qk")) == expected
    assert count_params(model("qk"), "non_embedding") == expected - V * D
    assert count_params(BASE) == expected  # counted on the meta device from the config alone


def test_qq_selfmask_keys_have_unit_norm_and_no_self_attention():
    spec = build_spec("qq_selfmask")
    attn = attention(spec)
    x = torch.randn(2, 6, D)
    _, k, _ = attn.project(x, x)
    assert_close(k.norm(dim=-1), torch.ones(2, H, 6))
    weights = attention_weights(attn, x, causal=True)
    diagonal = weights.diagonal(dim1=-2, dim2=-1)  # (B, H, T)
    assert_close(diagonal[..., 0], torch.ones(2, H))  # position 0 has no other target
    assert (diagonal[..., 1:] < 1e-6).all()
    weights = attention_weights(attn, x)  # encoder: every position has other targets
    assert (weights.diagonal(dim1=-2, dim2=-1) < 1e-6).all()


def test_qq_selfmask_scales_like_reformers_own_code():
    """Reformer's code (trax, and the Hugging Face port) divides the unit-length keys by √hd
    as well: score = q · (q'/|q'|) / √hd. Pinned here, since the paper's text mentions only
    the unit length."""
    attn = attention(build_spec("qq_selfmask"))
    x = torch.randn(2, 6, D)
    q = attn.q_proj(x).view(2, 6, H, D // H).transpose(1, 2)  # (B, H, T, hd)
    expected = q @ (q / q.norm(dim=-1, keepdim=True)).transpose(-2, -1) / (D // H) ** 0.5
    assert_close(attn.scores(x), expected)


def test_qk_symstart_starts_at_qq_and_then_trains_w_k_on_its_own():
    """The start of qq without its constraint: W_K is a copy of W_Q, two parameters."""
    net = model("qk_symstart@enc").train()
    attn = net.encoder[0].attn
    assert attn.k_proj is not attn.q_proj
    assert_close(attn.k_proj.weight, attn.q_proj.weight)
    x = torch.randn(2, 5, D)
    assert_close(attn.scores(x), attn.scores(x).mT)  # symmetric at the start only
    src, tgt = batch()
    optimiser = torch.optim.SGD(net.parameters(), lr=0.1)
    net(src, tgt).logsumexp(-1).mean().backward()
    optimiser.step()
    assert not torch.allclose(attn.k_proj.weight, attn.q_proj.weight)
    assert not torch.allclose(attn.scores(x), attn.scores(x).mT)
    assert count_params(net) == count_params(model("qk"))


def zipf_batch(seed: int, sentences=16, length=24, vocab=1000) -> torch.Tensor:
    """Token ids drawn as a language's are, a few frequent and many rare (Zipf): inputs that
    share directions, as real ones do, unlike uniform draws."""
    ranks = torch.arange(1, vocab - 3, dtype=torch.float)
    g = torch.Generator().manual_seed(seed)
    return 4 + torch.multinomial(1 / ranks, sentences * length, True, generator=g).view(
        sentences, length
    )


def test_qq_centred_starts_where_qk_starts():
    """Tied keys put ‖q‖²/√hd on the diagonal at step 0 (half the attention of a token on
    itself at d_model 128, 4 heads) and spread their scores wider (a lower entropy). Fitted
    on one batch (calibrate), qq_centred's attention on oneself and entropy at step 0, on
    another and averaged over seeds, lie within the spread of qk's over seeds; the form stays
    symmetric, and the fit draws nothing from the run's random stream."""
    from attnablate.model.calibrate import calibrate
    from attnablate.train.dynamics import attention_statistics

    cfg = dict(d_model=128, n_heads=4, d_ff=256, vocab_size=1000)
    fit_on, probe = zipf_batch(0), zipf_batch(1)

    def start(variant: str, seed: int) -> tuple[float, float]:
        net = model(variant, seed=seed, **cfg)
        if variant == "qq_centred@enc":
            state = torch.get_rng_state()
            calibrate(net, fit_on, fit_on, seed=seed)
            assert torch.equal(torch.get_rng_state(), state)
        stats = attention_statistics(net, probe, probe)
        own, entropy = (torch.stack([stats["enc", i][j] for i in range(2)]) for j in (0, 1))
        return own.mean().item(), entropy.mean().item()

    qk = [start("qk", seed) for seed in range(1, 6)]
    centred = [start("qq_centred@enc", seed) for seed in (1, 2)]
    for stat in (0, 1):  # attention on oneself, entropy: the mean over seeds
        mean = sum(c[stat] for c in centred) / len(centred)
        assert min(q[stat] for q in qk) <= mean <= max(q[stat] for q in qk), (centred, qk)
    own, entropy = start("qq@enc", 1)
    assert own > 0.4 and entropy < min(e for _, e in qk) - 0.5  # what the start corrects
    attn = model("qq_centred@enc", seed=1, **cfg).encoder[0].attn
    x = torch.randn(2, 6, 128)
    assert_close(attn.scores(x), attn.scores(x).mT)  # the form stays symmetric


def test_qdq_is_symmetric_learnable_and_can_be_indefinite():
    attn = attention(build_spec("qdq"))
    assert attn.k_proj is attn.q_proj
    x = torch.randn(2, 6, D)
    scores = attn.scores(x)
    assert_close(scores, scores.transpose(-2, -1))
    assert attn.key_scale.weight.requires_grad
    attn.scores(x).sum().backward()
    assert attn.key_scale.weight.grad.abs().sum() > 0
    with torch.no_grad():  # a D with both signs makes Q D Qᵀ indefinite
        attn.key_scale.weight.copy_(torch.tensor([1.0, -1.0] * (D // 2)))
    self_scores = attn.scores(torch.randn(4, 32, D)).diagonal(dim1=-2, dim2=-1)
    assert (self_scores > 0).any() and (self_scores < 0).any()


def test_iq_uses_identity_queries_and_stays_asymmetric():
    attn = attention(build_spec("iq"))
    assert isinstance(attn.q_proj, nn.Identity)
    assert isinstance(attn.k_proj, nn.Linear)
    scores = attn.scores(torch.randn(2, 6, D))
    assert not torch.allclose(scores, scores.transpose(-2, -1))


def test_rq_rv_ro_are_fixed_random_rotations_saved_with_the_model(tmp_path):
    """The controls for iq, nov, noo: no parameters, lengths kept, a different random
    subspace per layer, never trained, and part of the checkpoint."""
    m = model("rq+rv+ro@enc").train()
    first, second = m.encoder[0].attn, m.encoder[1].attn
    for proj in (first.q_proj, first.v_proj, first.out_proj):
        assert not any(True for _ in proj.parameters())
        assert_close(proj.weight @ proj.weight.T, torch.eye(D))  # orthonormal rows
    assert not torch.allclose(first.q_proj.weight, second.q_proj.weight)
    scores = first.scores(torch.randn(2, 6, D))
    assert not torch.allclose(scores, scores.transpose(-2, -1))  # W_K stays: asymmetric
    src, tgt = batch()
    m(src, tgt).sum().backward()
    assert first.q_proj.weight.grad is None
    save_checkpoint(tmp_path / "model.pt", m, step=1)
    loaded, _ = load_checkpoint(tmp_path / "model.pt")
    assert torch.equal(loaded.encoder[0].attn.q_proj.weight, first.q_proj.weight)


def test_structure_of_kv_nov_noo_mqa_gqa():
    kv = attention(build_spec("kv"))
    assert kv.k_proj is kv.v_proj and kv.k_proj is not kv.q_proj
    assert isinstance(attention(build_spec("nov")).v_proj, nn.Identity)
    assert isinstance(attention(build_spec("noo")).out_proj, nn.Identity)
    mqa = attention(build_spec("mqa"))
    assert (mqa.kv_heads, mqa.k_proj.out_features, mqa.v_proj.out_features) == (1, D // H, D // H)
    gqa = attention(build_spec("gqa2"))
    assert (gqa.kv_heads, gqa.k_proj.out_features) == (2, 2 * D // H)


def test_gqa_query_heads_share_their_group_key_value_head():
    """With gqa2, query heads 0,1 read kv head 0 and heads 2,3 read kv head 1."""
    attn = attention(build_spec("gqa2"))
    x = torch.randn(1, 5, D)
    weights = attention_weights(attn, x)
    q, k, _ = attn.project(x, x)
    expected = (q[:, 1] @ k[:, 0].transpose(-2, -1) / (D // H) ** 0.5).softmax(-1)
    assert_close(weights[:, 1], expected)


# --- the model: masks, cache, gradients, checkpoints ---------------------------------------------


@pytest.mark.parametrize("variant", EVERY_VARIANT)
def test_causality_later_target_tokens_do_not_change_earlier_outputs(variant):
    m = model(variant)
    src, tgt = batch()
    changed = tgt.clone()
    changed[:, 3:] = torch.randint(
        1, V, changed[:, 3:].shape, generator=torch.Generator().manual_seed(9)
    )
    assert_close(m(src, tgt)[:, :3], m(src, changed)[:, :3])
    assert not torch.allclose(m(src, tgt)[:, 3:], m(src, changed)[:, 3:])


@pytest.mark.parametrize("variant", EVERY_VARIANT)
def test_padding_never_changes_real_positions(variant):
    m = model(variant)
    src, tgt = batch()
    longer = torch.cat([src, torch.zeros(3, 4, dtype=src.dtype)], dim=1)  # more padding
    assert_close(m(src, tgt), m(longer, tgt))
    memory, src_pad = m.encode(src)
    memory_longer, _ = m.encode(longer)
    assert_close(memory[~src_pad], memory_longer[:, : src.size(1)][~src_pad])


@pytest.mark.parametrize("variant", EVERY_VARIANT)
def test_incremental_decoding_equals_the_full_pass(variant):
    m = model(variant)
    src, tgt = batch()
    full = m(src, tgt)  # (B, T, V)
    memory, src_pad = m.encode(src)
    cache = m.new_cache()
    steps = [m.decode(tgt[:, t : t + 1], memory, src_pad, cache) for t in range(tgt.size(1))]
    assert_close(torch.cat(steps, dim=1), full)
    assert cache.length == tgt.size(1)


def test_cache_reorder_follows_beam_indices():
    m = model("qq@all")
    src, tgt = batch()
    memory, src_pad = m.encode(src)
    cache = m.new_cache()
    m.decode(tgt[:, :2], memory, src_pad, cache)
    order = torch.tensor([2, 0, 0])
    cache.reorder(order, sentences=order)
    step = m.decode(tgt[order, 2:3], memory[order], src_pad[order], cache)
    assert_close(step, m(src[order], tgt[order, :3])[:, 2:3])


@pytest.mark.parametrize("variant", EVERY_VARIANT)
def test_every_parameter_receives_a_gradient(variant):
    m = model(variant).train()
    src, tgt = batch()
    m(src, tgt).logsumexp(-1).sum().backward()
    names = [name for name, p in m.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert names == []


def test_checkpoint_carries_its_config_and_reproduces_outputs(tmp_path):
    m = model("qq+noo@enc")
    save_checkpoint(tmp_path / "model.pt", m, step=12)
    loaded, extra = load_checkpoint(tmp_path / "model.pt")
    assert loaded.cfg == m.cfg and extra == {"step": 12}
    src, tgt = batch()
    assert_close(loaded.eval()(src, tgt), m(src, tgt))
    assert isinstance(loaded.encoder[0].attn.out_proj, nn.Identity)  # the variant is rebuilt
    assert isinstance(loaded.decoder[0].self_attn.out_proj, nn.Linear)


def test_same_seed_same_model_and_dropout_stream():
    src, tgt = batch()
    outs = []
    for _ in range(2):
        m = model("qq@enc", seed=3, dropout=0.3).train()
        torch.manual_seed(5)
        outs.append(m(src, tgt))
    assert torch.equal(outs[0], outs[1])


# --- specs and configuration errors ------------------------------------------------------------


def test_site_spec_parsing():
    assert parse_sites("qq@enc") == {"enc": "qq", "dec": "qk", "cross": "qk"}
    assert parse_sites("qq+noo@enc,dec") == {"enc": "qq+noo", "dec": "qq+noo", "cross": "qk"}
    assert parse_sites("qq@all") == dict.fromkeys(SITES, "qq")
    assert parse_sites("nov") == dict.fromkeys(SITES, "nov")
    assert parse_sites("qq@enc;nov@dec") == {"enc": "qq", "dec": "nov", "cross": "qk"}
    assert build_spec("qq+noo") == AttentionSpec(key="query", output="identity")


@pytest.mark.parametrize(
    "changes, key, words",
    [
        ({"variant": "qz@enc"}, "variant", ["unknown variant 'qz'", "qq_selfmask", "gqa{G}"]),
        ({"variant": "qq@encoder"}, "variant", ["unknown site 'encoder'", "enc, dec, cross, all"]),
        ({"variant": "qq@enc;nov@enc"}, "variant", ["'enc' is given twice"]),
        ({"variant": "qq+kv"}, "variant", ["'qq' and 'kv' cannot be combined", "key"]),
        ({"variant": "qq+mqa"}, "variant", ["cannot be combined with mqa"]),
        ({"variant": "gqa3"}, "variant", ["must divide n_heads=4"]),
        ({"variant": "qq_selfmask@cross"}, "variant", ["self-attention", "enc, dec"]),
        ({"variant": "qq_centred@cross"}, "variant", ["self-attention", "enc, dec"]),
        ({"variant": "qq+qk_symstart"}, "variant", ["qk_symstart", "both must be linear"]),
        ({"variant": "iq+qq_centred"}, "variant", ["qq_centred", "learned W_Q"]),
        ({"variant": ""}, "variant", ["empty variant spec"]),
        ({"n_heads": 3}, "n_heads", ["must divide d_model=16"]),
        ({"d_model": 15, "n_heads": 5}, "d_model", ["must be even"]),
        ({"d_ff": 0}, "d_ff", ["positive integer"]),
        ({"dropout": 1.0}, "dropout", ["[0, 1)"]),
    ],
)
def test_configuration_errors_name_the_key_and_what_is_allowed(changes, key, words):
    with pytest.raises(ConfigurationError) as error:
        Transformer(dataclasses.replace(BASE, **changes))
    assert error.value.key == key
    assert str(error.value).startswith(f"{key}: ")
    for word in words:
        assert word in str(error.value)


def test_each_model_family_has_its_own_sites():
    """A decoder-only model has one site, ``self``; ``all`` and a bare name mean it, and the
    encoder-decoder's sites are refused there with the family's own (and the other way)."""
    assert parse_sites("qq", family="decoder_only") == {"self": "qq"}
    assert parse_sites("qq+noo@all", family="decoder_only") == {"self": "qq+noo"}
    assert parse_sites("qq_selfmask@self", family="decoder_only") == {"self": "qq_selfmask"}
    assert parse_sites("qq@enc") == {"enc": "qq", "dec": "qk", "cross": "qk"}
    with pytest.raises(ConfigurationError, match="a site of the encoder_decoder model 'enc'"):
        parse_sites("qq@enc", family="decoder_only")
    with pytest.raises(ConfigurationError, match="decoder_only model's sites: self, all"):
        parse_sites("qq@cross", family="decoder_only")
    with pytest.raises(ConfigurationError, match="a site of the decoder_only model 'self'"):
        parse_sites("qq@self")
