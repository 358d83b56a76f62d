"""The reviews that current acceptances rest on (SPEC 11, 12): what the warn
queue and the reports show.

Whole rows only: every field comes from one gate review of a completed run,
joined to the acceptance that made it current. When the current acceptance of
a pair is a trivial-change ack, the review is the full review that ack carried
forward, and `acceptance_kind` says so.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from commonplace.protocol.decisions import Finding
from commonplace.store.acceptances import current_review_rows
from commonplace.store.connection import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from commonplace.workspace import Workspace


@dataclass(frozen=True)
class CurrentReview:
    note_path: str
    gate_id: str
    model_id: str
    decision: str
    findings: tuple[Finding, ...]
    rationale_markdown: str
    gate_review_id: int
    review_run_id: int
    reviewed_at: str
    reviewed_note_sha: str
    acceptance_kind: str
    """`full-review`, or the ack that carried the review forward."""
    current_note_sha: str
    """The note version the current acceptance is for."""

    @property
    def suggested_revision(self) -> str | None:
        """The reviewer's `Suggested Revision` section, if it wrote one."""
        from commonplace.protocol.sections import suggested_revision

        return suggested_revision(self.rationale_markdown)


@dataclass(frozen=True)
class FixEntry(CurrentReview):
    """A fix-queue entry: a current review, and whether the note's file has
    changed since (or is gone)."""

    note_changed: bool = False
    note_deleted: bool = False


def current_reviews(
    store: Store,
    *,
    model_id: str | None = None,
    note_paths: Sequence[str] = (),
    decisions: Collection[str] = (),
) -> list[CurrentReview]:
    """Sorted by note, gate and partition; only this partition, these notes
    and these decisions when given."""
    with store.read() as conn:
        rows = current_review_rows(
            conn, model_id=model_id, note_paths=note_paths, decisions=decisions
        )
    return [
        CurrentReview(
            note_path=row.note_path,
            gate_id=row.gate_id,
            model_id=row.model_id,
            decision=row.decision,
            findings=findings_of(row.findings_json),
            rationale_markdown=row.rationale_markdown,
            gate_review_id=row.gate_review_id,
            review_run_id=row.review_run_id,
            reviewed_at=row.reviewed_at,
            reviewed_note_sha=row.reviewed_note_sha,
            acceptance_kind=row.acceptance_kind,
            current_note_sha=row.accepted_note_sha,
        )
        for row in rows
    ]


def warn_queue(
    store: Store, *, note_paths: Sequence[str] = (), model_id: str | None = None
) -> list[CurrentReview]:
    """The fix queue: the current accepted `warn` and `fail` reviews."""
    return current_reviews(
        store, model_id=model_id, note_paths=note_paths, decisions=("warn", "fail")
    )


def fix_queue(
    ws: Workspace,
    *,
    note_refs: Sequence[str] = (),
    model: str | None = None,
    effort: str | None = None,
) -> list[FixEntry]:
    """The warn-selector command: the warn queue of the notes or folders
    named, of one partition or all. A path named must be a file or folder of
    the KB or a path the store has history of (a deleted note's reviews
    stay listed); any other is an error, with the close paths known."""
    from dataclasses import fields

    from commonplace.kb.examples import in_examples_folder
    from commonplace.kb.paths import key_for_path
    from commonplace.services.note_lookup import current_sha

    root = ws.config.kb_root
    keys = [(ref, key_for_path(root, ref, cwd=ws.cwd)) for ref in note_refs]
    _refuse_unknown(ws, [(ref, key) for ref, key in keys if not (root / key).exists()])
    model_id = ws.partition(model, effort).model_id if model else None
    # A gate's examples are reviewed by `calibrate`; their findings are no fixes.
    entries = [
        e for e in warn_queue(ws.store, model_id=model_id) if not in_examples_folder(e.note_path)
    ]
    wanted = {key for _, key in keys}
    if wanted and "." not in wanted:
        entries = [
            e
            for e in entries
            if any(e.note_path == k or e.note_path.startswith(k + "/") for k in wanted)
        ]
    shas = {path: current_sha(root, path) for path in {e.note_path for e in entries}}
    return [
        FixEntry(
            **{f.name: getattr(e, f.name) for f in fields(e)},
            note_changed=shas[e.note_path] != e.reviewed_note_sha,
            note_deleted=shas[e.note_path] is None,
        )
        for e in entries
    ]


def _refuse_unknown(ws: Workspace, missing: Sequence[tuple[str, str]]) -> None:
    """A named path that is no file or folder and that the store has no
    history under is a mistake: `note not found`, with "did you mean"."""
    if not missing:
        return
    from commonplace.services.note_lookup import known_note_paths, no_such_note

    known = known_note_paths(ws)
    for ref, key in missing:
        if not any(path == key or path.startswith(key + "/") for path in known):
            raise no_such_note(ref, key, known)


def findings_of(findings_json: str | None) -> tuple[Finding, ...]:
    """The findings stored with a review (a list of {severity, text})."""
    try:
        items = json.loads(findings_json or "[]")
    except ValueError:
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(
        Finding(str(item.get("severity", "")), str(item.get("text", "")))
        for item in items
        if isinstance(item, dict)
    )
