"""The model's config: everything needed to rebuild a model, saved in every checkpoint.

Apart from transformer.py so that it needs no PyTorch: the workflow builds every run's config and
counts its parameters (params.py) each time Snakemake starts, on the login node too.
"""

from dataclasses import dataclass

from attnablate.errors import ConfigurationError
from attnablate.model.variants import FAMILY_SITES, site_specs

PREFIXES = ("bidirectional", "causal")  # how a decoder-only model's source attends to itself


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; saved inside every checkpoint. Frozen: a config
    is a value (hashable, so parameter counts of a config can be cached)."""

    vocab_size: int = 8000  # joint source/target sentencepiece vocabulary
    d_model: int = 128  # width of the residual stream; even (sin/cos position pairs)
    n_heads: int = 4  # attention heads per site; must divide d_model
    enc_layers: int = 2  # encoder layers
    dec_layers: int = 2  # decoder layers
    d_ff: int = 512  # hidden width of every MLP; what parameter matching widens
    dropout: float = 0.1  # on embeddings, attention weights and residual branches
    bias: bool = True  # biases in projections and MLPs, as in torch.nn.MultiheadAttention
    pad_id: int = 0  # padding token: never attended to as a source key
    variant: str = "qk"  # attention variant per site, e.g. "qq@enc" (see variants.py)
    # encoder_decoder; decoder_only: one stack of dec_layers over source ⟨EOS⟩ target;
    # encoder_only: one bidirectional stack of enc_layers, trained as a masked language model
    architecture: str = "encoder_decoder"
    prefix: str = "bidirectional"  # decoder_only: the source sees all of itself, or causal

    def validate(self) -> None:
        """Raise ConfigurationError naming the first bad field and what it allows."""
        if self.architecture not in FAMILY_SITES:
            raise ConfigurationError(
                "architecture", f"one of {', '.join(FAMILY_SITES)}, got {self.architecture!r}"
            )
        if self.prefix not in PREFIXES:
            raise ConfigurationError("prefix", f"one of {', '.join(PREFIXES)}, got {self.prefix!r}")
        decoder_only = self.architecture == "decoder_only"
        encoder_only = self.architecture == "encoder_only"
        if not decoder_only and self.prefix != PREFIXES[0]:
            raise ConfigurationError(
                "prefix",
                f"{self.prefix!r} applies to a decoder_only model's source prefix; an "
                f"{self.architecture} has none: drop it",
            )
        if decoder_only and self.enc_layers != 0:
            raise ConfigurationError(
                "enc_layers", f"a decoder_only model has no encoder: 0, got {self.enc_layers!r}"
            )
        if encoder_only and self.dec_layers != 0:
            raise ConfigurationError(
                "dec_layers", f"an encoder_only model has no decoder: 0, got {self.dec_layers!r}"
            )
        stacks = {"decoder_only": ("dec_layers",), "encoder_only": ("enc_layers",)}
        present = stacks.get(self.architecture, ("enc_layers", "dec_layers"))
        positive = ("enc_layers", "vocab_size", "d_model", "n_heads", "dec_layers", "d_ff")
        for name in (n for n in positive if n in present or not n.endswith("_layers")):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(name, f"must be a positive integer, got {value!r}")
        if self.d_model % 2:
            raise ConfigurationError(
                "d_model", f"must be even (sin/cos positions), got {self.d_model}"
            )
        if self.d_model % self.n_heads:
            raise ConfigurationError(
                "n_heads", f"must divide d_model={self.d_model}, got {self.n_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigurationError("dropout", f"must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigurationError("pad_id", f"must be in [0, vocab_size), got {self.pad_id}")
        site_specs(self.variant, self.n_heads, key="variant", family=self.architecture)
