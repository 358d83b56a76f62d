"""`(did you mean ...?)`: the closest names, or nothing when none is close."""

from __future__ import annotations

from commonplace.kb.suggest import close_names, did_you_mean

VERBS = ["status", "review", "fixes", "show", "report", "store", "init", "doctor"]


def test_a_typo_finds_the_name() -> None:
    assert did_you_mean("stauts", VERBS) == " (did you mean 'status'?)"
    assert did_you_mean("reviw", VERBS) == " (did you mean 'review'?)"


def test_nothing_close_gives_nothing() -> None:
    assert did_you_mean("nope", VERBS) == ""
    assert did_you_mean("", VERBS) == ""
    assert did_you_mean("status", []) == ""


def test_the_name_itself_is_never_suggested() -> None:
    assert close_names("status", ["status"]) == []


def test_paths_compare_by_their_last_part() -> None:
    notes = ["kb/notes/plain.md", "kb/notes/bom.md", "kb/notes/frost-dates.md"]
    # A shared folder does not make every note close.
    assert close_names("kb/notes/missing.md", notes) == []
    assert close_names("kb/notes/frost-date.md", notes) == ["kb/notes/frost-dates.md"]
    assert close_names("claim-suport", ["semantic/claim-support", "prose/clarity"]) == [
        "semantic/claim-support"
    ]


def test_several_are_listed_best_first() -> None:
    text = did_you_mean("alpha", ["prose/alpah", "semantic/alpah", "beta/zzz"])
    assert text == " (did you mean 'prose/alpah' or 'semantic/alpah'?)"


def test_names_are_shown_escaped() -> None:
    # A crafted file name cannot put a line break or an escape into the message.
    text = did_you_mean("clarity", ["prose/clarity\n\x1b[2J"])
    assert "did you mean" in text
    assert "\n" not in text and "\x1b" not in text
