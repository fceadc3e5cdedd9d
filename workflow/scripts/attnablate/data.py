"""Training batches: length-bucketed, about ``batch_tokens`` tokens each, deterministic per seed.

Sentences of similar length go together, so little of a batch is padding; the order of the
batches is shuffled per epoch from (seed, epoch). A data position (epoch, index) names the next
batch exactly, which is what a resumed run needs.
"""

import numpy as np
import torch

from attnablate.tokenizer import BOS, EOS, PAD


def length_filter(src: list, tgt: list, max_len: int) -> tuple[list, list, int]:
    """Drop pairs with either side longer than ``max_len`` tokens; return the rest and the count."""
    keep = [i for i in range(len(src)) if len(src[i]) <= max_len and len(tgt[i]) <= max_len]
    return [src[i] for i in keep], [tgt[i] for i in keep], len(src) - len(keep)


def collate(src: list, tgt: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a batch: source + EOS, target input BOS + target, target output target + EOS."""
    B = len(src)
    S = max(len(s) for s in src) + 1
    T = max(len(t) for t in tgt) + 1
    src_ids = torch.full((B, S), PAD, dtype=torch.long)  # (B, S)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)  # (B, T)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)  # (B, T)
    for b, (s, t) in enumerate(zip(src, tgt)):
        src_ids[b, : len(s)] = torch.from_numpy(s)
        src_ids[b, len(s)] = EOS
        tgt_in[b, 0] = BOS
        tgt_in[b, 1 : len(t) + 1] = torch.from_numpy(t)
        tgt_out[b, : len(t)] = torch.from_numpy(t)
        tgt_out[b, len(t)] = EOS
    return src_ids, tgt_in, tgt_out


class TokenBatches:
    """Batches of sentence indices, each of at most ``batch_tokens`` padded tokens per side."""

    def __init__(self, src: list, tgt: list, batch_tokens: int, seed: int):
        self.src, self.tgt = src, tgt
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.src_len = np.array([len(s) + 1 for s in src])  # + EOS
        self.tgt_len = np.array([len(t) + 1 for t in tgt])  # + BOS or EOS

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The batches of one epoch, in their shuffled order."""
        rng = np.random.default_rng([self.seed, epoch])
        ties = rng.random(len(self.src))
        order = np.lexsort((ties, self.tgt_len, self.src_len))  # by length, random among equals
        batches, start, longest = [], 0, 0
        for i, idx in enumerate(order):
            longest_with = max(longest, self.src_len[idx], self.tgt_len[idx])
            if i > start and longest_with * (i - start + 1) > self.batch_tokens:
                batches.append(order[start:i])
                start, longest_with = i, max(self.src_len[idx], self.tgt_len[idx])
            longest = longest_with
        batches.append(order[start:])
        return [batches[i] for i in rng.permutation(len(batches))]

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return collate([self.src[i] for i in indices], [self.tgt[i] for i in indices])

    def stream(self, epoch: int = 0, index: int = 0):
        """Yield (epoch, index, sentence indices) forever, starting at a data position."""
        while True:
            batches = self.epoch(epoch)
            for i in range(index, len(batches)):
                yield epoch, i, batches[i]
            epoch, index = epoch + 1, 0
