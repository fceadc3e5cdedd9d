"""The encoder-only family at tiny dimensions: one bidirectional stack, its parameter count,
its one attention site, BERT's masking of its inputs, and a run trained on them."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from attnablate.data.masking import (
    EVALUATION_SEED,
    FIRST_PIECE,
    IGNORE,
    MASK,
    MaskedBatches,
    mask_batch,
    mask_seed,
)
from attnablate.data.tokenizer import EOS, PAD
from attnablate.errors import ConfigurationError
from attnablate.evaluate.masked import frequency_baseline
from attnablate.model.config import ModelConfig
from attnablate.model.params import count_params
from attnablate.model.transformer import EncoderOnlyTransformer, build
from attnablate.train.config import JobConfig, TrainConfig
from attnablate.train.files import RunFiles
from attnablate.train.loop import Run, train

BASE = ModelConfig(
    vocab_size=60, d_model=16, n_heads=2, enc_layers=2, dec_layers=0, d_ff=32, dropout=0.0,
    architecture="encoder_only",
)  # fmt: skip


def model(variant="qk", **kw) -> EncoderOnlyTransformer:
    torch.manual_seed(0)
    return build(dataclasses.replace(BASE, variant=variant, **kw)).eval()


def sentences(rows: int, length: int, seed: int = 0) -> torch.Tensor:
    """Right-padded rows of pieces, each ending in EOS, of lengths 2 .. length."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((rows, length), PAD)
    for r in range(rows):
        n = int(torch.randint(2, length + 1, (1,), generator=g))
        ids[r, : n - 1] = torch.randint(FIRST_PIECE, BASE.vocab_size, (n - 1,), generator=g)
        ids[r, n - 1] = EOS
    return ids


def test_the_family_is_one_encoder_stack_without_a_decoder():
    assert isinstance(model(), EncoderOnlyTransformer)
    with pytest.raises(
        ConfigurationError, match="dec_layers: an encoder_only model has no decoder"
    ):
        dataclasses.replace(BASE, dec_layers=1).validate()
    with pytest.raises(ConfigurationError, match="enc_layers: must be a positive integer"):
        dataclasses.replace(BASE, enc_layers=0).validate()
    with pytest.raises(ConfigurationError, match="the encoder_only model's sites: self, all"):
        dataclasses.replace(BASE, variant="qq@enc").validate()
    assert [site for site, _, _ in model().attention_modules()] == ["self", "self"]


@pytest.mark.parametrize("variant", ["qk", "qq", "nov", "noo", "qq_centred"])
def test_its_parameter_count_from_the_config_is_the_models(variant):
    net = model(variant)
    assert count_params(net.cfg) == sum(p.numel() for p in net.parameters())
    non_embedding = sum(p.numel() for n, p in net.named_parameters() if n != "embed.weight")
    assert count_params(net.cfg, "non_embedding") == non_embedding


def test_every_position_sees_the_whole_sentence_and_never_its_padding():
    net, ids = model(), sentences(3, 9)
    logits = net(ids)
    assert logits.shape == (3, 9, BASE.vocab_size)
    # bidirectional: a change at the last real piece reaches the first position
    changed = ids.clone()
    last = int(ids[0].ne(PAD).sum()) - 2  # the piece before EOS
    changed[0, last] = FIRST_PIECE + (int(ids[0, last]) - FIRST_PIECE + 1) % 50
    assert not torch.allclose(net(changed)[0, 0], logits[0, 0])
    # more padding leaves every real position as it was
    padded = torch.cat([ids, torch.full((3, 4), PAD)], dim=1)
    real = ids.ne(PAD)
    torch.testing.assert_close(net(padded)[:, :9][real], logits[real])


def test_tied_keys_give_symmetric_scores_at_its_one_site():
    net, ids = model("qq"), sentences(2, 7)
    x = net.embed_tokens(ids)
    scores = net.layers[0].attn.scores(net.layers[0].ln_attn(x))  # (B, H, T, T)
    torch.testing.assert_close(scores, scores.transpose(-2, -1))


def test_masking_follows_berts_recipe_and_repeats_from_its_seed():
    ids = sentences(400, 24, seed=1)
    seeds = [mask_seed(7, 0, i) for i in range(len(ids))]
    inputs, targets = mask_batch(ids, BASE.vocab_size, seeds)
    again = mask_batch(ids, BASE.vocab_size, seeds)
    assert torch.equal(inputs, again[0]) and torch.equal(targets, again[1])
    chosen = targets.ne(IGNORE)
    assert not chosen[ids.eq(PAD) | ids.eq(EOS)].any()  # padding and EOS never chosen
    assert torch.equal(targets[chosen], ids[chosen])  # the loss is on the original piece
    assert chosen.any(dim=1).all()  # every sentence has a position to learn from
    candidates = int((ids.ne(PAD) & ids.ne(EOS)).sum())
    assert 0.13 < chosen.sum() / candidates < 0.19  # about 15%, with the one per sentence
    masked = (inputs.eq(MASK) & chosen).sum() / chosen.sum()
    kept = (inputs.eq(ids) & chosen).sum() / chosen.sum()
    assert 0.75 < masked < 0.85 and 0.07 < kept < 0.14  # kept: 10%, and a random draw of itself
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else is touched
    assert int(inputs[chosen & inputs.ne(MASK)].min()) >= FIRST_PIECE  # no special id drawn
    other_epoch = mask_batch(ids, BASE.vocab_size, [mask_seed(7, 1, i) for i in range(len(ids))])
    assert not torch.equal(other_epoch[1], targets)  # each epoch masks anew


