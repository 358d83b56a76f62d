"""Review services: planning, batches, ingest, execution, staleness and what reads the store."""
