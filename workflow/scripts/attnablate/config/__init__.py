"""Reading and checking an experiment's config: what runs it plans."""
