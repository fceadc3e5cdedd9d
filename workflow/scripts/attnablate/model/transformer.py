"""The Transformers of the study, with pluggable attention (model/attention.py): an
encoder-decoder, one decoder-only stack over the source as a prefix, and one encoder-only
stack (a masked language model).

Read top to bottom: MLP → encoder and decoder layers → the embedding the models share → the
encoder-decoder → the single stack → the decoder-only model → the encoder-only model (their
config, ``ModelConfig``, is in model/config.py, without PyTorch: the workflow reads it every
time Snakemake starts; the decoding caches are in model/cache.py).

Pre-LN layers, sinusoidal positions, one embedding shared by source, target and the output
layer (a joint sentencepiece vocabulary makes that possible).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnablate.errors import ConfigurationError
from attnablate.model.attention import Attention
from attnablate.model.cache import (
    DecoderCache,
    GrowingKV,
    LayerCache,
    PrefixCache,
    SourceKV,
    StaticCache,
    StaticKV,
)
from attnablate.model.config import ModelConfig
from attnablate.model.variants import AttentionSpec, site_specs


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, bias: bool):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff, bias=bias)
        self.proj = nn.Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        return self.proj(F.relu(self.fc(x)))  # (B, T, C)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: "ModelConfig", spec: AttentionSpec):
        super().__init__()
        self.ln_attn = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.n_heads, spec, cfg.dropout, cfg.bias)
        self.ln_mlp = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg.d_model, cfg.d_ff, cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, src_pad, weights: list | None = None, hidden=None, cache=None):
        """``weights``: a list to append this layer's attention weights to (analysis);
        ``hidden``: keys hidden per query, ``cache``: a GrowingKV (the decoder-only model's
        layers, which are these)."""
        y = self.attn(
            self.ln_attn(x), key_padding_mask=src_pad, weights=weights, hidden=hidden, cache=cache
        )
        x = x + self.dropout(y)
        return x + self.dropout(self.mlp(self.ln_mlp(x)))  # (B, S, C)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: "ModelConfig", self_spec: AttentionSpec, cross_spec: AttentionSpec):
        super().__init__()
        self.ln_self = nn.LayerNorm(cfg.d_model)
        self.self_attn = Attention(cfg.d_model, cfg.n_heads, self_spec, cfg.dropout, cfg.bias)
        self.ln_cross = nn.LayerNorm(cfg.d_model)
        self.cross_attn = Attention(cfg.d_model, cfg.n_heads, cross_spec, cfg.dropout, cfg.bias)
        self.ln_mlp = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg.d_model, cfg.d_ff, cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, src_pad, cache=None, weights: list | None = None, beam: int = 1):
        """``weights``: a list to append the self- then cross-attention weights to. ``beam``:
        x holds ``beam`` consecutive rows per row of memory (beam search), whose queries then
        attend to their one memory row together, as one longer query sequence."""
        self_cache, cross_cache = (None, None) if cache is None else (cache.self_kv, cache.cross_kv)
        y = self.self_attn(self.ln_self(x), causal=True, cache=self_cache, weights=weights)
        x = x + self.dropout(y)
        N, T, C = x.shape
        y = self.cross_attn(
            self.ln_cross(x).view(N // beam, beam * T, C),  # (N/beam, beam*T, C)
            memory,
            key_padding_mask=src_pad,
            cache=cross_cache,
            weights=weights,
        )
        x = x + self.dropout(y.view(N, T, C))
        return x + self.dropout(self.mlp(self.ln_mlp(x)))  # (B, T, C)


def init_weights(module, d_model: int) -> None:
    """Xavier projections, zero biases, embeddings of std 1/√d_model, then each attention
    site's own start (apply visits a site's projections before the site)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=d_model**-0.5)
    elif isinstance(module, Attention):
        module.start()


def positional_encoding(length: int, inv_freq: torch.Tensor, offset=0) -> torch.Tensor:
    """Sinusoidal positions offset .. offset + length - 1, sin and cos interleaved: (T, C).
    ``offset`` may be a 0-d tensor (a decoding step whose position lives on the device), or
    one per row (B, 1), which gives (B, T, C)."""
    pos = torch.arange(length, device=inv_freq.device).float() + offset  # (T,) or (B, T)
    angles = pos[..., None] * inv_freq  # (..., T, C/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)  # (..., T, C)


