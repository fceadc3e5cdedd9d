"""What a model keeps across incremental decoding steps (beam search, model/search.py): each
attention site's keys and values (growing, the source's, or static buffers a CUDA graph
replays), per decoder layer and per model family."""

from dataclasses import dataclass

import torch


class KVCache:
    """The keys and values one attention site keeps across decoding steps. ``update`` takes a
    step's keys and values (B, Hkv, T, hd) and returns every position's so far; ``filled``:
    the keys are complete and need no projection (cross-attention after its first step);
    ``position``: a static cache's next position (a 0-d device tensor), None where the
    positions are the keys' own (a growing cache: the causal mask follows from them)."""

    filled: bool = False
    position: torch.Tensor | None = None

    def __init__(self):
        self.k = self.v = None  # (B, Hkv, S, hd) each, once a step has run

    def update(self, k, v):
        raise NotImplementedError

    def reorder(self, index) -> None:
        """Keep rows ``index`` (beam search: each hypothesis takes its parent's)."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


class GrowingKV(KVCache):
    """Decoder self-attention, step by step: each step's keys and values appended."""

    def update(self, k, v):
        if self.k is not None:
            k = torch.cat([self.k, k], dim=2)  # (B, Hkv, S_total, hd)
            v = torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class SourceKV(KVCache):
    """Cross-attention: the source's keys and values, projected at the first step, reused."""

    @property
    def filled(self) -> bool:
        return self.k is not None

    def update(self, k, v):
        self.k, self.v = k, v
        return k, v


class StaticKV(KVCache):
    """Decoder self-attention on preallocated buffers of every position (B, Hkv, L, hd),
    written in place at ``position``: every step has the same shapes, and reads its position
    from the device, so a CUDA graph can replay it."""

    def __init__(self, k, v, position):
        self.k, self.v, self.position = k, v, position

    def update(self, k, v):
        self.k.index_copy_(2, self.position.view(1), k)  # (B, Hkv, L, hd)
        self.v.index_copy_(2, self.position.view(1), v)
        return self.k, self.v

    def reorder(self, index) -> None:
        """In place: a captured graph keeps reading these buffers."""
        self.k.copy_(self.k.index_select(0, index))
        self.v.copy_(self.v.index_select(0, index))


@dataclass
class LayerCache:
    """One decoder layer's caches."""

    self_kv: KVCache  # self-attention's: growing, or static
    cross_kv: SourceKV  # cross-attention's


@dataclass
class DecoderCache:
    """The caches of every decoder layer across incremental decoding steps (growing
    self-attention caches: beam search drops finished sentences from them)."""

    layers: list  # LayerCache per decoder layer
    length: int = 0  # target positions decoded so far (the next position's index)

    def advance(self, steps: int) -> None:
        self.length += steps

    def reorder(self, index, sentences=None):
        """Keep self-attention rows ``index`` (beam search): (B',) indices into the current
        batch. The cross-attention cache has one row per source sentence (its keys and values
        depend on the source alone): ``sentences`` (n',) keeps those rows, None leaves it."""
        for layer in self.layers:
            layer.self_kv.reorder(index)
            if sentences is not None:
                layer.cross_kv.reorder(sentences)


@dataclass
class StaticCache:
    """The caches of every decoder layer with ``L`` target positions preallocated for every
    row (StaticKV), all written at one ``position``."""

    layers: list  # LayerCache per decoder layer, self-attention a StaticKV
    position: torch.Tensor  # 0-d long: the index of the next target position

    @property
    def length(self) -> torch.Tensor:
        return self.position

    def advance(self, steps: int) -> None:
        self.position.add_(steps)  # in place: a captured graph keeps reading this tensor

    def reorder_self(self, index) -> None:
        """Every self-attention cache follows its hypothesis to parent row ``index`` (N,), in
        place; cross-attention keys are the same for the k rows of one sentence."""
        for layer in self.layers:
            layer.self_kv.reorder(index)

    def buffers(self) -> list:
        """The tensors a decoding step writes: the position and every self-attention cache."""
        kv = [t for layer in self.layers for t in (layer.self_kv.k, layer.self_kv.v)]
        return [self.position, *kv]


@dataclass
class PrefixCache:
    """A decoder-only model's state across decoding steps: every layer's keys and values of
    the source prefix and of the target so far (growing), which of those keys are padding,
    and each row's next position (its source length plus the target decoded so far)."""

    layers: list  # GrowingKV per layer
    padding: torch.Tensor  # (B, S + t) bool: True at the prefix's padding
    position: torch.Tensor  # (B, 1) long: each row's next position

    def advance(self, steps: int) -> None:
        grown = self.padding.new_zeros(self.padding.size(0), steps)  # (B, steps)
        self.padding = torch.cat([self.padding, grown], dim=1)  # (B, S + t + steps)
        self.position = self.position + steps

    def reorder(self, index, sentences=None) -> None:
        """Keep rows ``index`` (beam search); the prefix lives in every row, so
        ``sentences`` has nothing of its own to select."""
        for kv in self.layers:
            kv.reorder(index)
        self.padding, self.position = self.padding[index], self.position[index]
