"""The attention variants, the model's config and parameter counts, the Transformer."""
