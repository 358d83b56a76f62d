"""Links from a report to the KB's files: relative to where the report is
written, or into a repository browser (`[report] repository_url`,
`--repository-url`), where the KB sits at `repo_prefix` in the repository."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    kb_from_report: str = ""
    """The KB root seen from the report's folder (`""`, `"../"`, `"kb/"`)."""
    repository_url: str | None = None
    """Ends with `/`; when set, links go there instead."""
    repo_prefix: str = ""
    """The KB's folder within its repository (`""` or ending with `/`)."""

    def to(self, kb_path: str) -> str:
        """The URL of the KB-relative `kb_path`, every unsafe character quoted."""
        if self.repository_url is not None:
            return self.repository_url + quote(self.repo_prefix + kb_path, safe="/")
        return quote(self.kb_from_report + kb_path, safe="/")


def links_for(
    kb_root: Path, report_dir: Path, *, repository_url: str | None, repo_prefix: str
) -> Links:
    """Links of a report written into `report_dir`."""
    relative = Path(os.path.relpath(kb_root.resolve(), report_dir.resolve())).as_posix()
    prefix = repo_prefix if not repo_prefix or repo_prefix.endswith("/") else repo_prefix + "/"
    return Links(
        kb_from_report="" if relative == "." else relative + "/",
        repository_url=repository_url,
        repo_prefix=prefix,
    )
