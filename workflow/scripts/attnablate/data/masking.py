"""Masked-language-model inputs, by BERT's recipe: of each sentence's pieces, 15% are chosen
(at least one per sentence); a chosen piece is replaced by MASK 80% of the time, by a random
piece of the vocabulary 10% of the time, and kept 10%; the loss is on the chosen positions
alone. MASK is the tokenizer's BOS id, which an encoder-only model's inputs never hold
otherwise: the vocabulary, and so the parameter count, stay the other families'. Every draw
comes from the ``torch.Generator`` given: training passes the run's, validation and test a
fixed seed's, so that every run is scored on the same positions."""

import torch

from attnablate.data.tokenizer import BOS, EOS, PAD

MASK = BOS  # the id a masked piece is replaced by
CHOSEN = 0.15  # the share of a sentence's pieces the loss is on
AS_MASK, AS_RANDOM = 0.8, 0.1  # of the chosen: replaced by MASK, by a random piece (the rest kept)
IGNORE = -100  # the target of a position not chosen: cross_entropy's ignore_index
FIRST_PIECE = EOS + 1  # ids below are special (PAD, UNK, BOS, EOS): never a random replacement


def mask_tokens(ids: torch.Tensor, vocab_size: int, generator: torch.Generator):
    """ids: (B, T) right-padded pieces, each row ending in EOS (on the CPU, where
    ``generator`` draws). Returns the inputs (B, T), some pieces masked, and the targets
    (B, T): the original piece where chosen, IGNORE elsewhere. Padding and EOS are never
    chosen."""
    candidate = ids.ne(PAD) & ids.ne(EOS)  # (B, T)
    draw = torch.rand(ids.shape, generator=generator)  # (B, T)
    chosen = candidate & (draw < CHOSEN)
    # a sentence with no piece chosen gets its candidate of the smallest draw
    lowest = torch.where(candidate, draw, 2.0).argmin(dim=1)  # (B,)
    unchosen = candidate.any(dim=1) & ~chosen.any(dim=1)  # (B,)
    chosen[unchosen, lowest[unchosen]] = True
    action = torch.rand(ids.shape, generator=generator)  # (B, T)
    random = torch.randint(FIRST_PIECE, vocab_size, ids.shape, generator=generator)  # (B, T)
    inputs = torch.where(chosen & (action < AS_MASK), MASK, ids)
    swapped = chosen & (action >= AS_MASK) & (action < AS_MASK + AS_RANDOM)
    inputs = torch.where(swapped, random, inputs)
    return inputs, torch.where(chosen, ids, IGNORE)
