"""The use cases: runs and batches, ingest, execution, sweeps, staleness, acks,
relocation, repair, and what reads the store for them."""
