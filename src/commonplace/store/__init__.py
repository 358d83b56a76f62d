"""The store layer: the one owner of the SQLite file and the only place SQL
lives. `connection` opens the file and offers transactions, `migrations`
holds the schema, and each other module is the named queries of one subject."""