def sinusoid_frequencies(d_model: int) -> torch.Tensor:
    """1 / 10000^(2i/C) for the sin/cos position pairs: (C/2,). Computed on the CPU even
    inside a meta-device context, where arithmetic is slow."""
    exponents = torch.arange(0, d_model, 2, device="cpu").float() / d_model
    return 1.0 / 10000**exponents


class EmbeddedModel(nn.Module):
    """What every model shares: its config, checked for the family a subclass builds
    (``architecture``), and one embedding for source, target and the tied output layer (a
    joint sentencepiece vocabulary makes that possible), scaled by √C, with sinusoidal
    positions and dropout. ``init=False`` leaves the embedding as allocated: for a model built
    on the meta device only to count its parameters (initialising costs a second)."""

    architecture: str  # the family the subclass builds

    def __init__(self, cfg: ModelConfig, init: bool = True):
        super().__init__()
        cfg.validate()
        if cfg.architecture != self.architecture:
            raise ConfigurationError(
                "architecture", f"{type(self).__name__} builds {self.architecture} (build)"
            )
        self.cfg = cfg
        weight = None if init else torch.empty(cfg.vocab_size, cfg.d_model)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, _weight=weight)
        self.dropout = nn.Dropout(cfg.dropout)
        self.register_buffer("inv_freq", sinusoid_frequencies(cfg.d_model), persistent=False)

    def embed_tokens(self, ids, offset=0):
        """Token embedding × √C plus sinusoidal positions from ``offset`` (an int, or (B, 1)
        per row): (B, T, C)."""
        positions = positional_encoding(ids.size(1), self.inv_freq, offset)  # (T|B,T, C)
        return self.dropout(self.embed(ids) * math.sqrt(self.cfg.d_model) + positions)

    def logits(self, x):
        """x: (B, T, C) normed. Returns (B, T, V): the tied output layer."""
        return x @ self.embed.weight.T


class Transformer(EmbeddedModel):
    architecture = "encoder_decoder"

    def __init__(self, cfg: ModelConfig, init: bool = True):
        super().__init__(cfg, init)
        specs = site_specs(cfg.variant, cfg.n_heads)
        self.encoder = nn.ModuleList(EncoderLayer(cfg, specs["enc"]) for _ in range(cfg.enc_layers))
        self.decoder = nn.ModuleList(
            DecoderLayer(cfg, specs["dec"], specs["cross"]) for _ in range(cfg.dec_layers)
        )
        self.enc_norm = nn.LayerNorm(cfg.d_model)
        self.dec_norm = nn.LayerNorm(cfg.d_model)
        if init:
            self.apply(self._init_weights)

    def _init_weights(self, module):
        init_weights(module, self.cfg.d_model)

    def encode(self, src, weights: list | None = None):
        """src: (B, S) ids. Returns memory (B, S, C) and the source padding mask (B, S);
        ``weights``: a list to append each layer's attention weights to."""
        src_pad = src.eq(self.cfg.pad_id)  # (B, S)
        x = self.embed_tokens(src)
        for layer in self.encoder:
            x = layer(x, src_pad, weights)
        return self.enc_norm(x), src_pad

    def new_cache(self) -> DecoderCache:
        return DecoderCache([LayerCache(GrowingKV(), SourceKV()) for _ in self.decoder])

    def new_static_cache(self, memory, src_pad, length: int) -> StaticCache:
        """A StaticCache of ``length`` positions for memory's rows, cross-attention keys and
        values computed now (one decoder pass over a dummy token fills them)."""
        N, device = memory.size(0), memory.device
        position = torch.zeros((), dtype=torch.long, device=device)
        layers = []
        for layer in self.decoder:
            attn = layer.self_attn
            shape = (N, attn.kv_heads, length, attn.head_dim)
            k, v = (torch.zeros(shape, dtype=memory.dtype, device=device) for _ in "kv")
            layers.append(LayerCache(StaticKV(k, v, position), SourceKV()))
        cache = StaticCache(layers, position)
        self.decode(torch.zeros(N, 1, dtype=torch.long, device=device), memory, src_pad, cache)
        cache.position.zero_()  # the dummy pass wrote position 0: the first real step rewrites it
        return cache

    def decode(
        self,
        tgt,
        memory,
        src_pad,
        cache: DecoderCache | None = None,
        weights: list | None = None,
        beam: int = 1,
    ):
        """tgt: (B, T) target ids (shifted right); with a cache, only the new positions.
        memory (B / beam, S, C) and src_pad (B / beam, S): ``beam`` consecutive target rows
        share one source row (beam search reads each sentence's memory once, not k times).

        Returns logits (B, T, V). Right-padded targets need no mask of their own: the causal
        mask keeps every real position away from the padding after it. ``weights``: a list to
        append each layer's self- and cross-attention weights to.
        """
        offset = 0 if cache is None else cache.length
        x = self.embed_tokens(tgt, offset)
        for i, layer in enumerate(self.decoder):
            layer_cache = None if cache is None else cache.layers[i]
            x = layer(x, memory, src_pad, layer_cache, weights, beam)
        if cache is not None:
            cache.advance(tgt.size(1))
        return self.logits(self.dec_norm(x))  # (B, T, V)

    def forward(self, src, tgt):
        """src: (B, S), tgt: (B, T) target input ids. Returns logits (B, T, V)."""
        memory, src_pad = self.encode(src)
        return self.decode(tgt, memory, src_pad)

    def attention_weights(self, src, tgt) -> dict:
        """Every site's attention weights on one batch, as attention_modules orders the sites:
        {(site, layer): (B, H, T, S)}; for analysis (the reference attention path)."""
        weights: list = []
        memory, src_pad = self.encode(src, weights)
        self.decode(tgt, memory, src_pad, weights=weights)
        keys = [(site, layer) for site, layer, _ in self.attention_modules()]
        return dict(zip(keys, weights))

    def attention_modules(self):
        """(site, layer index, Attention) for every attention site, encoder first."""
        for i, layer in enumerate(self.encoder):
            yield "enc", i, layer.attn
        for i, layer in enumerate(self.decoder):
            yield "dec", i, layer.self_attn
            yield "cross", i, layer.cross_attn


