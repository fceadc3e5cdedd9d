"""Masked-language-model inputs, by BERT's recipe: of each sentence's pieces, 15% are chosen
(at least one per sentence); a chosen piece is replaced by MASK 80% of the time, by a random
piece of the vocabulary 10% of the time, and kept 10%; the loss is on the chosen positions
alone. MASK is the tokenizer's BOS id, which an encoder-only model's inputs never hold
otherwise: the vocabulary, and so the parameter count, stay the other families'.

Each sentence is masked by a generator seeded with a number of its own (``mask_seed``: the
run's seed, the epoch and the sentence's index in the split; for validation and test a fixed
seed and the index, so that every run is scored on the same positions). Its masks are thus the
same whatever batch, shard or padding it lands in, and a resumed run draws what an
uninterrupted one drew without keeping a generator's state."""

import numpy as np
import torch

from attnablate.data.batches import TokenBatches
from attnablate.data.tokenizer import BOS, EOS, PAD

MASK = BOS  # the id a masked piece is replaced by
CHOSEN = 0.15  # the share of a sentence's pieces the loss is on
AS_MASK, AS_RANDOM = 0.8, 0.1  # of the chosen: replaced by MASK, by a random piece (the rest kept)
IGNORE = PAD  # the target of a position not chosen: the loss ignores padding targets already
FIRST_PIECE = EOS + 1  # ids below are special (PAD, UNK, BOS, EOS): never a random replacement
EVALUATION_SEED = 20_240_601  # the masks of the valid and test splits, the same for every run


def mask_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sentence's masks: a run's ``seed``, an ``epoch`` (or, with
    EVALUATION_SEED, 0) and the sentence's ``index`` in its split, mixed into 63 bits."""
    mixed = (seed * 1_000_003 + epoch) * 2_147_483_647 + index
    return mixed % (2**63 - 1)


def mask_sentence(ids: torch.Tensor, vocab_size: int, seed: int):
    """ids: (T,) one sentence's pieces, ending in EOS, no padding. Returns its inputs (T,), some
    pieces masked, and targets (T,): the original piece where chosen, IGNORE elsewhere. EOS is
    never chosen."""
    generator = torch.Generator().manual_seed(seed)
    candidate = ids.ne(EOS) & ids.ne(PAD)  # (T,)
    draw = torch.rand(ids.shape, generator=generator)  # (T,)
    chosen = candidate & (draw < CHOSEN)
    if candidate.any() and not chosen.any():  # at least one: the candidate of the lowest draw
        chosen[torch.where(candidate, draw, 2.0).argmin()] = True
    action = torch.rand(ids.shape, generator=generator)  # (T,)
    random = torch.randint(FIRST_PIECE, vocab_size, ids.shape, generator=generator)  # (T,)
    inputs = torch.where(chosen & (action < AS_MASK), MASK, ids)
    swapped = chosen & (action >= AS_MASK) & (action < AS_MASK + AS_RANDOM)
    return torch.where(swapped, random, inputs), torch.where(chosen, ids, IGNORE)


def mask_batch(ids: torch.Tensor, vocab_size: int, seeds: list[int]):
    """ids: (B, T) right-padded sentences; ``seeds``: each row's (mask_seed). Returns the
    inputs and targets (B, T), padding left as it is (its targets IGNORE)."""
    inputs, targets = ids.clone(), torch.full_like(ids, IGNORE)
    for row, seed in enumerate(seeds):
        n = int(ids[row].ne(PAD).sum())
        inputs[row, :n], targets[row, :n] = mask_sentence(ids[row, :n], vocab_size, seed)
    return inputs, targets


class MaskedBatches:
    """Batches of masked sentences for an encoder-only model: the batching of TokenBatches
    (length-bucketed, shuffled per epoch from the run's seed) over one side of the pairs,
    each sentence masked by its own seed. ``seed``: the run's (training: masks differ per
    epoch) or EVALUATION_SEED (the valid and test splits: the same masks in every epoch and
    run). ``batch`` returns (inputs, targets), as TokenBatches returns (src, tgt_in, tgt_out):
    the model's inputs, then the target the loss reads."""

    def __init__(
        self,
        sentences: list,
        batch_tokens: int,
        seed: int,
        vocab_size: int,
        bucket_ladder: float = 0.0,
    ):
        self.tokens = TokenBatches(sentences, sentences, batch_tokens, seed, bucket_ladder)
        self.src = self.tokens.src
        # the expected targets of each sentence (its n pieces: n·CHOSEN, and one when none
        # was drawn), to count the targets trained on in passes over them (epochs_seen)
        pieces = self.tokens.src_len - 1  # (N,) without EOS
        self.tgt_len = np.where(pieces > 0, pieces * CHOSEN + (1 - CHOSEN) ** pieces, 0.0)
        self.seed, self.vocab_size = seed, vocab_size

    def epoch(self, epoch: int) -> list:
        return self.tokens.epoch(epoch)

    def stream(self, epoch: int = 0, index: int = 0):
        return self.tokens.stream(epoch, index)

    def batch(self, indices, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The masked inputs and targets (B, T) of these sentences, at ``epoch`` of training
        (ignored for the evaluation seed: its masks are fixed)."""
        ids = self.tokens.batch(indices)[0]  # (B, T): pieces, EOS, padding
        epoch = 0 if self.seed == EVALUATION_SEED else epoch
        seeds = [mask_seed(self.seed, epoch, int(i)) for i in indices]
        return mask_batch(ids, self.vocab_size, seeds)
