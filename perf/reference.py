"""The benchmark's reference model: ``torch.nn.Transformer`` with our embedding, positions
and tied output layer, so that only the layers differ from ours."""

import warnings

import torch.nn as nn

from attnablate.model.config import ModelConfig
from attnablate.model.transformer import positional_encoding, sinusoid_frequencies


class ReferenceTransformer(nn.Module):
    """``torch.nn.Transformer`` (pre-LN, ReLU) with our embedding, sinusoidal positions and
    tied output layer, so that dimensions, vocabulary and parameter count equal ours."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        with warnings.catch_warnings():  # its nested-tensor fast path is for inference only
            warnings.filterwarnings("ignore", message="enable_nested_tensor")
            self.transformer = nn.Transformer(
                cfg.d_model,
                cfg.n_heads,
                cfg.enc_layers,
                cfg.dec_layers,
                cfg.d_ff,
                cfg.dropout,
                batch_first=True,
                norm_first=True,
                bias=cfg.bias,
            )
        self.dropout = nn.Dropout(cfg.dropout)
        self.register_buffer("inv_freq", sinusoid_frequencies(cfg.d_model), persistent=False)

    def embed_tokens(self, ids):
        """Token embedding × √C plus the sinusoidal positions ours adds: (B, T, C)."""
        positions = positional_encoding(ids.size(1), self.inv_freq)  # (T, C)
        return self.dropout(self.embed(ids) * self.cfg.d_model**0.5 + positions)

    def forward(self, src, tgt):
        src_pad = src.eq(self.cfg.pad_id)  # (B, S)
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device)
        h = self.transformer(
            self.embed_tokens(src),
            self.embed_tokens(tgt),
            tgt_mask=causal,
            src_key_padding_mask=src_pad,
            memory_key_padding_mask=src_pad,
            tgt_is_causal=True,
        )  # (B, T, C)
        return h @ self.embed.weight.T  # (B, T, V)
