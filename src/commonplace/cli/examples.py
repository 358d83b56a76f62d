"""The examples at the end of every command's `--help`, kept in one place.

Each entry is a few lines: `# what it does`, then the command. A test parses
every command line with the command's parser, so an example cannot drift
from the options it shows. A new command adds its entry here.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "review-target-selector": """
        # what is stale for the default model, and why
        commonplace status
        # one lens for one note, for a named model
        commonplace status clarity --note kb/notes/frost-dates.md --model sonnet
        # in CI: exit 1 when anything is stale
        commonplace status --model sonnet --fail-on-stale --json
    """,
    "review-sweep": """
        # see what a sweep would do and cost, without doing it
        commonplace review --runner claude-code --model sonnet --dry-run
        # review every stale pair, two batches at once, within a budget
        commonplace review --runner claude-code --model sonnet --jobs 2 --max-cost-usd 5
        # only the clarity lens, only current notes
        commonplace review clarity --current --runner codex --model gpt-5
    """,
    "warn-selector": """
        # every current warn and fail finding, for the default model
        commonplace fixes
        # the findings of one note, as JSON
        commonplace fixes kb/notes/frost-dates.md --model sonnet --json
        # in CI: the notes a pull request changed; exit 1 on any fail
        commonplace fixes --changed-since origin/main --fail-on fail
    """,
    "show": """
        # one note's reviews: decision, staleness, findings, suggested revision
        commonplace show kb/notes/frost-dates.md
        # its whole story in one partition: runs, acceptances, moves, rekeys
        commonplace show frost-dates.md --model demo --history
        commonplace show kb/notes/frost-dates.md --json
    """,
    "label": """
        # a person's verdict on a pair, for calibration and disagreements
        commonplace label kb/notes/frost-dates.md clarity/undefined-abbreviation --decision pass
        # overrule the model's review in its partition: the pair is fresh
        commonplace label frost-dates.md metadata/tags-present --decision fail --model demo --accept
    """,
    "init": """
        # in your KB's repository: write commonplace.toml and ignore the store
        commonplace init
        # also add a small starter lens of gates
        commonplace init --example-gates
    """,
    "doctor": """
        # what is wrong with the configuration, gates, store and runners
        commonplace doctor
        # the same as JSON, for another store
        commonplace doctor --json --db /tmp/reviews.sqlite
    """,
    "calibrate": """
        # review every gate's examples that changed, and report the figures
        commonplace calibrate --runner codex --model gpt-5
        # in CI: exit 1 when a gate of the lens is below 80% accuracy
        commonplace calibrate starter --runner codex --model gpt-5 --fail-under accuracy=0.8
        # three reviews per example, for the self-consistency
        commonplace calibrate starter/one-idea --runner codex --model gpt-5 --repeat 3 --json
    """,
    "review-report": """
        # an HTML report of the whole store
        commonplace report --format html --out kb/reports/review.html
        # SARIF for code scanning
        commonplace report --format sarif --model sonnet --out review.sarif
        # one note's reviews as Markdown
        commonplace report --format markdown --note kb/notes/frost-dates.md
    """,
    "review-store": """
        # check the store's integrity
        commonplace store check
        # migrate it to the current schema, then count what it holds
        commonplace store migrate
        commonplace store stats --json
        # move it elsewhere: export a dump, import it into another store
        commonplace store export --out reviews.dump
        commonplace store import reviews.dump --db postgresql://reviews@db.example/reviews
    """,
    "create-review-run": """
        # a run for one note and a lens, with the live agent's prompt
        commonplace create-review-run kb/notes/frost-dates.md clarity --runner live-agent \\
            --model sonnet --with-prompt
        # one gate, JSON output for a script
        commonplace create-review-run kb/notes/frost-dates.md claims/title-states-a-claim \\
            --runner live-agent --model sonnet --json
    """,
    "write-gate-review": """
        # record one gate's review from a file
        commonplace write-gate-review --review-run-id 12 --gate clarity/undefined-abbreviation \\
            --input-file review.md
        # from stdin
        commonplace write-gate-review --review-run-id 12 --gate claims/title-states-a-claim \\
            --input-file -
    """,
    "finalize-review-run": """
        # complete run 12 and accept its reviews
        commonplace finalize-review-run --review-run-id 12
        commonplace finalize-review-run --review-run-id 12 --json
    """,
    "ingest-bundle-output": """
        # all of a live agent's output for run 12, or nothing
        commonplace ingest-bundle-output --review-run-id 12 --input-file bundle-output.md
        commonplace ingest-bundle-output --review-run-id 12 --input-file - --json
    """,
    "prepare-review-batch": """
        # one batch of pairs for an external executor, and its prompt
        commonplace prepare-review-batch kb/notes/frost-dates.md::clarity \\
            kb/notes/seed-packets.md::claims/title-states-a-claim --runner claude-workflow \\
            --model sonnet
        commonplace prepare-review-batch kb/notes/frost-dates.md::metadata --runner live-agent \\
            --model sonnet --json
    """,
    "ingest-batch-output": """
        # what the executor of batch 3 wrote, completing the runs that arrived
        commonplace ingest-batch-output --batch-id 3 --input-file batch-3-output.md
        # only two of its runs
        commonplace ingest-batch-output --review-run-ids 14 15 --input-file batch-3-output.md
    """,
    "run-review-bundle": """
        # review one note against a lens through Claude Code
        commonplace run-review-bundle kb/notes/frost-dates.md clarity --runner claude-code \\
            --model sonnet
        # the forecast only: pairs, tokens and cost
        commonplace run-review-bundle kb/notes/frost-dates.md clarity claims --runner codex \\
            --model gpt-5 --dry-run
    """,
    "run-gate-sweep": """
        # one gate over every note it applies to, five notes a batch
        commonplace run-gate-sweep clarity/undefined-abbreviation --runner claude-code \\
            --model sonnet
        # only the stale pairs, as provider batch jobs at half price
        commonplace run-gate-sweep claims/title-states-a-claim --stale-only --provider-batch \\
            --runner anthropic-api --model sonnet
    """,
    "resolve-gates": """
        # the gate ids a lens names, and their texts
        commonplace resolve-gates clarity
        commonplace resolve-gates clarity claims/title-states-a-claim --json
    """,
    "ack-gate-review": """
        # accept the note's current version for a gate, without a review
        commonplace ack-gate-review kb/notes/frost-dates.md clarity/undefined-abbreviation \\
            --model sonnet
        # only if the note is still the version inspected
        commonplace ack-gate-review kb/notes/frost-dates.md clarity --model sonnet \\
            --expect-note-sha 3f2a9c1
    """,
    "reap-stale-runs": """
        # list the abandoned runs, change nothing
        commonplace reap-stale-runs --dry-run
        # fail the runs without a lease that have run for over 90 minutes
        commonplace reap-stale-runs --older-than 90m
    """,
    "collect-provider-batches": """
        # poll the provider batch jobs and ingest those that ended
        commonplace collect-provider-batches
        # cancel one job
        commonplace collect-provider-batches --cancel msgbatch_01HdJ8 --json
    """,
    "ack-trivial-note-changes": """
        # see which note changes touch nothing the gates watch
        commonplace ack-trivial-note-changes --model sonnet --dry-run
        # accept them for one lens
        commonplace ack-trivial-note-changes clarity --model sonnet
    """,
    "repair-codex-model-partitions": """
        # see which runs the session logs would rekey
        commonplace repair-codex-model-partitions --dry-run
        commonplace repair-codex-model-partitions --runner codex --review-run-id 12 13
    """,
    "relocate-note": """
        # move a note and its review history
        commonplace relocate-note kb/notes/frost-dates.md kb/notes/garden/frost-dates.md
        # the file was moved already (git mv): move only the history
        commonplace relocate-note kb/notes/frost-dates.md kb/notes/garden/frost-dates.md \\
            --already-moved
    """,
    "completion": """
        # enable completion in the current bash, or for every new one
        eval "$(commonplace completion bash)"
        commonplace completion bash > ~/.local/share/bash-completion/completions/commonplace
        # zsh: a file named _commonplace in a folder of $fpath
        commonplace completion zsh > ~/.zfunc/_commonplace
    """,
}


def example_lines(name: str) -> list[str]:
    """The example's lines, without the indentation they are written with."""
    import textwrap

    return textwrap.dedent(EXAMPLES.get(name, "")).strip().splitlines()


def example_commands(name: str) -> list[list[str]]:
    """The words of each `commonplace ...` example, continuation lines joined,
    up to a redirection or a pipe: what its parser is given."""
    import shlex

    commands = []
    for line in "\n".join(example_lines(name)).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["commonplace"]:
            cut = [i for i, w in enumerate(words) if w in (">", ">>", "|", "&&")]
            commands.append(words[: cut[0]] if cut else words)
    return commands


def epilog(name: str) -> str | None:
    """The `examples:` section of a command's help, or None."""
    lines = example_lines(name)
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else None
