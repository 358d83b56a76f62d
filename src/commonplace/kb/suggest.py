"""`(did you mean 'x'?)` for a name that names nothing: the closest names that
do, by difflib's similarity. Only computed on the error path."""

from __future__ import annotations

from collections.abc import Iterable

from commonplace.kb.paths import shown

# Low enough for one or two typos in a short name (`stauts`, `proze`), high
# enough that an unrelated word gets no suggestion rather than a wrong one.
CUTOFF = 0.7
# A KB can be large; past this many names the suggestion is not worth the time.
MAX_NAMES = 50_000


def close_names(word: str, names: Iterable[str], *, limit: int = 3) -> list[str]:
    """The names closest to `word`, best first. Paths are compared by their
    last part without `.md` (a shared folder would make every note look
    close), so `claim-suport` finds `semantic/claim-support` and
    `notes/clarty.md` finds `notes/clarity.md`."""
    import difflib  # the error path only: the commands that succeed skip its import

    by_key: dict[str, list[str]] = {}
    for count, name in enumerate(names):
        if count >= MAX_NAMES:
            break
        if name != word:
            by_key.setdefault(_last_part(name), []).append(name)
    found: list[str] = []
    probe = _last_part(word.strip())
    for key in difflib.get_close_matches(probe, list(by_key), n=limit, cutoff=CUTOFF):
        found.extend(n for n in by_key[key] if n not in found)
    return found[:limit]


def did_you_mean(word: str, names: Iterable[str], *, limit: int = 3) -> str:
    """` (did you mean 'a' or 'b'?)` to end an error message, or `` when no
    name is close. Names are shown escaped: they come from files and the KB."""
    found = [f"'{shown(n)}'" for n in close_names(word, names, limit=limit)]
    if not found:
        return ""
    listed = found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"
    return f" (did you mean {listed}?)"


def _last_part(name: str) -> str:
    return name.rstrip("/").rpartition("/")[2].removesuffix(".md")
