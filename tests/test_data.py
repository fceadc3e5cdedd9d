"""Tokenizer and training batches."""

from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm

from attnablate.data.batches import TokenBatches, collate, length_filter
from attnablate.data.tokenizer import BOS, EOS, PAD, encode_split, load_split, train_tokenizer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "spm.model"
    train_tokenizer([DATA / "john.de", DATA / "john.en"], path, 300, "unigram")
    return path


def test_tokenizer_is_joint_and_round_trips(spm_model):
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (PAD, 1, BOS, EOS)
    for path in (DATA / "john.de", DATA / "john.en"):
        for line in path.read_text().splitlines()[:50]:
            assert sp.decode(sp.encode(line)) == line


def test_tokenizer_training_is_deterministic(spm_model, tmp_path):
    again = tmp_path / "again.model"
    train_tokenizer([DATA / "john.de", DATA / "john.en"], again, 300, "unigram")
    pieces = [
        [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
        for sp in (spm.SentencePieceProcessor(model_file=str(p)) for p in (spm_model, again))
    ]
    assert pieces[0] == pieces[1]


def test_encoded_split_holds_every_line(spm_model, tmp_path):
    out = tmp_path / "all.ids.npz"
    counts = encode_split(spm_model, DATA / "john.de", DATA / "john.en", out)
    src, tgt = load_split(out)
    assert counts["segments"] == len(src) == len(tgt) == 400
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    assert sp.decode(tgt[3].tolist()) == (DATA / "john.en").read_text().splitlines()[3]


def sentences(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 50, rng.integers(1, 30)) for _ in range(n)]


def test_batches_cover_every_sentence_once_within_the_token_budget():
    src, tgt = sentences(500), sentences(500, seed=1)
    batches = TokenBatches(src, tgt, batch_tokens=200, seed=3)
    epoch = batches.epoch(0)
    assert sorted(np.concatenate(epoch).tolist()) == list(range(500))
    for indices in epoch:
        s, t_in, t_out = batches.batch(indices)
        assert s.numel() <= 200 or len(indices) == 1
        assert t_in.numel() <= 200 or len(indices) == 1
    padding = sum((batches.batch(i)[0] == PAD).sum().item() for i in epoch)
    assert padding / sum(len(s) + 1 for s in src) < 0.1  # length bucketing keeps padding low


def test_batches_are_deterministic_per_seed_and_shuffled_per_epoch():
    src, tgt = sentences(300), sentences(300, seed=1)
    a = TokenBatches(src, tgt, 150, seed=1)
    b = TokenBatches(src, tgt, 150, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.epoch(0), b.epoch(0)))
    assert not all(np.array_equal(x, y) for x, y in zip(a.epoch(0), a.epoch(1)))


def test_stream_resumes_at_a_data_position():
    batches = TokenBatches(sentences(100), sentences(100, seed=1), 120, seed=2)
    stream = batches.stream()
    first = [next(stream) for _ in range(len(batches.epoch(0)) + 3)]
    epoch, index, _ = first[5]
    resumed = batches.stream(epoch, index)
    for expected in first[5:]:
        got = next(resumed)
        assert got[:2] == expected[:2]
        assert np.array_equal(got[2], expected[2])


def test_collate_places_bos_eos_and_padding():
    src, tgt_in, tgt_out = collate(
        [np.array([5, 6]), np.array([7])], [np.array([8]), np.array([9, 10])]
    )
    assert src.tolist() == [[5, 6, EOS], [7, EOS, PAD]]
    assert tgt_in.tolist() == [[BOS, 8, PAD], [BOS, 9, 10]]
    assert tgt_out.tolist() == [[8, EOS, PAD], [9, 10, EOS]]


def test_length_filter_counts_what_it_drops():
    src = [np.zeros(3), np.zeros(10), np.zeros(2)]
    tgt = [np.zeros(3), np.zeros(2), np.zeros(11)]
    kept_src, kept_tgt, dropped = length_filter(src, tgt, max_len=9)
    assert (len(kept_src), len(kept_tgt), dropped) == (1, 1, 2)


def test_width_ladder_batches_hold_fixed_shapes_and_little_padding(spm_model):
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    pairs = zip(*(path.read_text().splitlines() for path in (DATA / "john.de", DATA / "john.en")))
    src, tgt = zip(*[(np.array(sp.encode(s)), np.array(sp.encode(t))) for s, t in pairs])
    ladder = TokenBatches(list(src), list(tgt), batch_tokens=1000, seed=1, bucket_ladder=1.1)
    assert ladder.ladder.tolist()[:6] == [8, 16, 24, 32, 40, 48]
    assert all(w % 8 == 0 for w in ladder.ladder)

    def shapes_and_padding(batches, epoch_number=0):
        shapes, real, padded = set(), 0, 0
        epoch = batches.epoch(epoch_number)
        assert sorted(np.concatenate(epoch).tolist()) == list(range(len(src)))
        for indices in epoch:
            s, t_in, _ = batches.batch(indices)
            shapes.add((s.shape[1], t_in.shape[1]))
            real += int((s != PAD).sum() + (t_in != PAD).sum())
            padded += s.numel() + t_in.numel()
            assert max(s.numel(), t_in.numel()) <= 1000 or len(indices) == 1
        return shapes, 1 - real / padded

    shapes, padding = shapes_and_padding(ladder)
    assert {w for shape in shapes for w in shape} <= set(ladder.ladder.tolist())
    # the same (source, target) widths every epoch: the cells are fixed
    assert shapes_and_padding(ladder, 1)[0] == shapes_and_padding(ladder, 2)[0] == shapes
    assert padding < 0.10  # the bucket_ladder description's promise for 1.1
    assert all(np.array_equal(x, y) for x, y in zip(ladder.epoch(2), ladder.epoch(2)))


def test_a_sentence_beyond_the_ladder_pads_to_a_multiple_of_eight():
    src, _, _ = collate([np.arange(3, 50)], [np.array([5])], ladder=np.array([8, 16, 24]))
    assert src.shape == (1, 48) and src[0, 47] == EOS
    src, tgt_in, _ = collate([np.array([5])], [np.array([6, 7])], ladder=np.array([8, 16]))
    assert src.shape == (1, 8) and tgt_in.shape == (1, 8)
