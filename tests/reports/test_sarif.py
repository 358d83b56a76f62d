"""The SARIF 2.1.0 report (`review-report --format sarif`): one result per
`warn`/`fail` finding of the partition's current reviews, rule = gate id,
location = the note (with the line of quoted text), fingerprints that keep a
finding's identity from one report to the next. The structure is checked by
hand against what SARIF 2.1.0 requires and code-scanning tools read."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from helpers.cli import CLAIM_NOTE, EX_NOTE, PLAIN_NOTE, Cli, commit_paths
from helpers.kb import EXAMPLE_KB, commit_all, git
from helpers.reviewed_corpus import (
    CLAIM_SENTENCE,
    CLAIM_TITLE,
    LOOP_NOTE,
    PLAIN_SENTENCE,
    SCENARIO,
    Plan,
    review_pairs,
    scenario_kb,
)

LEVELS = {"WARN": "warning", "FAIL": "error"}


def sarif(cli: Cli, cwd: Path, *args: str) -> dict[str, Any]:
    result = cli("review-report", "--format", "sarif", *args, cwd=cwd)
    assert result.code == 0, result.err
    return cast(dict[str, Any], json.loads(result.out))


def results(log: dict[str, Any]) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], log["runs"][0]["results"])


def line_number(kb: Path, note: str, text: str) -> int:
    """The 1-based line of the note where `text` first appears."""
    body = (kb / note).read_text(encoding="utf-8")
    assert text in body, (note, text)
    return body[: body.index(text)].count("\n") + 1


def expected_results(plan: Plan) -> Counter[tuple[str, str, str, str]]:
    """(ruleId, uri, level, message) of each warn/fail finding of the plan's
    warn and fail reviews; a review without such findings gives one result
    whose message is its summary."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    for (note, gate), (decision, findings) in plan.items():
        if decision not in LEVELS:
            continue
        listed = [(s, t) for s, t in findings if s in LEVELS] or [(decision, "Reviewed.")]
        for severity, text in listed:
            out[(gate, note, LEVELS[severity], text)] += 1
    return out


def by_message(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["message"]["text"]: r for r in results(log)}


def fingerprints(log: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["ruleId"], r["message"]["text"]): r["partialFingerprints"] for r in results(log)}


# --- structure ------------------------------------------------------------------------------


def test_one_result_per_warn_and_fail_finding_in_a_valid_sarif_log(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    log = sarif(cli, kb)

    assert log["version"] == "2.1.0"
    assert log["$schema"].startswith("https://") and "sarif-2.1.0" in log["$schema"]
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "commonplace-review"
    rules = driver["rules"]
    rule_ids = [rule["id"] for rule in rules]
    assert len(set(rule_ids)) == len(rule_ids)
    gates_dir = kb / "kb/instructions/review-gates"
    # One rule per gate: the catalog's, each type spec's (an index is none) and
    # each COLLECTION.md's.
    assert sorted(rule_ids) == sorted(
        [p.relative_to(gates_dir).with_suffix("").as_posix() for p in gates_dir.glob("*/*.md")]
        + [f"type/{p.stem}" for p in (kb / "kb").rglob("types/*.md") if p.stem != "index"]
        + [f"collection/{p.parent.name}" for p in (kb / "kb").rglob("COLLECTION.md")]
    )
    assert all(rule["shortDescription"]["text"] for rule in rules)

    found = results(log)
    assert Counter(
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["level"],
            r["message"]["text"],
        )
        for r in found
    ) == expected_results(SCENARIO)
    for result in found:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("warning", "error")
        assert result["message"]["text"].strip()
        assert len(result["locations"]) == 1
        location = result["locations"][0]["physicalLocation"]
        assert (kb / location["artifactLocation"]["uri"]).is_file()
        if "region" in location:
            assert isinstance(location["region"]["startLine"], int)
            assert location["region"]["startLine"] >= 1
        prints = result["partialFingerprints"]
        assert prints and all(isinstance(v, str) and v for v in prints.values())
    all_prints = [tuple(sorted(r["partialFingerprints"].items())) for r in found]
    assert len(set(all_prints)) == len(all_prints)


def test_a_region_gives_the_line_of_the_quoted_text_and_only_then(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kb = scenario_kb(tmp_path_factory)
    found = by_message(sarif(cli, kb))

    def region(message: str) -> dict[str, Any] | None:
        return cast(
            dict[str, Any] | None, found[message]["locations"][0]["physicalLocation"].get("region")
        )

    assert region(f'the sentence "{CLAIM_SENTENCE}" overreaches') == {
        "startLine": line_number(kb, CLAIM_NOTE, CLAIM_SENTENCE)
    }
    assert region(f"the title “{CLAIM_TITLE}” states a rule, not a claim") == {
        "startLine": line_number(kb, CLAIM_NOTE, CLAIM_TITLE)
    }
    assert region(f'"{PLAIN_SENTENCE}" is not supported by the body') == {
        "startLine": line_number(kb, PLAIN_NOTE, PLAIN_SENTENCE)
    }
    assert region("the asymmetry is asserted twice") is None
    assert region("Reviewed.") is None  # the warn without findings on LOOP_NOTE
    assert found["Reviewed."]["ruleId"] == "sentence/stock-phrases"
    assert found["Reviewed."]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        LOOP_NOTE
    )


