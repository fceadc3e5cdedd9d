"""attn-ablate: what each part of attention is worth.

The library behind the Snakemake workflow. Modules, one concern each:

- ``errors``    the ConfigurationError every bad setting raises
- ``variants``  the registry of attention variants and the per-site spec (``qq@enc``)
- ``model``     the encoder-decoder Transformer with pluggable attention
- ``params``    parameter accounting and parameter matching
- ``checkpoint`` saving and loading models with their config
"""