class OneStack(EmbeddedModel):
    """What the single-stack families share: ``layers`` of self-attention and MLP (encoder
    layers; the decoder-only model hides keys by its prefix mask), one final norm, and one
    attention site, ``self``. The stack is the family's one: enc_layers or dec_layers (the
    other is 0)."""

    def __init__(self, cfg: ModelConfig, init: bool = True):
        super().__init__(cfg, init)
        spec = site_specs(cfg.variant, cfg.n_heads, family=cfg.architecture)["self"]
        depth = cfg.enc_layers + cfg.dec_layers
        self.layers = nn.ModuleList(EncoderLayer(cfg, spec) for _ in range(depth))
        self.norm = nn.LayerNorm(cfg.d_model)
        if init:
            self.apply(lambda module: init_weights(module, cfg.d_model))

    def attention_modules(self):
        """(site, layer index, Attention) for every attention site."""
        for i, layer in enumerate(self.layers):
            yield "self", i, layer.attn

    def attention_weights(self, *batch) -> dict:
        """Every layer's attention weights on one batch (what ``forward`` takes), {("self",
        layer): (B, H, L, L)} over the rows the stack sees (a decoder-only model's packed
        rows); for analysis (the reference attention path)."""
        weights: list = []
        self(*batch, weights=weights)
        return {("self", i): w for i, w in enumerate(weights)}


