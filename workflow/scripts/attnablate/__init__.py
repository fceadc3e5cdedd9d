"""attn-ablate: what each part of attention is worth.

The library behind the Snakemake workflow; each module has one concern (see CONTRIBUTING.md's
architecture section). Step scripts in workflow/scripts call one function of it each.
"""
