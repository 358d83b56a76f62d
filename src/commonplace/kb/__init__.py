"""The knowledge base: notes, gates and lenses as files on disk (SPEC 1-3)."""