class DecoderOnlyTransformer(OneStack):
    """One stack over ``source ⟨EOS⟩ ⟨BOS⟩ target`` (a prefix language model): the source part
    attends to all of itself (``prefix: bidirectional``) or causally, the target part causally
    to the source and to its own past; the loss is on target tokens only. ``forward`` takes
    and returns what the encoder-decoder's does, so training and validation are the same for
    both families. Each row is packed (its source, then its target, then padding), so that
    padding never shifts a sentence's positions."""

    architecture = "decoder_only"

    def pack(self, src, tgt):
        """src (B, S), tgt (B, T), each right-padded. Returns the packed ids (B, L), L = S + T,
        the keys hidden from each query (B, L, L), and each target position's index in the
        packed row (B, T)."""
        pad = self.cfg.pad_id
        S, T = src.size(1), tgt.size(1)
        src_len = src.ne(pad).sum(1, keepdim=True)  # (B, 1)
        tgt_len = tgt.ne(pad).sum(1, keepdim=True)  # (B, 1)
        p = torch.arange(S + T, device=src.device)[None, :]  # (1, L)
        from_src = src.gather(1, p.clamp(max=S - 1).expand(src.size(0), -1))  # (B, L)
        from_tgt = tgt.gather(1, (p - src_len).clamp(0, max(T - 1, 0)))  # (B, L)
        ids = torch.where(p < src_len, from_src, torch.where(p < src_len + tgt_len, from_tgt, pad))
        targets = src_len + torch.arange(T, device=src.device)[None, :]  # (B, T)
        hidden = self.hidden_keys(p, src_len, src_len + tgt_len)
        return ids, hidden, targets.clamp(max=S + T - 1)

    def hidden_keys(self, p, prefix_len, real_len):
        """(B, L, L): True where a key is hidden from a query, for positions ``p`` (1, L),
        the prefix's length and the real length of each row (B, 1) each."""
        real = p < real_len  # (B, L)
        q, k = p[:, :, None], p[:, None, :]  # (1, L, 1), (1, 1, L)
        visible = (k <= q) & real[:, None, :]  # causal, real keys: (B, L, L)
        if self.cfg.prefix == "bidirectional":
            in_prefix = p < prefix_len  # (B, L)
            visible = visible | (in_prefix[:, :, None] & in_prefix[:, None, :])
        return ~(visible | (k == q))  # a padding query sees itself: no empty row, no NaN

    def forward(self, src, tgt, weights: list | None = None):
        """src: (B, S), tgt: (B, T) target input ids. Returns logits (B, T, V) of the next
        target token at every target position; ``weights``: a list to append each layer's
        attention weights (B, H, L, L) to."""
        ids, hidden, targets = self.pack(src, tgt)
        x = self.embed_tokens(ids)  # (B, L, C)
        for layer in self.layers:
            x = layer(x, None, weights, hidden)
        x = x.gather(1, targets[:, :, None].expand(-1, -1, x.size(-1)))  # (B, T, C)
        return self.logits(self.norm(x))  # (B, T, V)

    def prefill(self, src) -> PrefixCache:
        """Run the source prefix (B, S) through the stack into a new PrefixCache: its keys
        and values, masked as in training (pack with an empty target)."""
        src_len = src.ne(self.cfg.pad_id).sum(1, keepdim=True)  # (B, 1)
        p = torch.arange(src.size(1), device=src.device)[None, :]  # (1, S)
        hidden = self.hidden_keys(p, src_len, src_len)  # (B, S, S)
        cache = PrefixCache([GrowingKV() for _ in self.layers], src.eq(self.cfg.pad_id), src_len)
        x = self.embed_tokens(src)  # (B, S, C)
        for layer, kv in zip(self.layers, cache.layers):
            x = layer(x, None, hidden=hidden, cache=kv)
        return cache

    def decode(self, tgt, cache: PrefixCache):
        """tgt: (B, T) the next target ids after the cache's positions. Returns logits
        (B, T, V); the cache takes their keys and values. Each new position sees the real
        prefix and the target before it, as in training."""
        T = tgt.size(1)
        x = self.embed_tokens(tgt, cache.position)  # (B, T, C)
        S = cache.padding.size(1)
        p = torch.arange(S + T, device=tgt.device)[None, :]  # (1, S + T)
        causal = p[:, None, S:].transpose(1, 2) < p[:, None, :]  # (1, T, S + T): keys ahead
        padding = torch.cat([cache.padding, cache.padding.new_zeros(tgt.size(0), T)], dim=1)
        hidden = causal | padding[:, None, :]  # (B, T, S + T)
        for layer, kv in zip(self.layers, cache.layers):
            x = layer(x, None, hidden=hidden, cache=kv)
        cache.advance(T)
        return self.logits(self.norm(x))  # (B, T, V)


class EncoderOnlyTransformer(OneStack):
    """One bidirectional stack over a sentence (a BERT-like encoder), trained as a masked
    language model (data/masking.py): every position attends to every real position of its
    row, and the tied output layer predicts each position's token. Its one attention site is
    ``self``."""

    architecture = "encoder_only"

    def forward(self, ids, weights: list | None = None):
        """ids: (B, T) right-padded, some positions masked. Returns logits (B, T, V) of every
        position's token; ``weights``: a list to append each layer's attention weights
        (B, H, T, T) to."""
        pad = ids.eq(self.cfg.pad_id)  # (B, T)
        x = self.embed_tokens(ids)  # (B, T, C)
        for layer in self.layers:
            x = layer(x, pad, weights)
        return self.logits(self.norm(x))  # (B, T, V)


FAMILIES = {
    "encoder_decoder": Transformer,
    "decoder_only": DecoderOnlyTransformer,
    "encoder_only": EncoderOnlyTransformer,
}


def build(cfg: ModelConfig, init: bool = True) -> nn.Module:
    """The model of ``cfg``'s family (an unknown one is refused by the config's check)."""
    return FAMILIES.get(cfg.architecture, Transformer)(cfg, init)
