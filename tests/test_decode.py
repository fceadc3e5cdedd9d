"""Beam search: exact on a space small enough to enumerate, greedy at beam 1, order kept."""

import itertools

import numpy as np
import torch

from attnablate.data.batches import collate
from attnablate.data.tokenizer import BOS, EOS
from attnablate.model.config import ModelConfig
from attnablate.model.search import DecodeConfig, GraphedStep, beam_search, translate
from attnablate.model.transformer import Transformer

V = 6  # PAD, UNK, BOS, EOS and two real tokens: UNK, 4 and 5 may be emitted


def tiny_model(variant="qk"):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, d_model=16, n_heads=2, d_ff=32, dropout=0.0, variant=variant)
    return Transformer(cfg).eval()


def sequence_score(model, src, tokens, length_penalty=1.0):
    """log P(tokens + EOS | src) / length**penalty, PAD and BOS forbidden as in the search."""
    with torch.no_grad():
        logits = model(src, torch.tensor([[BOS, *tokens]]))[0]
    logp = logits.log_softmax(-1)
    full = [*tokens, EOS]
    return sum(logp[i, t].item() for i, t in enumerate(full)) / len(full) ** length_penalty


def test_wide_beam_finds_the_exact_best_hypothesis():
    model = tiny_model("qq@all")
    src = torch.tensor([[4, 5, 4, EOS], [5, EOS, 0, 0]])
    cfg = DecodeConfig(beam_size=16, max_len_a=0, max_len_b=3)  # at most 2 tokens + EOS
    found = beam_search(model, src, cfg)
    for b in range(2):
        row = src[b : b + 1]
        candidates = [list(s) for n in range(3) for s in itertools.product([1, 4, 5], repeat=n)]
        best = max(candidates, key=lambda s: sequence_score(model, row, s))
        assert found[b] == best


def test_beam_one_is_greedy_decoding_without_the_cache():
    model = tiny_model("qq@enc")
    src = torch.tensor([[4, 5, 5, 4, EOS]])
    found = beam_search(model, src, DecodeConfig(beam_size=1, max_len_a=0, max_len_b=8))[0]
    tokens = [BOS]
    with torch.no_grad():
        for _ in range(8):
            logp = model(src, torch.tensor([tokens]))[0, -1]
            logp[[0, BOS]] = float("-inf")
            if len(tokens) == 8:  # the limit: only EOS may follow
                break
            token = int(logp.argmax())
            if token == EOS:
                break
            tokens.append(token)
    assert found == tokens[1:]


def test_translate_keeps_input_order():
    model = tiny_model()
    rng = np.random.default_rng(0)
    sentences = [rng.integers(4, V, rng.integers(1, 9)) for _ in range(13)]
    cfg = DecodeConfig(beam_size=3, batch_sentences=4)
    together = translate(model, sentences, cfg)
    alone = [translate(model, [s], cfg)[0] for s in sentences]
    assert together == alone


def test_the_cache_gives_what_recomputing_the_prefix_gives():
    """The benchmark's reference (no cache) and the cached search agree, hypothesis for
    hypothesis, for variants that touch every site, with sentences leaving the batch."""
    rng = np.random.default_rng(1)
    sentences = [rng.integers(4, V, rng.integers(1, 12)) for _ in range(9)]
    for variant in ("qk", "qq@all", "qq_selfmask@enc,dec", "mqa@all", "nov+noo@all"):
        model = tiny_model(variant)
        cached = translate(model, sentences, DecodeConfig(beam_size=3, batch_sentences=9))
        recomputed = translate(
            model, sentences, DecodeConfig(beam_size=3, batch_sentences=9, use_cache=False)
        )
        assert cached == recomputed, variant


def test_beams_sharing_their_source_find_what_per_row_copies_find():
    """The k beams of a sentence reading its memory once, as k queries (the search translate
    runs), give the hypotheses of the search where every beam row holds its own copy of the
    memory and cross-attention cache (the benchmark's reference), sentences leaving the batch
    at different steps, for variants that touch cross-attention."""
    rng = np.random.default_rng(3)
    sentences = [rng.integers(4, V, rng.integers(1, 12)) for _ in range(11)]
    for variant in ("qk", "qq@all", "kv@cross", "mqa@all", "nov+noo@all"):
        model = tiny_model(variant)
        for beam in (2, 4):
            shared = DecodeConfig(beam_size=beam, batch_sentences=11)
            per_row = DecodeConfig(beam_size=beam, batch_sentences=11, share_source=False)
            found = translate(model, sentences, shared)
            assert found == translate(model, sentences, per_row), (variant, beam)


def test_shared_source_decoding_equals_the_full_pass_per_beam():
    """decode(beam=k) with one memory row per sentence gives each of its k target rows the
    logits of a full pass over that row's own copy of the source."""
    model = tiny_model("qq@all")
    src = torch.tensor([[4, 5, 4, EOS], [5, EOS, 0, 0]])
    tgt = torch.tensor([[BOS, 4], [BOS, 5], [BOS, 5], [BOS, 4]])  # two beams a sentence
    with torch.no_grad():
        memory, src_pad = model.encode(src)
        shared = model.decode(tgt, memory, src_pad, beam=2)
        full = model(src.repeat_interleave(2, dim=0), tgt)
    torch.testing.assert_close(shared, full)


def test_the_static_search_gives_what_the_shrinking_search_gives():
    """The search with a GraphedStep (fixed shapes, caches written in place: what a CUDA graph
    replays; on the CPU it runs eagerly) finds the hypotheses of the EagerStep's shrinking
    batch, sentences of many
    lengths finishing at different steps, for variants that touch every site and the
    self-masked one whose mask depends on the position."""
    rng = np.random.default_rng(2)
    src_rows = [rng.integers(4, V, rng.integers(1, 12)) for _ in range(9)]
    src = collate(src_rows, [np.zeros(0, np.int64)] * len(src_rows))[0]
    for variant in ("qk", "qq@all", "qq_selfmask@enc,dec", "mqa@all", "nov+noo@all"):
        model = tiny_model(variant)
        for beam in (1, 3):
            cfg = DecodeConfig(beam_size=beam)
            static = beam_search(model, src, cfg, GraphedStep)  # on the CPU: never captured
            assert static == beam_search(model, src, cfg), (variant, beam)


def test_the_static_cache_decodes_as_the_growing_one():
    """Step by step, the logits of a static cache equal those of the growing cache."""
    model = tiny_model("qq_selfmask@enc,dec")
    src = torch.tensor([[4, 5, 4, EOS], [5, EOS, 0, 0]])
    tgt = torch.tensor([[BOS, 4, 5, 4, 5], [BOS, 5, 5, 4, 4]])
    with torch.no_grad():
        memory, src_pad = model.encode(src)
        growing, static = model.new_cache(), model.new_static_cache(memory, src_pad, 5)
        for t in range(5):
            step = tgt[:, t : t + 1]
            torch.testing.assert_close(
                model.decode(step, memory, src_pad, static),
                model.decode(step, memory, src_pad, growing),
            )
        assert int(static.position) == 5
