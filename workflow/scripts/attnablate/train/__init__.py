"""Training one run: the loop, its state and records, devices and processes."""