def test_the_region_follows_the_note_as_it_is_now(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    quoted = (PLAIN_NOTE, "frontmatter/title-body-alignment")
    review_pairs(cli, kb, {quoted: SCENARIO[quoted]})
    message = f'"{PLAIN_SENTENCE}" is not supported by the body'
    before = by_message(sarif(cli, kb))[message]
    line = line_number(kb, PLAIN_NOTE, PLAIN_SENTENCE)

    text = (kb / PLAIN_NOTE).read_text(encoding="utf-8")
    heading = "# Ad hoc prompts extend the system without schema changes\n"
    (kb / PLAIN_NOTE).write_text(text.replace(heading, heading + "\nNew.\n\nLines.\n"), "utf-8")
    commit_paths(kb, PLAIN_NOTE)
    moved = by_message(sarif(cli, kb))[message]
    assert moved["locations"][0]["physicalLocation"]["region"] == {"startLine": line + 4}
    assert moved["properties"]["state"] == "note-changed"
    assert moved["partialFingerprints"] == before["partialFingerprints"]

    (kb / PLAIN_NOTE).write_text(text.replace(PLAIN_SENTENCE, "We saw it first."), "utf-8")
    commit_paths(kb, PLAIN_NOTE)
    gone = by_message(sarif(cli, kb))[message]
    assert "region" not in gone["locations"][0]["physicalLocation"]


def test_a_short_quotation_before_the_quoted_sentence_does_not_mislead_the_region(
    cli: Cli, corpus_kb: Path
) -> None:
    sentence = "A CI pipeline gains a new check"
    pair = (PLAIN_NOTE, "accessibility/undefined-terms")
    message = f'the abbreviation "CI" in "{sentence}" is never expanded'
    review_pairs(cli, corpus_kb, {pair: ("WARN", (("WARN", message),))})
    (result,) = results(sarif(cli, corpus_kb))
    assert result["locations"][0]["physicalLocation"].get("region") == {
        "startLine": line_number(corpus_kb, PLAIN_NOTE, sentence)
    }


def test_pass_reviews_and_info_findings_give_no_result(cli: Cli, corpus_kb: Path) -> None:
    plan: Plan = {
        (PLAIN_NOTE, "prose/source-residue"): ("PASS", (("WARN", "a warning in a pass"),)),
        (CLAIM_NOTE, "prose/source-residue"): (
            "WARN",
            (("INFO", "for your information"), ("WARN", "the one to fix")),
        ),
    }
    review_pairs(cli, corpus_kb, plan)
    found = results(sarif(cli, corpus_kb))
    assert [(r["ruleId"], r["message"]["text"], r["level"]) for r in found] == [
        ("prose/source-residue", "the one to fix", "warning")
    ]
    assert found[0]["properties"]["decision"] == "warn"


def test_levels_follow_each_finding(cli: Cli, corpus_kb: Path) -> None:
    pair = (CLAIM_NOTE, "frontmatter/title-as-claim")
    review_pairs(cli, corpus_kb, {pair: SCENARIO[pair]})
    assert {r["message"]["text"]: r["level"] for r in results(sarif(cli, corpus_kb))} == {
        f"the title “{CLAIM_TITLE}” states a rule, not a claim": "error",
        "the description hedges where the title does not": "warning",
    }


# --- fingerprints -------------------------------------------------------------------------


def test_fingerprints_are_stable_across_reports_and_new_reviews(cli: Cli, corpus_kb: Path) -> None:
    kb = corpus_kb
    review_pairs(cli, kb, SCENARIO)
    first = fingerprints(sarif(cli, kb))
    assert fingerprints(sarif(cli, kb)) == first

    # An unrelated new review adds its result and changes no other fingerprint.
    unrelated = (LOOP_NOTE, "prose/source-residue")
    review_pairs(cli, kb, {unrelated: ("FAIL", (("FAIL", "new residue"),))})
    after = fingerprints(sarif(cli, kb))
    assert set(after) == set(first) | {("prose/source-residue", "new residue")}
    assert {key: after[key] for key in first} == first

    # The same finding written again by a new review keeps its identity.
    again = (CLAIM_NOTE, "prose/source-residue")
    review_pairs(cli, kb, {again: SCENARIO[again]}, summary="A second look.")
    assert fingerprints(sarif(cli, kb)) == after


def test_the_same_finding_on_another_note_or_gate_is_another_result(
    cli: Cli, corpus_kb: Path
) -> None:
    same = ("WARN", (("WARN", "the same words"),))
    review_pairs(
        cli,
        corpus_kb,
        {
            (PLAIN_NOTE, "prose/source-residue"): same,
            (CLAIM_NOTE, "prose/source-residue"): same,
            (CLAIM_NOTE, "frontmatter/claim-strength"): same,
        },
    )
    found = results(sarif(cli, corpus_kb))
    assert len(found) == 3
    assert len({json.dumps(r["partialFingerprints"], sort_keys=True) for r in found}) == 3


# --- locations from the repository root ---------------------------------------------------


def test_uris_are_relative_to_the_repository_root_when_the_kb_is_a_subfolder(
    cli: Cli, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    kb = repo / "garden"
    shutil.copytree(EXAMPLE_KB, kb)
    git(repo, "init", "-q")
    commit_all(repo, "initial")
    sentence = "Each year gets one line at the front of the notebook"
    pair = (EX_NOTE, "clarity/undefined-abbreviation")
    review_pairs(
        cli,
        kb,
        {pair: ("WARN", (("WARN", f'"{sentence}" but GDD is never spelled out'),))},
        model="demo",
    )
    (result,) = results(sarif(cli, kb / "kb" / "notes"))
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == f"garden/{EX_NOTE}"
    assert (repo / location["artifactLocation"]["uri"]).is_file()
    assert location["region"] == {"startLine": line_number(kb, EX_NOTE, sentence)}
    assert result["ruleId"] == "clarity/undefined-abbreviation"