def test_a_sentences_masks_are_its_own_whatever_batch_or_padding_it_lands_in():
    ids = sentences(6, 12, seed=2)
    seeds = [mask_seed(3, 0, i) for i in range(6)]
    whole = mask_batch(ids, BASE.vocab_size, seeds)
    length = int(ids[4:].ne(PAD).sum(1).max())
    part = mask_batch(ids[4:, :length], BASE.vocab_size, seeds[4:])  # a shard, less padding
    for mine, theirs in zip(part, whole):
        assert torch.equal(mine, theirs[4:, :length])


def test_masked_batches_mask_each_sentence_by_its_seed_and_epoch_and_evaluation_alike():
    ids = [list(range(FIRST_PIECE, FIRST_PIECE + n)) for n in (3, 9, 5, 12, 7, 4)]
    train = MaskedBatches(ids, batch_tokens=40, seed=5, vocab_size=BASE.vocab_size)
    inputs, targets = train.batch([3, 1], epoch=2)
    alone = train.batch([1], epoch=2)
    n = len(ids[1]) + 1  # + EOS
    assert torch.equal(inputs[1, :n], alone[0][0, :n])  # the same masks in any batch
    assert torch.equal(targets[1, :n], alone[1][0, :n])
    assert not torch.equal(train.batch([3], epoch=3)[1], train.batch([3], epoch=2)[1])
    valid = MaskedBatches(ids, batch_tokens=40, seed=EVALUATION_SEED, vocab_size=60)
    assert all(torch.equal(a, b) for a, b in zip(valid.batch([3], 0), valid.batch([3], 9)))
    assert sum(len(b) for b in train.epoch(0)) == len(ids)  # every sentence once an epoch
    assert train.tgt_len.sum() == pytest.approx(sum(0.15 * len(s) + 0.85 ** len(s) for s in ids))


def id_file(path, sentences: list) -> None:
    """An id file (the encode step's format) whose both sides hold ``sentences``."""
    ids = np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences])
    offsets = np.cumsum([0] + [len(s) for s in sentences])
    np.savez(path, src_ids=ids, src_offsets=offsets, tgt_ids=ids, tgt_offsets=offsets)


def test_the_frequency_baseline_guesses_every_masked_piece_from_the_training_counts(tmp_path):
    """30 of the 40 training pieces are FIRST_PIECE: add-one smoothed over 10 pieces, its
    probability is 31/50 and an unseen piece's 1/50; the most frequent piece is always guessed."""
    piece, other, unseen = FIRST_PIECE, FIRST_PIECE + 1, FIRST_PIECE + 2
    id_file(tmp_path / "train.npz", [[piece] * 6] * 5 + [[other] * 5] * 2)
    id_file(tmp_path / "seen.npz", [[piece] * n for n in (3, 9, 14)])
    id_file(tmp_path / "unseen.npz", [[unseen] * n for n in (3, 9, 14)])
    seen = frequency_baseline(tmp_path / "train.npz", tmp_path / "seen.npz", vocab_size=10)
    assert seen["accuracy"] == 100 and seen["masked_loss"] == pytest.approx(math.log(50 / 31))
    unseen_scores = frequency_baseline(tmp_path / "train.npz", tmp_path / "unseen.npz", 10)
    assert unseen_scores["accuracy"] == 0
    assert unseen_scores["masked_loss"] == pytest.approx(math.log(50))
    batches = MaskedBatches([[piece] * n for n in (3, 9, 14)], 4000, EVALUATION_SEED, 10)
    chosen = sum(int(batches.batch(i)[1].ne(IGNORE).sum()) for i in batches.epoch(0))
    assert seen["pieces"] == unseen_scores["pieces"] == chosen  # the pieces a run is scored on


def test_a_training_run_records_masked_accuracy_and_the_self_sites_dynamics(tmp_path, data):
    cfg = TrainConfig(
        max_steps=20, batch_tokens=400, warmup_steps=5, eval_every=10, device="cpu",
        job=JobConfig(log_every=10, save_every=100),
    )  # fmt: skip
    model_cfg = dataclasses.replace(BASE, vocab_size=200, variant="qq")
    meta = train(Run(model_cfg, cfg, 1, {}), data, RunFiles(tmp_path))
    curves = (tmp_path / "curves.tsv").read_text().splitlines()
    assert curves[0].split("\t")[-2:] == ["valid_loss", "valid_accuracy"]
    last = dict(zip(curves[0].split("\t"), curves[-1].split("\t")))
    assert 0 <= float(last["valid_accuracy"]) <= 100 and float(last["valid_loss"]) > 0
    assert meta.best_valid_bleu is None and meta.steps == 20
    dynamics = (tmp_path / "dynamics.tsv").read_text().splitlines()
    sites = {line.split("\t")[1] for line in dynamics[1:]}
    steps = {line.split("\t")[0] for line in dynamics[1:]}
    assert sites == {"self"} and steps == {"0", "10", "20"}
    symmetry = {float(line.split("\t")[4]) for line in dynamics[1:]}
    assert symmetry == {1.0}  # tied keys: a symmetric form at every step
