"""Entry points: the seed console scripts and the umbrella `commonplace` command."""

from __future__ import annotations

import os
import sys

from commonplace.cli.app import CommandSpec, reconfigure_streams, run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "create-review-run",
            "commonplace.cli.create_review_run",
            "Create one review run for a note and the applicable gates named.",
        ),
        CommandSpec(
            "write-gate-review",
            "commonplace.cli.write_gate_review",
            "Record one gate review into a running review run.",
        ),
        CommandSpec(
            "finalize-review-run",
            "commonplace.cli.finalize_review_run",
            "Check a run's coverage, complete it and accept its reviews.",
        ),
        CommandSpec(
            "ingest-bundle-output",
            "commonplace.cli.ingest_bundle_output",
            "Ingest a live agent's output for one review run, all or nothing.",
        ),
        CommandSpec(
            "prepare-review-batch",
            "commonplace.cli.prepare_review_batch",
            "Create one batch of review runs for any pairs and write its prompt.",
        ),
        CommandSpec(
            "ingest-batch-output",
            "commonplace.cli.ingest_batch_output",
            "Ingest an executor's output for a batch, completing what arrived.",
        ),
        CommandSpec(
            "run-review-bundle",
            "commonplace.cli.run_review_bundle",
            "Review one note against its gates through a runner (claude-code, codex, ...).",
        ),
        CommandSpec(
            "run-gate-sweep",
            "commonplace.cli.run_gate_sweep",
            "Review notes against one gate through a runner, in batches.",
        ),
        CommandSpec(
            "review-sweep",
            "commonplace.cli.review_sweep",
            "Review every stale pair through a runner, several batches at once.",
        ),
        CommandSpec(
            "review-target-selector",
            "commonplace.cli.review_target_selector",
            "List the stale (note, gate) pairs of a model partition and why.",
        ),
        CommandSpec(
            "resolve-gates",
            "commonplace.cli.resolve_gates",
            "Print the gate ids and texts that gate ids or lenses name.",
        ),
        CommandSpec(
            "ack-gate-review",
            "commonplace.cli.ack_gate_review",
            "Accept the current note and gate versions without a new review.",
        ),
        CommandSpec(
            "reap-stale-runs",
            "commonplace.cli.reap_stale_runs",
            "Fail review runs abandoned in the running state: lease expired, owner gone, too old.",
        ),
        CommandSpec(
            "collect-provider-batches",
            "commonplace.cli.collect_provider_batches",
            "Poll provider batch jobs and ingest the results of those that ended.",
        ),
        CommandSpec(
            "ack-trivial-note-changes",
            "commonplace.cli.ack_trivial_note_changes",
            "Accept note changes that touch nothing the gates watch.",
        ),
        CommandSpec(
            "repair-codex-model-partitions",
            "commonplace.cli.repair_codex_model_partitions",
            "Rebuild run telemetry from session logs and rekey runs to the model used.",
        ),
        CommandSpec(
            "relocate-note",
            "commonplace.cli.relocate_note",
            "Move a note and its whole review history to a new path.",
        ),
        CommandSpec(
            "warn-selector",
            "commonplace.cli.warn_selector",
            "List the current accepted warn and fail reviews and their findings.",
        ),
        CommandSpec(
            "label",
            "commonplace.cli.label",
            "Record a person's verdict on a (note, gate) pair; --accept overrides the review.",
        ),
        CommandSpec(
            "show",
            "commonplace.cli.show",
            "Show one note's reviews per gate and partition, and with --history its story.",
        ),
        CommandSpec(
            "review-report",
            "commonplace.cli.review_report",
            "Report the review store as HTML, Markdown, JSON, SARIF or JUnit XML.",
        ),
        CommandSpec(
            "review-store",
            "commonplace.cli.review_store",
            "Check the review store's integrity, migrate it, or count what it holds.",
        ),
        CommandSpec(
            "init",
            "commonplace.cli.init",
            "Write a commented commonplace.toml for this KB and ignore the store in git.",
        ),
        CommandSpec(
            "doctor",
            "commonplace.cli.doctor",
            "Check the configuration, gates, store and runners; say what is wrong and the fix.",
        ),
        CommandSpec(
            "calibrate",
            "commonplace.cli.calibrate",
            "Review each gate's labelled examples and report accuracy, hit and false-alarm rates.",
        ),
    )
}


# The short verbs of the umbrella command, in the order --help lists them:
# verb -> (command name in COMMANDS, group, what it does in a few words). A
# verb whose command is not in COMMANDS is left out, so a command named by its
# verb (`init`) needs only its CommandSpec above.
EVERYDAY, MAINTENANCE = "everyday", "setup and maintenance"
VERBS: dict[str, tuple[str, str, str]] = {
    "status": ("review-target-selector", EVERYDAY, "what is stale, and why"),
    "review": ("review-sweep", EVERYDAY, "review the stale pairs through a runner"),
    "fixes": ("warn-selector", EVERYDAY, "the fix queue: current warn and fail findings"),
    "show": ("show", EVERYDAY, "one note's reviews and history"),
    "label": ("label", EVERYDAY, "a person's verdict on a pair (gate calibration)"),
    "report": ("review-report", EVERYDAY, "the store as HTML, Markdown, JSON, SARIF, JUnit"),
    "init": ("init", MAINTENANCE, "set up a KB repository: commonplace.toml"),
    "doctor": ("doctor", MAINTENANCE, "check the configuration, say how to fix it"),
    "calibrate": ("calibrate", MAINTENANCE, "measure gates on their labelled examples"),
    "store": ("review-store", MAINTENANCE, "check, migrate, count, export, import the store"),
}
# Commands of the umbrella only (no console script of their own).
UMBRELLA_ONLY: dict[str, CommandSpec] = {
    "completion": CommandSpec(
        "completion",
        "commonplace.cli.completion",
        "Print a bash or zsh completion script for commonplace.",
    ),
}


