"""commonplace review: LLM reviews of a Markdown knowledge base against review gates."""

__version__ = "0.1.0"
