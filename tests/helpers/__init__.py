"""Helpers shared by the test folders: knowledge bases in git, running the
commands, raw looks at a store file, fake reviewers and vendor APIs. Fixtures
stay in the conftest.py files; everything they and the tests share is here."""
