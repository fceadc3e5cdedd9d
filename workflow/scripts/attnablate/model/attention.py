"""Attention with pluggable projections: one ``Attention`` module serves every variant of
the study. Every attention site is built from an ``AttentionSpec`` (model/variants.py): the
spec decides which projections exist and which are shared (W_K tied to W_Q, W_V or W_O the
identity, a fixed rotation, ...); ``forward`` is the same for every variant. Also here: the
small modules some variants add, and attention written out (``reference_attention``) for
when the weights are wanted.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from attnablate.model.cache import KVCache
from attnablate.model.variants import AttentionSpec

# Finite, so that a position whose only target is itself (the first decoder position) still
# attends to itself; large enough that elsewhere its weight on itself is ~0 (Reformer).
SELF_MASK_PENALTY = -1e4


class KeyDiagonal(nn.Module):
    """Keys = D·q with a learned diagonal D (``qdq``). Starts at D = 1, that is at ``qq``."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.weight


class FixedRotation(nn.Module):
    """A fixed random matrix with orthonormal rows, drawn once at initialisation and never
    trained (``rq``, ``rv``, ``ro``): the control for an identity projection. Like the
    identity it has no parameters and keeps lengths, but head h reads a random subspace,
    a different one in every layer, instead of coordinates h·hd to (h+1)·hd of the input."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        # a buffer: saved in checkpoints and resume states, not counted, not updated
        self.register_buffer("weight", nn.init.orthogonal_(torch.empty(out_dim, in_dim)))

    def forward(self, x):
        return x @ self.weight.T


class SelfOffset(nn.Module):
    """A learned score per head added where a position meets itself (``qq_centred``); its start
    is set by ``Attention.start`` from the weights, and by a run on data (model/calibrate.py)."""

    def __init__(self, n_heads: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_heads))

    def forward(self, is_self, dtype):
        """is_self: (T, S) bool, True where query and key are one position. Returns the
        additive scores (1, H, T, S)."""
        return is_self.to(dtype) * self.weight.to(dtype).view(1, -1, 1, 1)


class UnitNorm(nn.Module):
    """Scale the last dimension to unit length (keys of ``qq_selfmask``)."""

    def forward(self, x):
        return F.normalize(x, dim=-1)


def reference_attention(q, k, v, mask=None, dropout_p=0.0, is_causal=False):
    """F.scaled_dot_product_attention written out, returning the weights as well; the same
    arguments, so that the analysis path sees exactly what the training path computes.

    Used by the tests and by analysis hooks that need to see where tokens look.
    q: (B, H, T, hd); k, v: (B, Hkv, S, hd) with Hkv dividing H; mask: additive, broadcastable
    to (B, H, T, S); is_causal: query t sees keys 0..t (SDPA's top-left alignment).
    Returns (B, H, T, hd) and the weights (B, H, T, S).
    """
    groups = q.size(1) // k.size(1)
    k = k.repeat_interleave(groups, dim=1)  # (B, H, S, hd): query head h reads kv head h // groups
    v = v.repeat_interleave(groups, dim=1)  # (B, H, S, hd)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, T, S)
    if mask is not None:
        scores = scores + mask
    if is_causal:
        T, S = scores.shape[-2:]
        future = torch.ones(T, S, dtype=torch.bool, device=q.device).triu(1)  # (T, S)
        scores = scores.masked_fill(future, float("-inf"))
    weights = scores.softmax(dim=-1)  # (B, H, T, S)
    return F.dropout(weights, dropout_p) @ v, weights


class Attention(nn.Module):
    """Multi-head attention whose projections are built from an AttentionSpec.

    A tied projection is the same module registered under two names (``k_proj is q_proj``),
    so it is one set of weights, counted and updated once. An identity projection is
    ``nn.Identity``. A tied W_K reuses the product it is tied to (W_Q's in self-attention,
    W_V's anywhere), so it costs no matrix product.
    """

    def __init__(self, d_model: int, n_heads: int, spec: AttentionSpec, dropout: float, bias: bool):
        super().__init__()
        self.n_heads = n_heads
        self.kv_heads = spec.kv_heads or n_heads
        self.head_dim = d_model // n_heads
        self.dropout = dropout
        kv_dim = self.kv_heads * self.head_dim

        def projection(kind: str, out_dim: int) -> nn.Module:
            if kind == "linear":
                return nn.Linear(d_model, out_dim, bias=bias)
            return FixedRotation(d_model, out_dim) if kind == "random" else nn.Identity()

        self.q_proj = projection(spec.query, d_model)
        self.v_proj = projection(spec.value, kv_dim)
        tied = {"query": self.q_proj, "value": self.v_proj}
        self.k_proj = tied[spec.key] if spec.key in tied else projection(spec.key, kv_dim)
        self.out_proj = projection(spec.output, d_model)
        self.key_scale = KeyDiagonal(kv_dim) if spec.key_diagonal else nn.Identity()
        self.key_norm = UnitNorm() if spec.key_l2norm else nn.Identity()
        self.self_mask_penalty = SELF_MASK_PENALTY if spec.self_mask else 0.0
        self.self_offset = SelfOffset(n_heads) if spec.self_offset else None
        self.key_init = spec.key_init

    @property
    def marks_self(self) -> bool:
        """Whether a position's score with itself differs from the plain product."""
        return bool(self.self_mask_penalty) or self.self_offset is not None

    @torch.no_grad()
    def start(self):
        """The start a variant sets once its projections are drawn (the initialisation
        controls): ``qk_symstart``'s W_K becomes a copy of W_Q; ``qq_centred``'s offset becomes
        minus the excess of a position's score with itself (a training run then fits it, with
        a temperature, on data: model/calibrate.py). A layer-normed input has ‖x‖² = C,
        so over directions E‖W_h x‖² = ‖W_h‖²_F: the score ‖q_h‖²/√hd of a position with itself
        starts ‖W_h‖²_F/√hd above that of two independent positions (mean 0)."""
        if self.key_init == "query":
            self.k_proj.weight.copy_(self.q_proj.weight)
        if self.self_offset is not None:
            w = self.q_proj.weight.view(self.n_heads, self.head_dim, -1)  # (H, hd, C)
            self.self_offset.weight.copy_(-w.pow(2).sum((1, 2)) / math.sqrt(self.head_dim))

    def split_heads(self, x, heads: int):
        B, T, _ = x.shape
        return x.view(B, T, heads, self.head_dim).transpose(1, 2)  # (B, heads, T, hd)

    def project(self, x, source, cache: "KVCache | None" = None):
        """Queries from x (B, T, C); keys and values from source (B, S, C), or from the cache.

        Self-attention passes ``source is x``; its cache takes this call's keys and values and
        gives back every position's. Cross-attention's cache holds the source's keys and
        values after the first call. Returns q (B, H, T, hd) and k, v (B, Hkv, S_total, hd).
        """
        q_out = self.q_proj(x)  # (B, T, C)
        q = self.split_heads(q_out, self.n_heads)  # (B, H, T, hd)
        if cache is not None and cache.filled:
            return q, cache.k, cache.v
        v_out = self.v_proj(source)  # (B, S, Hkv*hd)
        if self.k_proj is self.q_proj and source is x:
            k_out = q_out  # tied to W_Q in self-attention: the same product
        elif self.k_proj is self.v_proj:
            k_out = v_out  # tied to W_V: the same product
        else:
            k_out = self.k_proj(source)  # (B, S, Hkv*hd)
        k = self.key_norm(self.split_heads(self.key_scale(k_out), self.kv_heads))  # (B,Hkv,S,hd)
        v = self.split_heads(v_out, self.kv_heads)  # (B, Hkv, S, hd)
        if cache is not None:
            k, v = cache.update(k, v)  # (B, Hkv, S_total, hd) each
        return q, k, v

    def mask(self, T: int, S: int, causal: bool, key_padding_mask, dtype, device, hidden=None):
        """Additive mask (B|1, 1, T, S), or None; queries are the last T of S positions.
        ``hidden``: (B, T, S), True where a key is hidden from a query besides the causal and
        padding masks (a decoder-only model's prefix and padding).

        Returns (mask, is_causal): a plain causal mask is left to the kernel's is_causal flag.
        """
        causal = causal and T > 1  # one query, the last position, may see every key: no mask
        plain = key_padding_mask is None and hidden is None and not self.marks_self
        if causal and T == S and plain:
            return None, True
        if not causal and plain:
            return None, False
        q_pos = torch.arange(S - T, S, device=device)[:, None]  # (T, 1)
        k_pos = torch.arange(S, device=device)[None, :]  # (1, S)
        mask = torch.zeros(T, S, device=device, dtype=dtype)  # (T, S)
        if causal:
            mask = mask.masked_fill(k_pos > q_pos, float("-inf"))
        if self.self_mask_penalty:
            mask = mask.masked_fill(k_pos == q_pos, self.self_mask_penalty)
        mask = mask[None, None]  # (1, 1, T, S)
        if self.self_offset is not None:
            mask = mask + self.self_offset(k_pos == q_pos, dtype)  # (1, H, T, S)
        if key_padding_mask is not None:  # (B, 1 or H, T, S)
            mask = mask.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        if hidden is not None:  # (B, 1 or H, T, S)
            mask = mask.masked_fill(hidden[:, None], float("-inf"))
        return mask, False

    def position_mask(self, S: int, pos: torch.Tensor, dtype):
        """Additive mask (1, 1, 1, S) of one query at position ``pos`` (a 0-d device tensor)
        over a static cache of S positions: later positions hold nothing yet."""
        k_pos = torch.arange(S, device=pos.device)  # (S,)
        mask = torch.zeros(S, device=pos.device, dtype=dtype).masked_fill(
            k_pos > pos, float("-inf")
        )
        if self.self_mask_penalty:
            mask = mask.masked_fill(k_pos == pos, self.self_mask_penalty)
        mask = mask[None, None, None, :]  # (1, 1, 1, S)
        if self.self_offset is not None:
            mask = mask + self.self_offset((k_pos == pos)[None], dtype)  # (1, H, 1, S)
        return mask

    def forward(
        self,
        x,
        source=None,
        key_padding_mask=None,
        causal=False,
        cache=None,
        weights: list | None = None,
        hidden=None,
    ):
        """x: (B, T, C) the queries' input; source: (B, S, C) the keys' and values' input
        (None: self-attention); key_padding_mask: (B, S), True at padding; causal: position t
        sees only positions <= t; hidden: (B, T, S), True where a key is hidden from a query
        (see mask); cache: a KVCache kept across decoding steps; ``weights``: a list to append
        the attention weights (B, H, T, S) to, computed on the reference path (the same
        numbers: tested). Returns (B, T, C).
        """
        q, k, v = self.project(x, x if source is None else source, cache)
        T, S = q.size(2), k.size(2)
        position = None if cache is None else cache.position
        if causal and position is not None:  # a static cache: positions past it hold nothing
            mask, is_causal = self.position_mask(S, position, q.dtype), False
        else:
            mask, is_causal = self.mask(T, S, causal, key_padding_mask, q.dtype, q.device, hidden)
        dropout_p = self.dropout if self.training else 0.0
        if weights is not None:
            y, w = reference_attention(q, k, v, mask, dropout_p, is_causal)
            weights.append(w)
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                dropout_p=dropout_p,
                is_causal=is_causal,
                enable_gqa=self.kv_heads != self.n_heads,
            )  # (B, H, T, hd)
        return self.out_proj(y.transpose(1, 2).reshape(x.size(0), T, -1))  # (B, T, C)

    def scores(self, x, source=None):
        """Pre-softmax scores q·kᵀ/√hd with no mask: (B, H, T, S). For tests and analysis."""
        q, k, _ = self.project(x, x if source is None else source)
        k = k.repeat_interleave(self.n_heads // self.kv_heads, dim=1)  # (B, H, S, hd)
        return q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
