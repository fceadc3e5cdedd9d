"""Translating, scoring and the paired significance tests of one run."""
