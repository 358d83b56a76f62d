"""What one command works on: the KB's configuration, its review store, and
the directory the command was started from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from commonplace.config import STORE_ENV, Config, load_config
from commonplace.errors import UserError
from commonplace.lifecycle.partitions import Partition, resolve_partition
from commonplace.store.connection import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from commonplace.git import GitState


class Workspace(NamedTuple):
    config: Config
    store: Store
    cwd: Path

    def git_state(self) -> GitState:
        """The KB's git state over the notes and gates (two git calls)."""
        return self.start_git_state()()

    def start_git_state(self) -> Callable[[], GitState]:
        """`git_state` begun: the git calls run while the caller works on,
        and the function returned waits for them."""
        from commonplace.git import start_state  # commands that need no git skip its imports
        from commonplace.kb.conformance import conformance_pathspecs

        # Type specs are gates too (type conformance), wherever their folder is.
        config = self.config
        specs = [*config.scan_roots, config.gates_dir, *conformance_pathspecs(config)]
        return start_state(self.config.kb_root, specs)

    def partition(self, model: str, effort: str | None) -> Partition:
        """The partition every read and write path uses for these flags."""
        return resolve_partition(model, effort, aliases=self.config.model_aliases, store=self.store)


def open_workspace(
    *,
    db: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    existing_store: bool = False,
) -> Workspace:
    """With `existing_store` (commands that only read the store), a store
    file named by `--db` or the environment must exist: a mistyped path would
    otherwise read as an empty store and report everything unreviewed. (A
    server schema never written reads as empty, as a KB's own store file
    does: a team's CI may read a schema before its first sweep makes it.)"""
    here = (cwd or Path.cwd()).absolute()
    config = load_config(here)
    target = config.store_target(db)
    setting = config.store_setting(db)
    store = Store(target, root=config.kb_root, setting=setting, schema=config.schema)
    named = setting in ("--db", STORE_ENV)
    if existing_store and named and store.kind == "sqlite" and not store.exists:
        raise UserError(f"no review store at {store.name} (named by {setting}); check the path")
    return Workspace(config=config, store=store, cwd=here)
