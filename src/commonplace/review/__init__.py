"""Review runs: the store, the lifecycle that owns them, and what reads them."""
