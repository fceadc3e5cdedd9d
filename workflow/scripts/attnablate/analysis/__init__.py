"""The science of a report: statistics over seeds, the per-seed tests and their correction,
the comparison against qk, the claims tested as stated, the budget ladder, scaling laws, the
controls' contrasts and the words a verdict can be; report/ turns them into tables, figures
and prose."""
