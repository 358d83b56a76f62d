"""The one name check (`kb.paths.why_unreviewable_name`) against the grammar:
every name it accepts survives a prompt and a reviewer's output unchanged, and
every name the prompt refuses is one it rejects."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonplace.errors import UserError
from commonplace.kb.paths import why_unreviewable_name
from commonplace.protocol.grammar import Pair, block, new_token
from commonplace.protocol.parser import parse_output
from commonplace.protocol.prompt import (
    PromptGate,
    PromptNote,
    render_prompt,
    requested_pairs,
)

BODY = "### Summary\nChecked.\n\n### Findings\n- none\n\n## Result: PASS\n"
# Characters that could break a sentinel or a listed pair, with ordinary ones.
RISKY = [*"aZ09 -_.é/:=`#\\", "\n", "\r", "\t", "\x1b", "\x85", "\u2028", "\x00"]
PIECES = st.one_of(
    st.sampled_from(RISKY),
    st.sampled_from([" :: ", "=== PAIR REVIEW START: ", " ===", "=== PAIR REVIEW END: "]),
)
TEXT = st.lists(PIECES, min_size=1, max_size=8).map("".join)


TOKEN = new_token()


def _prompt(note_path: str, gate_id: str) -> str:
    note = PromptNote(1, note_path, "---\ntraits: []\n---\nBody.\n", (gate_id,))
    return render_prompt([note], {gate_id: PromptGate(gate_id, "Check.")}, token=TOKEN).text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, gate=TEXT)
def test_accepted_names_survive_the_prompt_and_the_output(name: str, gate: str) -> None:
    note_path, gate_id = f"kb/notes/{name}.md", f"lens/{gate}"
    accepted = why_unreviewable_name(note_path) is None and why_unreviewable_name(gate_id) is None
    try:
        prompt = _prompt(note_path, gate_id)
    except UserError:
        assert not accepted  # the prompt refuses only what the check rejects
        return
    assert accepted  # and takes nothing the check rejects
    pair = Pair(note_path, gate_id)
    assert requested_pairs(prompt) == [pair]
    parsed = parse_output(block(pair, BODY, token=TOKEN), [pair], token=TOKEN)
    assert parsed.missing == () and parsed.bodies[pair] == BODY


@pytest.mark.parametrize(
    "name",
    ["kb/notes/x :: y.md", "kb/notes/x\ny.md", "kb/notes/x\x1by.md", "kb/notes/=== PAIR REVIEW.md"],
)
def test_the_prompt_refuses_a_name_the_check_rejects(name: str) -> None:
    with pytest.raises(UserError, match="cannot be named in a pair block"):
        _prompt(name, "lens/gate")
