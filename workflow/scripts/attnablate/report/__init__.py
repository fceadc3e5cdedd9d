"""Aggregating runs into tables, the tests over seeds, the claims, figures and prose."""