def verbs() -> dict[str, CommandSpec]:
    """Each short verb whose command exists, and that command."""
    return {v: COMMANDS[name] for v, (name, _, _) in VERBS.items() if name in COMMANDS}


def resolve(typed: str) -> CommandSpec | None:
    """The command a word after `commonplace` names: a verb, a command name
    (with or without `commonplace-`), or a command of the umbrella only."""
    name = typed.removeprefix("commonplace-")
    return verbs().get(name) or COMMANDS.get(name) or UMBRELLA_ONLY.get(name)


def umbrella_help() -> str:
    """`commonplace --help`: the verbs by group, each with its command name,
    then every other command under its own name."""
    lines = ["usage: commonplace <command> [options]", ""]
    named = verbs()
    for group in (EVERYDAY, MAINTENANCE):
        lines.append(f"{group}:")
        for verb, spec in named.items():
            _, in_group, blurb = VERBS[verb]
            if in_group == group:
                alias = spec.name if spec.name != verb else ""
                lines.append(f"  {verb:11}{blurb:50} {alias}".rstrip())
        if group == MAINTENANCE:
            # The one-line help as a blurb: no capital, no full stop.
            for n, s in UMBRELLA_ONLY.items():
                lines.append(f"  {n:11}{s.help[:1].lower()}{s.help[1:-1]}")
        lines.append("")
    lines.append("orchestration (by command name; each also a commonplace-<name> script):")
    aliased = {s.name for s in named.values()}
    lines += [f"  {n:29} {s.help}" for n, s in COMMANDS.items() if n not in aliased]
    lines += ["", "`commonplace <command> --help` shows a command's options and examples."]
    return "\n".join(lines)


def _entry(name: str) -> NoReturn:
    raise SystemExit(run(COMMANDS[name]))


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """`commonplace <command> ...`: a short verb, or a command without the prefix."""
    reconfigure_streams()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        from commonplace.cli.app import version

        print(version())
        raise SystemExit(0)
    if not args or args[0] in ("-h", "--help"):
        try:
            print(umbrella_help(), flush=True)
        except BrokenPipeError:  # `commonplace --help | head`: the reader left
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        raise SystemExit(0 if args else 2)
    if args[0] == "__complete":  # the completion scripts' quick lookups
        from commonplace.cli.complete_names import complete

        raise SystemExit(complete(args[1:]))
    spec = resolve(args[0])
    if spec is None:
        from commonplace.kb.suggest import did_you_mean

        known = [*verbs(), *COMMANDS, *UMBRELLA_ONLY, "--help"]
        hint = did_you_mean(args[0], known) or " (see commonplace --help)"
        # repr: a control character in the word is shown escaped, once.
        print(f"error: unknown command {args[0]!r}{hint}", file=sys.stderr)
        raise SystemExit(2)
    prog = f"commonplace {args[0].removeprefix('commonplace-')}"
    raise SystemExit(run(spec, args[1:], prog=prog))


def create_review_run() -> NoReturn:
    _entry("create-review-run")


def write_gate_review() -> NoReturn:
    _entry("write-gate-review")


def finalize_review_run() -> NoReturn:
    _entry("finalize-review-run")


def ingest_bundle_output() -> NoReturn:
    _entry("ingest-bundle-output")


def prepare_review_batch() -> NoReturn:
    _entry("prepare-review-batch")


def ingest_batch_output() -> NoReturn:
    _entry("ingest-batch-output")


def run_review_bundle() -> NoReturn:
    _entry("run-review-bundle")


def run_gate_sweep() -> NoReturn:
    _entry("run-gate-sweep")


def review_sweep() -> NoReturn:
    _entry("review-sweep")


def review_target_selector() -> NoReturn:
    _entry("review-target-selector")


def resolve_gates() -> NoReturn:
    _entry("resolve-gates")


def ack_gate_review() -> NoReturn:
    _entry("ack-gate-review")


def reap_stale_runs() -> NoReturn:
    _entry("reap-stale-runs")


def collect_provider_batches() -> NoReturn:
    _entry("collect-provider-batches")


def ack_trivial_note_changes() -> NoReturn:
    _entry("ack-trivial-note-changes")


def repair_codex_model_partitions() -> NoReturn:
    _entry("repair-codex-model-partitions")


def relocate_note() -> NoReturn:
    _entry("relocate-note")


def warn_selector() -> NoReturn:
    _entry("warn-selector")


def review_report() -> NoReturn:
    _entry("review-report")


def review_store() -> NoReturn:
    _entry("review-store")


def init() -> NoReturn:
    _entry("init")


def doctor() -> NoReturn:
    _entry("doctor")


def show() -> NoReturn:
    _entry("show")


def calibrate() -> NoReturn:
    _entry("calibrate")


def label() -> NoReturn:
    _entry("label")
