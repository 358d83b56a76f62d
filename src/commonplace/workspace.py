"""What one command works on: the KB's configuration, its review store, and
the directory the command was started from."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from commonplace.config import Config, load_config
from commonplace.review.partitions import Partition, resolve_partition
from commonplace.review.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.git import GitState


@dataclass(frozen=True)
class Workspace:
    config: Config
    store: Store
    cwd: Path

    def git_state(self) -> GitState:
        """The KB's git state over the notes and gates (two git calls)."""
        from commonplace.git import read_state  # commands that need no git skip its imports

        return read_state(self.config.kb_root, [*self.config.scan_roots, self.config.gates_dir])

    def partition(self, model: str, effort: str | None) -> Partition:
        """The partition every read and write path uses for these flags."""
        return resolve_partition(model, effort, aliases=self.config.model_aliases, store=self.store)


def open_workspace(
    *, db: str | os.PathLike[str] | None = None, cwd: Path | None = None
) -> Workspace:
    here = (cwd or Path.cwd()).absolute()
    config = load_config(here)
    store = Store(config.store_path(db), root=config.kb_root, setting=config.store_setting(db))
    return Workspace(config=config, store=store, cwd=here)
