"""The pair protocol: decisions, findings, and (later) prompts and parsing."""
