"""Training batches: length-bucketed, about ``batch_tokens`` tokens each, deterministic per seed.

Sentences of similar length go together, so little of a batch is padding; the order of the
batches is shuffled per epoch from (seed, epoch). A data position (epoch, index) names the next
batch exactly, which is what a resumed run needs.

With a width ladder (``bucket_ladder`` > 1), every batch is padded up to widths of a short
ladder of multiples of 8, and sentences are batched within (source width, target width) cells:
a GPU then sees a few hundred batch shapes an epoch instead of one per batch (kernels chosen
and memory blocks reused per shape), with less padding than sorting by source length leaves.

A row costs its longer side for an encoder-decoder, and its joint length (source plus target,
one packed row) for a decoder-only model (``joint``): batches are bucketed and filled by that.
"""

import math

import numpy as np
import torch

from attnablate.data.tokenizer import BOS, EOS, PAD


def length_filter(src: list, tgt: list, max_len: int) -> tuple[list, list, int]:
    """Drop pairs with either side longer than ``max_len`` tokens; return the rest and the count."""
    keep = [i for i in range(len(src)) if len(src[i]) <= max_len and len(tgt[i]) <= max_len]
    return [src[i] for i in keep], [tgt[i] for i in keep], len(src) - len(keep)


def width_ladder(ratio: float, top: int, step: int = 8) -> np.ndarray:
    """Padded widths: multiples of ``step`` from ``step``, each at least ``ratio`` times the
    one before, up to the first at or above ``top``."""
    widths = [step]
    while widths[-1] < top:
        widths.append(max(widths[-1] + step, math.ceil(widths[-1] * ratio / step) * step))
    return np.array(widths)


def padded_width(length: np.ndarray, ladder: np.ndarray | None) -> np.ndarray:
    """The width each length is padded to: the ladder's next width (a length above the ladder's
    top: the next multiple of 8), or the length itself without a ladder."""
    if ladder is None:
        return length
    index = np.searchsorted(ladder, length)
    beyond = -(-length // 8) * 8
    return np.where(index < len(ladder), ladder[np.minimum(index, len(ladder) - 1)], beyond)


def collate(src: list, tgt: list, ladder: np.ndarray | None = None):
    """Pad a batch: source + EOS, target input BOS + target, target output target + EOS; to the
    longest of each side, or up to its width on the ``ladder``.

    Vectorised (one scatter per tensor, no loop over sentences): on a GPU a step is fast
    enough that a Python loop over a large batch would be a visible share of it."""
    src_len = np.fromiter(map(len, src), dtype=np.int64, count=len(src))  # (B,)
    tgt_len = np.fromiter(map(len, tgt), dtype=np.int64, count=len(tgt))  # (B,)
    rows = np.arange(len(src))
    S, T = (int(padded_width(np.array(n.max() + 1), ladder)) for n in (src_len, tgt_len))
    src_ids = _pad(src, src_len, S, offset=0)  # (B, S)
    src_ids[rows, src_len] = EOS
    tgt_in = _pad(tgt, tgt_len, T, offset=1)  # (B, T)
    tgt_in[:, 0] = BOS
    tgt_out = _pad(tgt, tgt_len, T, offset=0)  # (B, T)
    tgt_out[rows, tgt_len] = EOS
    return torch.from_numpy(src_ids), torch.from_numpy(tgt_in), torch.from_numpy(tgt_out)


def _pad(seqs: list, lengths: np.ndarray, width: int, offset: int) -> np.ndarray:
    """(B, width) of PAD with sequence b at columns offset .. offset + len - 1."""
    out = np.full((len(seqs), width), PAD, dtype=np.int64)
    columns = np.arange(width)[None, :]  # (1, width)
    inside = (columns >= offset) & (columns < offset + lengths[:, None])  # (B, width)
    if lengths.sum():
        out[inside] = np.concatenate(seqs)  # row-major: sentence by sentence, in order
    return out


class TokenBatches:
    """Batches of sentence indices, each of at most ``batch_tokens`` padded tokens per side
    (``joint``: per packed source-and-target row); ``bucket_ladder`` > 1: padded to a ladder
    of widths rising by that factor (see above)."""

    def __init__(
        self,
        src: list,
        tgt: list,
        batch_tokens: int,
        seed: int,
        bucket_ladder: float = 0.0,
        joint: bool = False,
    ):
        self.src, self.tgt = src, tgt
        self.batch_tokens = batch_tokens
        self.seed = seed
        self.joint = joint
        self.src_len = np.array([len(s) + 1 for s in src])  # + EOS
        self.tgt_len = np.array([len(t) + 1 for t in tgt])  # + BOS or EOS
        longest = int(max(self.src_len.max(initial=1), self.tgt_len.max(initial=1)))
        self.ladder = width_ladder(bucket_ladder, longest) if bucket_ladder > 1 else None

    def epoch(self, epoch: int) -> list[np.ndarray]:
        """The batches of one epoch, in their shuffled order."""
        rng = np.random.default_rng([self.seed, epoch])
        ties = rng.random(len(self.src))
        if self.ladder is not None:
            batches = self._cell_batches(ties)
            return [batches[i] for i in rng.permutation(len(batches))]
        width = self.row_width(self.src_len, self.tgt_len)  # (N,) a row's cost
        keys = (ties, self.tgt_len, self.src_len) + ((width,) if self.joint else ())
        order = np.lexsort(keys)  # by length, random among equals
        batches, start, longest = [], 0, 0
        for i, idx in enumerate(order):
            longest_with = max(longest, width[idx])
            if i > start and longest_with * (i - start + 1) > self.batch_tokens:
                batches.append(order[start:i])
                start, longest_with = i, width[idx]
            longest = longest_with
        batches.append(order[start:])
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cell_batches(self, ties: np.ndarray) -> list[np.ndarray]:
        """Sentences grouped by (source width, target width) on the ladder, random within a
        cell; each cell cut into batches of as many sentences as its widths allow."""
        src_w = padded_width(self.src_len, self.ladder)
        tgt_w = padded_width(self.tgt_len, self.ladder)
        order = np.lexsort((ties, tgt_w, src_w))  # cell by cell
        cell = src_w[order] * 100_000 + tgt_w[order]
        starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
        batches = []
        for begin, end in zip(starts, [*starts[1:], len(order)]):
            first = order[begin]
            rows = max(1, self.batch_tokens // int(self.row_width(src_w[first], tgt_w[first])))
            batches += [order[i : min(i + rows, end)] for i in range(begin, end, rows)]
        return batches

    def row_width(self, src_len, tgt_len):
        """The tokens one row of these lengths costs: its longer side, or (joint) both."""
        return src_len + tgt_len if self.joint else np.maximum(src_len, tgt_len)

    def batch(self, indices, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """src, tgt_in, tgt_out of these pairs (the same at every ``epoch``; a data position's
        epoch is passed to every task's batches: masked sentences differ per epoch)."""
        src, tgt = [self.src[i] for i in indices], [self.tgt[i] for i in indices]
        return collate(src, tgt, self.ladder)

    def stream(self, epoch: int = 0, index: int = 0):
        """Yield (epoch, index, sentence indices) forever, starting at a data position."""
        while True:
            batches = self.epoch(epoch)
            for i in range(index, len(batches)):
                yield epoch, i, batches[i]
            epoch, index = epoch + 1, 0
