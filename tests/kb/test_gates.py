"""Gates and lenses: references, gate files, applicability."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.kb import CORPUS, require_shared

from commonplace.config import Config, load_config
from commonplace.errors import UserError
from commonplace.git import GitState, blob_sha
from commonplace.kb.files import KbFile
from commonplace.kb.gates import (
    Gate,
    all_gate_ids,
    every_gate_ids,
    is_lens,
    lens_gate_ids,
    list_lenses,
    load_gate,
    load_gates,
    resolve_gate_ids,
)
from commonplace.kb.notes import NoteFacts, note_facts, scan_notes

GATES = "kb/instructions/review-gates"

GATE_FILES = {
    "prose/alpha.md": "---\ndescription: First gate.\nwatches: [body]\n---\n\n\nAlpha body.\n",
    "prose/beta.md": "---\ndescription: Second.\n---\nBeta body.\n",
    "prose/README.md": "# About the prose lens\n",
    "prose/index.md": "---\ndescription: an index\n---\n",
    "prose/notes.txt": "not a gate\n",
    "frontmatter/claim.md": (
        "---\ndescription: Claim.\nwatches: [title]\nrequires_trait: title-as-claim\n---\nBody.\n"
    ),
    "frontmatter/multi.md": (
        "---\nwatches: title\nrequires_trait: [a, b]\nrequires-type:\n"
        "  - kb/types/x.md\n  - kb/types/y.md\n---\n"
    ),
    "semantic/defn.md": "---\nrequires-type: kb/types/definition.md\n---\nDefinitions.\n",
    "semantic/relative.md": "---\nrequires-type: ./types/local.md\n---\n",
    "semantic/plain.md": "No frontmatter at all.\n",
    ".hidden/secret.md": "---\ndescription: hidden lens\n---\n",
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    root = tmp_path / "kb-root"
    write(root / "commonplace.toml", "")
    for name, text in GATE_FILES.items():
        write(root / GATES / name, text)
    (root / GATES / "empty").mkdir()
    write(root / "kb/notes/a.md", "---\ntype: kb/types/note.md\n---\n")
    return load_config(root)


def add_gate(config: Config, gate_id: str, text: str) -> None:
    write(config.gates_path / f"{gate_id}.md", text)


def gate_error(config: Config, gate_id: str) -> str:
    with pytest.raises(UserError) as info:
        load_gate(config, gate_id)
    return info.value.message


def resolve_error(config: Config, refs: list[str], cwd: Path | None = None) -> str:
    with pytest.raises(UserError) as info:
        resolve_gate_ids(config, refs, cwd=cwd)
    return info.value.message


# -- lenses and gate ids ---------------------------------------------------------------


def test_list_lenses(config: Config) -> None:
    assert list_lenses(config) == ["empty", "frontmatter", "prose", "semantic"]


def test_all_gate_ids(config: Config) -> None:
    assert all_gate_ids(config) == [
        "frontmatter/claim",
        "frontmatter/multi",
        "prose/alpha",
        "prose/beta",
        "semantic/defn",
        "semantic/plain",
        "semantic/relative",
    ]
    assert lens_gate_ids(config, "empty") == []


def test_missing_gates_directory(tmp_path: Path) -> None:
    config = Config(kb_root=tmp_path)
    with pytest.raises(UserError, match=f"^gates directory not found: {GATES}$"):
        list_lenses(config)


def test_is_lens(config: Config) -> None:
    assert is_lens(config, "prose")
    assert is_lens(config, "./prose/")
    assert not is_lens(config, "prose/alpha")
    assert not is_lens(config, "nope")
    assert not is_lens(config, "../kb-root")


# -- resolve_gate_ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        (["prose/alpha"], ["prose/alpha"]),
        (["prose"], ["prose/alpha", "prose/beta"]),
        (["prose/"], ["prose/alpha", "prose/beta"]),
        (["./prose"], ["prose/alpha", "prose/beta"]),
        (["./prose/"], ["prose/alpha", "prose/beta"]),
        (["prose//alpha"], ["prose/alpha"]),
        (["./prose/./beta"], ["prose/beta"]),
        ([" prose/beta "], ["prose/beta"]),
        (["semantic/defn", "prose"], ["semantic/defn", "prose/alpha", "prose/beta"]),
        (["prose/beta", "prose", "prose/alpha", "prose/beta"], ["prose/beta", "prose/alpha"]),
        ([f"{GATES}/prose/alpha.md"], ["prose/alpha"]),
        ([f"./{GATES}//frontmatter/claim.md"], ["frontmatter/claim"]),
    ],
)
def test_resolve_gate_ids(config: Config, refs: list[str], expected: list[str]) -> None:
    assert resolve_gate_ids(config, refs) == expected


def test_resolve_gate_file_path_from_cwd(config: Config, tmp_path: Path) -> None:
    lens_dir = config.gates_path / "prose"
    assert resolve_gate_ids(config, ["alpha.md"], cwd=lens_dir) == ["prose/alpha"]
    assert resolve_gate_ids(config, ["../semantic/defn.md"], cwd=lens_dir) == ["semantic/defn"]
    absolute = str(config.gates_path / "prose/beta.md")
    assert resolve_gate_ids(config, [absolute], cwd=tmp_path) == ["prose/beta"]
    # From the gates directory, `<lens>/<name>.md` is a path to the gate file.
    assert resolve_gate_ids(config, ["prose/beta.md"], cwd=config.gates_path) == ["prose/beta"]


@pytest.mark.parametrize("ref", ["prose/zzz", "zzz", "prose/alpha/extra", "kb/notes/a.md"])
def test_unknown_gate(config: Config, ref: str) -> None:
    assert resolve_error(config, [ref]) == f"gate not found: {ref}"


@pytest.mark.parametrize("ref", ["../x", "prose/../../x", "/etc/passwd", "", "."])
def test_refs_that_cannot_name_a_gate(config: Config, ref: str) -> None:
    assert resolve_error(config, [ref]) == (
        f"gate not found: {ref} (gate ids look like <lens>/<name>)"
    )


def test_dotdot_back_into_the_gates_dir_is_refused(config: Config) -> None:
    assert "gate not found" in resolve_error(config, ["prose/../prose/alpha"])


def test_gate_file_path_outside_gates_dir(config: Config, tmp_path: Path) -> None:
    stray = write(tmp_path / "stray/alpha.md", "---\ndescription: x\n---\n")
    message = resolve_error(config, [str(stray)])
    assert message.startswith(f"gate not found: {stray}")


def test_empty_lens(config: Config) -> None:
    assert resolve_error(config, ["empty"]) == "lens empty has no gates"
    assert resolve_error(config, ["prose", "empty/"]) == "lens empty has no gates"


def test_no_gates_named(config: Config) -> None:
    assert resolve_error(config, []) == "no gates named"


def test_hidden_lens_is_not_listed(config: Config) -> None:
    assert ".hidden" not in list_lenses(config)
    assert all(not g.startswith(".hidden/") for g in all_gate_ids(config))


@pytest.mark.parametrize("ref", ["prose/README", "prose/index", f"{GATES}/prose/README.md"])
def test_lens_documents_are_not_gates(config: Config, ref: str) -> None:
    # README.md and index files document a lens; naming a lens never yields them,
    # so naming them directly must not make them gates either.
    assert "gate not found" in resolve_error(config, [ref])


# -- load_gate -------------------------------------------------------------------------


def test_load_gate(config: Config) -> None:
    gate = load_gate(config, "prose/alpha")
    assert isinstance(gate, Gate)
    assert gate.id == "prose/alpha"
    assert gate.lens == "prose"
    assert gate.key == f"{GATES}/prose/alpha.md"
    data = (config.gates_path / "prose/alpha.md").read_bytes()
    assert gate.file == KbFile(gate.key, data)
    assert gate.sha == blob_sha(data)
    assert gate.description == "First gate."
    assert gate.body == "Alpha body.\n"
    assert gate.watches == ("body",)
    assert gate.requires_traits is None
    assert gate.requires_types is None


def test_load_gate_defaults(config: Config) -> None:
    beta = load_gate(config, "prose/beta")
    assert beta.watches == ("body",)
    assert beta.body == "Beta body.\n"
    plain = load_gate(config, "semantic/plain")
    assert plain.description == ""
    assert plain.watches == ("body",)
    assert plain.body == "No frontmatter at all.\n"


def test_load_gate_requirements(config: Config) -> None:
    claim = load_gate(config, "frontmatter/claim")
    assert claim.watches == ("title",)
    assert claim.requires_traits == frozenset({"title-as-claim"})
    assert claim.requires_types is None
    multi = load_gate(config, "frontmatter/multi")
    assert multi.watches == ("title",)
    assert multi.requires_traits == frozenset({"a", "b"})
    assert multi.requires_types == frozenset({"kb/types/x.md", "kb/types/y.md"})
    assert load_gate(config, "semantic/defn").requires_types == frozenset(
        {"kb/types/definition.md"}
    )


def test_load_gate_file_relative_type_is_normalized(config: Config) -> None:
    gate = load_gate(config, "semantic/relative")
    assert gate.requires_types == frozenset({f"{GATES}/semantic/types/local.md"})


@pytest.mark.parametrize(
    "watches",
    ["[title, description, body, frontmatter]", "[frontmatter]", "body", "\n  - title\n  - body"],
)
def test_load_gate_valid_watches(config: Config, watches: str) -> None:
    add_gate(config, "extra/w", f"---\nwatches: {watches}\n---\n")
    gate = load_gate(config, "extra/w")
    assert set(gate.watches) <= {"title", "description", "body", "frontmatter"}
    assert gate.watches


@pytest.mark.parametrize("watches", ["[title, prose]", "everything", "3", "{a: b}", "[[body]]"])
def test_load_gate_invalid_watches(config: Config, watches: str) -> None:
    add_gate(config, "extra/w", f"---\nwatches: {watches}\n---\n")
    assert gate_error(config, "extra/w") == (
        "gate extra/w: watches must list some of title, description, body, frontmatter"
    )


@pytest.mark.parametrize("value", ["''", "[]", "null"])
def test_load_gate_empty_requirement_means_none(config: Config, value: str) -> None:
    add_gate(config, "extra/r", f"---\nrequires_trait: {value}\nrequires-type: {value}\n---\n")
    gate = load_gate(config, "extra/r")
    assert gate.requires_traits is None
    assert gate.requires_types is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requires_trait", "3"),
        ("requires_trait", "[a, 3]"),
        ("requires_trait", "{a: b}"),
        ("requires-type", "[kb/types/x.md, [nested]]"),
        ("requires-type", "true"),
    ],
)
def test_load_gate_invalid_requirement(config: Config, field: str, value: str) -> None:
    add_gate(config, "extra/r", f"---\n{field}: {value}\n---\n")
    assert gate_error(config, "extra/r") == (
        f"gate extra/r: {field} must be a string or a list of strings"
    )


@pytest.mark.parametrize("type_key", ["requires_type", "requires-type"])
@pytest.mark.parametrize("trait_key", ["requires_trait", "requires-trait"])
def test_load_gate_reads_both_spellings_of_each_applicability_key(
    config: Config, type_key: str, trait_key: str
) -> None:
    add_gate(
        config,
        "extra/r",
        f"---\n{type_key}: kb/types/definition.md\n{trait_key}: [a, b]\n---\n",
    )
    gate = load_gate(config, "extra/r")
    assert gate.requires_types == frozenset({"kb/types/definition.md"})
    assert gate.requires_traits == frozenset({"a", "b"})
    assert gate.applies_to(NoteFacts("kb/types/definition.md", frozenset({"b"}), None))
    assert not gate.applies_to(NoteFacts("kb/types/note.md", frozenset({"b"}), None))


def test_load_gate_underscore_type_is_relative_to_the_gate_like_the_dash(config: Config) -> None:
    add_gate(config, "extra/r", "---\nrequires_type: ./types/local.md\n---\n")
    assert load_gate(config, "extra/r").requires_types == frozenset(
        {f"{GATES}/extra/types/local.md"}
    )


def test_load_gate_both_spellings_that_agree_are_accepted(config: Config) -> None:
    add_gate(
        config,
        "extra/r",
        "---\nrequires_type: kb/types/d.md\nrequires-type: [kb/types/d.md]\n---\n",
    )
    assert load_gate(config, "extra/r").requires_types == frozenset({"kb/types/d.md"})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("requires_type: kb/types/d.md", "requires-type: kb/types/e.md"),
        ("requires-trait: a", "requires_trait: [a, b]"),
        ("requires_trait: a", "requires-trait: ''"),
    ],
)
def test_load_gate_both_spellings_that_differ_are_an_error(
    config: Config, first: str, second: str
) -> None:
    add_gate(config, "extra/r", f"---\n{first}\n{second}\n---\n")
    # Named in one order whatever the file's order: underscore first.
    names = " and ".join(sorted((line.split(":")[0] for line in (first, second)), reverse=True))
    assert gate_error(config, "extra/r") == (
        f"gate extra/r: {names} are both given and differ; keep one"
    )


@pytest.mark.parametrize(
    "key",
    [
        "requires_types",
        "requires-traits",
        "requiresType",
        "Requires-Type",
        "require_type",
        "require-trait",
        "applies_to",
        "applies-to-type",
        "apply-to",
        "applicable_types",
        "requires",
    ],
)
def test_load_gate_unknown_applicability_key_is_an_error(config: Config, key: str) -> None:
    add_gate(config, "extra/r", f"---\n{key}: kb/types/definition.md\n---\nBody.\n")
    assert gate_error(config, "extra/r") == (
        f"gate extra/r: unknown applicability key {key!r} (known: requires-trait,"
        " requires-type, requires_trait, requires_type); a gate whose applicability"
        " key is not read would apply to every note"
    )


@pytest.mark.parametrize("key", ["required-reading", "application", "approval", "title"])
def test_load_gate_other_keys_are_not_applicability_keys(config: Config, key: str) -> None:
    add_gate(config, "extra/r", f"---\n{key}: x\n---\nBody.\n")
    gate = load_gate(config, "extra/r")
    assert gate.requires_types is None and gate.requires_traits is None


def test_load_gate_unknown_key_with_odd_characters_is_shown_escaped(config: Config) -> None:
    add_gate(config, "extra/r", '---\n"requires_type\\e[31m\\n": x\n---\n')
    message = gate_error(config, "extra/r")
    assert "\x1b" not in message and "\n" not in message
    assert "'requires_type\\x1b[31m\\n'" in message


def test_load_gate_bad_frontmatter_names_the_gate(config: Config) -> None:
    add_gate(config, "extra/broken", "---\nwatches: [body\n---\n")
    message = gate_error(config, "extra/broken")
    assert message.startswith("gate extra/broken: invalid YAML in frontmatter: ")
    add_gate(config, "extra/list", "---\n- a\n- b\n---\n")
    assert gate_error(config, "extra/list") == "gate extra/list: frontmatter is not a mapping"


def test_load_gate_non_string_description(config: Config) -> None:
    add_gate(config, "extra/d", "---\ndescription: [a, b]\n---\n")
    assert load_gate(config, "extra/d").description == ""


@pytest.mark.parametrize("gate_id", ["prose/zzz", "../x/y", "prose"])
def test_load_gate_not_found(config: Config, gate_id: str) -> None:
    assert gate_error(config, gate_id) == f"gate not found: {gate_id}"


@pytest.mark.parametrize("gate_id", ["./prose/alpha", "prose//alpha", "prose/alpah"])
def test_load_gate_not_found_names_the_gate_meant(config: Config, gate_id: str) -> None:
    assert gate_error(config, gate_id) == (
        f"gate not found: {gate_id} (did you mean 'prose/alpha'?)"
    )


@pytest.mark.parametrize(
    ("ref", "meant"),
    [
        ("prose/alpah", "'prose/alpha'"),  # a typo in the name
        ("alpah", "'prose/alpha'"),  # the lens left out
        ("semantic/deffn", "'semantic/defn'"),
        ("proze", "'prose'"),  # a lens
    ],
)
def test_unknown_gate_or_lens_names_the_closest(config: Config, ref: str, meant: str) -> None:
    assert resolve_error(config, [ref]) == f"gate not found: {ref} (did you mean {meant}?)"


def test_load_gates_in_order(config: Config) -> None:
    gates = load_gates(config, ["semantic/defn", "prose/alpha"])
    assert [g.id for g in gates] == ["semantic/defn", "prose/alpha"]


# -- applicability ---------------------------------------------------------------------


def facts(type_: str | None = None, *traits: str) -> NoteFacts:
    return NoteFacts(type=type_, traits=frozenset(traits), status=None)


def test_gate_without_requirements_applies_to_everything(config: Config) -> None:
    gate = load_gate(config, "prose/alpha")
    assert gate.applies_to(facts())
    assert gate.applies_to(facts("kb/types/note.md", "x"))


def test_trait_requirement(config: Config) -> None:
    gate = load_gate(config, "frontmatter/claim")
    assert gate.applies_to(facts("kb/types/note.md", "title-as-claim", "other"))
    assert not gate.applies_to(facts("kb/types/note.md", "other"))
    assert not gate.applies_to(facts())
    assert gate.skip_reason(facts()) == "requires trait title-as-claim"


def test_type_requirement(config: Config) -> None:
    gate = load_gate(config, "semantic/defn")
    assert gate.applies_to(facts("kb/types/definition.md"))
    assert not gate.applies_to(facts("kb/types/note.md", "title-as-claim"))
    assert not gate.applies_to(facts())
    assert gate.skip_reason(facts("kb/types/note.md")) == "requires type kb/types/definition.md"


def test_both_requirements_must_match(config: Config) -> None:
    gate = load_gate(config, "frontmatter/multi")
    assert gate.applies_to(facts("kb/types/x.md", "a"))
    assert gate.applies_to(facts("kb/types/y.md", "b", "c"))
    assert not gate.applies_to(facts("kb/types/x.md", "c"))
    assert not gate.applies_to(facts("kb/types/z.md", "a"))
    assert gate.skip_reason(facts("kb/types/x.md", "c")) == "requires trait a or b"
    assert gate.skip_reason(facts("kb/types/z.md", "a")) == (
        "requires type kb/types/x.md or kb/types/y.md"
    )
    assert gate.skip_reason(facts("kb/types/z.md")) == "requires trait a or b"


def test_file_relative_types_match_after_normalization(config: Config) -> None:
    gate = load_gate(config, "semantic/defn")
    for key, written in [
        ("kb/notes/a.md", "../types/definition.md"),
        ("kb/notes/deep/er/a.md", "../../../types/definition.md"),
        ("kb/types/x.md", "./definition.md"),
    ]:
        note = KbFile(key, f"---\ntype: {written}\n---\n".encode())
        assert gate.applies_to(note_facts(note)), (key, written)


# -- the real corpus -------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_config() -> Config:
    return Config(kb_root=require_shared(CORPUS))


@pytest.fixture(scope="module")
def corpus_notes(corpus_config: Config) -> list[tuple[KbFile, NoteFacts]]:
    return [(f, note_facts(f)) for f in scan_notes(corpus_config, GitState(is_repo=False))]


def test_corpus_gates_all_load(corpus_config: Config) -> None:
    ids = every_gate_ids(corpus_config)
    assert all_gate_ids(corpus_config) == [
        g for g in ids if not g.startswith(("type/", "collection/"))
    ]
    on_disk = sorted(corpus_config.gates_path.glob("*/*.md"))
    catalog = [g for g in ids if g.split("/")[0] not in ("type", "collection")]
    assert len(catalog) == len(on_disk) == 37
    # every type spec in kb/types/ and the two collections are gates as well
    specs = {p.stem for p in (CORPUS / "kb").glob("**/types/*.md")} - {"index"}
    assert "structured-claim" in specs and "adr" in specs  # kb/notes/types/, kb/reference/types/
    assert [g for g in ids if g not in catalog] == [
        *(f"type/{name}" for name in sorted(specs)),
        "collection/notes",
        "collection/reference",
    ]
    assert resolve_gate_ids(corpus_config, ["frontmatter"]) == [
        "frontmatter/claim-strength",
        "frontmatter/description-discrimination",
        "frontmatter/title-as-claim",
        "frontmatter/title-body-alignment",
        "frontmatter/title-composability",
    ]
    for gate in load_gates(corpus_config, ids):
        assert gate.watches
        assert gate.description
        assert not gate.body.startswith("---")


def test_corpus_frontmatter_lens_routing(
    corpus_config: Config, corpus_notes: list[tuple[KbFile, NoteFacts]]
) -> None:
    gates = load_gates(corpus_config, resolve_gate_ids(corpus_config, ["frontmatter"]))
    with_trait = without_trait = 0
    for file, note in corpus_notes:
        applicable = {g.id for g in gates if g.applies_to(note)}
        if "title-as-claim" in note.traits:
            with_trait += 1
            assert len(applicable) == 5, file.key
        else:
            without_trait += 1
            assert applicable == {
                "frontmatter/description-discrimination",
                "frontmatter/title-body-alignment",
            }, file.key
            for gate in gates:
                if gate.id not in applicable:
                    assert gate.skip_reason(note) == "requires trait title-as-claim"
    assert with_trait > 50
    assert without_trait > 50


def test_corpus_explication_quality_routing(
    corpus_config: Config, corpus_notes: list[tuple[KbFile, NoteFacts]]
) -> None:
    gate = load_gate(corpus_config, "semantic/explication-quality")
    assert gate.requires_types == frozenset({"kb/types/definition.md"})
    assert gate.requires_traits is None
    applies = [f.key for f, note in corpus_notes if gate.applies_to(note)]
    definitions = [f.key for f, note in corpus_notes if note.type == "kb/types/definition.md"]
    assert applies == definitions
    assert len(applies) >= 10
    for file, note in corpus_notes:
        if file.key not in applies:
            assert gate.skip_reason(note) == "requires type kb/types/definition.md"


def test_corpus_file_relative_types_name_real_files(
    corpus_notes: list[tuple[KbFile, NoteFacts]],
) -> None:
    relative = [
        (file, note)
        for file, note in corpus_notes
        if b"\ntype: ./" in file.data or b"\ntype: ../" in file.data
    ]
    assert len(relative) > 10
    for file, note in relative:
        assert note.type is not None
        assert (CORPUS / note.type).is_file(), (file.key, note.type)


def test_corpus_definition_written_file_relative(corpus_kb: Path) -> None:
    config = load_config(corpus_kb)
    write(
        corpus_kb / "kb/notes/zz-relative-definition.md",
        "---\ntype: ../types/definition.md\ntraits: []\n---\n# A definition\n",
    )
    write(
        corpus_kb / "kb/reference/adr/zz-deep-definition.md",
        "---\ntype: ../../types/definition.md\n---\n# Another\n",
    )
    gate = load_gate(config, "semantic/explication-quality")
    notes = {f.key: note_facts(f) for f in scan_notes(config, GitState(is_repo=False))}
    assert gate.applies_to(notes["kb/notes/zz-relative-definition.md"])
    assert gate.applies_to(notes["kb/reference/adr/zz-deep-definition.md"])
