"""Secrets a runner child prints never reach the store, the artifacts or our own
output (SPEC 13). A configured command runner (`[runners.leaky]`) answers the
example KB's pairs like the stand-in reviewer and also leaks a credential: an
`Authorization: Bearer sk-ant-api03-...` header, or the shape-less value of a
secret-looking variable of its environment. The commands run as real
processes; then every byte they left behind is searched for the secret."""

from __future__ import annotations

import secrets
import sqlite3
import string
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.commands import run_script
from helpers.db import STORE, rows, run_states
from helpers.kb import commit_all

from commonplace.store.packing import unpack

NOTE = "kb/notes/frost-dates.md"  # the stand-in passes both clarity gates here
LENS = "clarity"
TOKEN_VAR = "MY_SERVICE_TOKEN"

# The runner: the stand-in reviewer's answer, plus a leak chosen by argv.
# KEY is filled in per test; the env-only secret arrives in MY_SERVICE_TOKEN.
LEAKY = r"""
import importlib.util
import json
import os
import sys

KEY = %(key)r
SHAPE = %(shape)r  # a credential in its own shape, printed as it is
MODE, KIND = sys.argv[1], sys.argv[2]
if KIND == "shaped":
    VALUE = KEY
    LEAK = f"Authorization: Bearer {VALUE}"
elif KIND == "env":
    VALUE = os.environ["MY_SERVICE_TOKEN"]
    LEAK = f"connected with {VALUE}"
else:
    VALUE = LEAK = SHAPE

spec = importlib.util.spec_from_file_location("stand_in", "tools/stand-in-reviewer.py")
stand_in = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stand_in)
review = stand_in.answer(sys.stdin.read())


def telemetry(document):
    with open(os.environ["COMMONPLACE_TELEMETRY_FILE"], "w", encoding="utf-8") as handle:
        json.dump(document, handle)


if MODE == "stderr":
    sys.stdout.write(review)
    sys.stderr.write(f"debug: sending request\n{LEAK}\ndebug: done\n")
elif MODE == "review":
    said = f"The reviewer saw {LEAK}.\n### Findings\n- WARN: {LEAK}\n"
    sys.stdout.write(review.replace("### Findings\n", said))
elif MODE == "retry":
    # the first call answers one pair of two; asked again, the other one
    blocks = review.split("=== PAIR REVIEW START")
    said = f"The reviewer saw {LEAK}.\n### Findings\n"
    sys.stdout.write("=== PAIR REVIEW START".join(blocks[:2]).replace("### Findings\n", said))
elif MODE == "exit-after-review":
    sys.stdout.write(review)
    sys.stderr.write(f"request failed: {LEAK}\n")
    sys.exit(1)
elif MODE == "crash":
    sys.stderr.write(f"request failed: {LEAK}\n")
    sys.exit(1)
elif MODE == "usage-limit":
    sys.stderr.write(f"quota exhausted for {LEAK}\n")
    sys.exit(75)
elif MODE == "telemetry":
    sys.stdout.write(review)
    telemetry({
        "tokens": {"input": 1200, "output": 80},
        "request": LEAK,
        "headers": {"Authorization": f"Bearer {VALUE}"} if KIND in ("shaped", "env") else {},
        "log": [f"POST /v1/messages {LEAK}"],
    })
elif MODE in ("cli_version", "session_id", "effort"):
    sys.stdout.write(review)
    telemetry({MODE: VALUE, "tokens": {"input": 1200, "output": 80}})
elif MODE == "models":
    sys.stdout.write(review)
    telemetry({"models": [VALUE, "other-model"]})
elif MODE == "model":
    sys.stdout.write(review)
    telemetry({"model": VALUE})
elif MODE == "telemetry-key":
    sys.stdout.write(review)
    telemetry({"usage_by_key": {VALUE: 1200}})
elif MODE == "cut-failure":
    # the failure message keeps the last 300 characters of stderr
    sys.stderr.write(f"request failed: {LEAK} " + "z" * 270 + "\n")
    sys.exit(1)
elif MODE == "cut-excerpt":
    # the debug log keeps 48 KiB of head and of tail; this line is longer
    # than the tail, so it is cut 30 characters before the end of the value
    sys.stdout.write(review)
    sys.stderr.write("x" * (48 * 1024 - 1) + "\n")
    sys.stderr.write(f"{LEAK} " + "y" * (48 * 1024 - 31) + "\n")
else:
    raise SystemExit(f"unknown mode {MODE}")
"""

SHAPED, ENV = "shaped", "env"
TABLE = "table "  # how a column of the store is named among the places


def _random(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


class Leak:
    """One test's secret and the strings that must not appear anywhere."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.key = "sk-ant-api03-" + _random(string.ascii_letters + string.digits, 64)
        # shape-less: only its variable's name says it is a secret
        self.token = "vq" + _random(string.ascii_letters + string.digits, 30)
        self.value = self.key if kind == SHAPED else self.token
        # a credential of one of the shapes of SHAPE_LEAKS: how it is printed,
        # and the part of it that must disappear
        self.shape, self.secret = SHAPE_LEAKS[kind]() if kind in SHAPE_LEAKS else ("", "")

    def forms(self) -> tuple[str, ...]:
        """The secret, and its lower-case form (model names are normalized)."""
        if self.secret:
            return (self.secret, self.secret.lower())
        core = self.value.removeprefix("sk-ant-api03-")
        return (self.value, core, core.lower())

    def fragments(self, size: int = 16) -> tuple[str, ...]:
        core = self.value.removeprefix("sk-ant-api03-")
        return tuple(core[i : i + size] for i in range(len(core) - size + 1))


ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"


def _pem(header_gap: str) -> tuple[str, str]:
    """A private key whose header and footer are broken by `header_gap`."""
    lines = ["MII" + _random(BASE64, 61) for _ in range(4)]
    space = header_gap or " "
    begin = f"-----{header_gap}BEGIN RSA PRIVATE{space}KEY{header_gap}-----"
    end = f"-----{header_gap}END RSA PRIVATE{space}KEY{header_gap}-----"
    return "\n".join([begin, *lines, end]), lines[1][3:]


def _slack_webhook() -> tuple[str, str]:
    secret = _random(ALNUM, 24)
    return (
        f"https://hooks.slack.com/services/T{_random(ALNUM, 10)}/B{_random(ALNUM, 10)}/{secret}",
        secret,
    )


def _shape(
    prefix: str, alphabet: str, size: int, suffix: str = ""
) -> Callable[[], tuple[str, str]]:
    def make() -> tuple[str, str]:
        secret = _random(alphabet, size)
        return prefix + secret + suffix, secret

    return make


# The shapes of issue item 5: each prints (the text, the secret part of it).
SHAPE_LEAKS: dict[str, Callable[[], tuple[str, str]]] = {
    "aws-secret-env": _shape("AWS_SECRET_ACCESS_KEY=", BASE64, 40),
    "aws-secret-file": _shape("aws_secret_access_key = ", BASE64, 40),
    "url-credentials": _shape("postgres://reviewer:", ALNUM + "!*~", 24, "@db.internal:5432/kb"),
    "stripe-live": _shape("sk_live_", ALNUM, 99),
    "slack-token": _shape("xoxb-1234567890123-1234567890123-", ALNUM, 24),
    "slack-webhook": _slack_webhook,
    "github-classic": _shape("ghp_", ALNUM, 36),
    "github-fine-grained": _shape("github_pat_11ABCDEFG0", ALNUM + "_", 72),
    "google-api-key": _shape("AIza", ALNUM + "_-", 35),
    "pem-private-key": lambda: _pem(""),
    "pem-header-split": lambda: _pem("\n"),
    "pem-header-spaced": lambda: _pem(" "),
}


def install(kb: Path, leak: Leak, mode: str) -> None:
    """`[runners.leaky]` in the KB's config, running the leaky program."""
    program = LEAKY % {"key": leak.key, "shape": leak.shape}
    (kb / "tools" / "leaky.py").write_text(program, encoding="utf-8")
    with (kb / "commonplace.toml").open("a", encoding="utf-8") as handle:
        handle.write(
            "\n[runners.leaky]\n"
            f"command = [{sys.executable!r}, 'tools/leaky.py', {mode!r}, {leak.kind!r}]\n"
            f'env = ["{TOKEN_VAR}"]\n'
            "timeout = 120\n"
        )
    commit_all(kb, "a leaky runner")


def review(
    kb: Path, tmp_path: Path, leak: Leak, command: str = "run-review-bundle", *options: str
) -> tuple[str, str, int]:
    """Run the command for NOTE's clarity gates through the leaky runner, as a
    real process with its own temp directory; returns its stdout, stderr, code."""
    temp = tmp_path / "command-tmp"
    temp.mkdir(exist_ok=True)
    target = (NOTE, LENS) if command == "run-review-bundle" else (LENS, "--note", NOTE)
    done = run_script(
        f"commonplace-{command}",
        [*target, "--runner", "leaky", "--model", "demo", *options],
        cwd=kb,
        env={TOKEN_VAR: leak.token, "TMPDIR": str(temp)},
    )
    return done.stdout, done.stderr, done.returncode


def everything_left(kb: Path, tmp_path: Path, out: str, err: str) -> dict[str, str]:
    """Every place the secret could have landed, as text by where it is."""
    places = {"stdout": out, "stderr": err}
    store = kb / STORE
    # raw bytes first: opening the store below creates its -wal/-shm again
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(f"{store}{suffix}")
        if path.exists():
            places[path.name] = path.read_bytes().decode("latin-1")
    conn = sqlite3.connect(store)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f"SELECT * FROM {table}")
            columns = [d[0] for d in cursor.description]
            for number, row in enumerate(cursor):
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes) and column.endswith("_z"):
                        value = unpack(None, value)  # a compressed text: read it inflated
                    elif isinstance(value, bytes):
                        value = value.decode("latin-1")
                    if value is not None:
                        places[f"{TABLE}{table}.{column} (row {number})"] = str(value)
    finally:
        conn.close()
    for root in (kb / "kb" / "reports", tmp_path / "command-tmp"):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return places


def assert_nowhere(places: dict[str, str], needles: tuple[str, ...]) -> None:
    found = {
        (where, needle) for where, text in places.items() for needle in needles if needle in text
    }
    assert not found, f"the secret leaked into: {sorted({w for w, _ in found})}"


def statuses(kb: Path) -> list[tuple[str, str | None]]:
    return list(run_states(kb / STORE).values())


def redacted_somewhere(places: dict[str, str]) -> bool:
    """Whether a column of the store holds a redaction mark."""
    return any("[REDACTED]" in text for where, text in places.items() if where.startswith(TABLE))


@pytest.fixture(params=[SHAPED, ENV])
def leak(request: pytest.FixtureRequest) -> Leak:
    return Leak(request.param)


# --- the runner completes its review -------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("stderr", ()),
        ("stderr", ("--json",)),
        ("review", ("--quiet",)),
        ("review", ("--quiet", "--json")),
        ("exit-after-review", ("--quiet",)),
        ("telemetry", ()),
    ],
)
def test_a_leaked_secret_is_stored_nowhere_and_the_review_completes(
    example_kb: Path, tmp_path: Path, leak: Leak, mode: str, options: tuple[str, ...]
) -> None:
    install(example_kb, leak, mode)

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle", *options)

    assert code == 0, out + err
    assert statuses(example_kb) == [("completed", None)]
    assert len(rows(example_kb / STORE, "SELECT * FROM gate_reviews")) == 2
    places = everything_left(example_kb, tmp_path, out, err)
    assert_nowhere(places, leak.forms())
    assert redacted_somewhere(places)  # it arrived, and was redacted


def test_a_secret_in_the_review_text_is_redacted_in_rationale_and_findings(
    example_kb: Path, tmp_path: Path, leak: Leak
) -> None:
    install(example_kb, leak, "review")

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle", "--quiet")

    assert code == 0, out + err
    for rationale, findings in rows(
        example_kb / STORE, "SELECT rationale_markdown, findings_json FROM gate_reviews"
    ):
        assert "[REDACTED]" in rationale and "[REDACTED]" in findings
        assert "Stand-in review" in rationale  # the review itself is kept
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


def test_a_secret_in_the_answer_to_a_second_request_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, leak: Leak
) -> None:
    install(example_kb, leak, "retry")

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle", "--quiet")

    assert code == 0, out + err
    assert statuses(example_kb) == [("completed", None)]
    batch = example_kb / "kb" / "reports" / "bundle-reviews" / "review-batch-1"
    assert (batch / "bundle-output-missing-pairs.md").is_file()  # it was asked twice
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


@pytest.mark.parametrize("mode", ["stderr", "telemetry", "exit-after-review"])
def test_a_sweep_stores_a_leaked_secret_nowhere(
    example_kb: Path, tmp_path: Path, leak: Leak, mode: str
) -> None:
    install(example_kb, leak, mode)

    out, err, code = review(example_kb, tmp_path, leak, "review-sweep", "--stream")

    assert code == 0, out + err
    assert statuses(example_kb) == [("completed", None)]
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


@pytest.mark.parametrize(
    ("command", "options"), [("run-review-bundle", ()), ("review-sweep", ("--stream",))]
)
def test_the_live_output_on_stderr_is_redacted(
    example_kb: Path, tmp_path: Path, leak: Leak, command: str, options: tuple[str, ...]
) -> None:
    install(example_kb, leak, "review")

    out, err, code = review(example_kb, tmp_path, leak, command, *options)

    assert code == 0, out + err
    assert "[batch 1]" in err  # the live output was shown
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


# --- the runner fails -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "code", "reason"),
    [("crash", 1, "exited 1"), ("usage-limit", 75, "usage exhausted")],
)
@pytest.mark.parametrize("options", [(), ("--json",)])
def test_a_secret_in_a_failure_is_stored_nowhere(
    example_kb: Path,
    tmp_path: Path,
    leak: Leak,
    mode: str,
    code: int,
    reason: str,
    options: tuple[str, ...],
) -> None:
    install(example_kb, leak, mode)

    out, err, exit_code = review(example_kb, tmp_path, leak, "run-review-bundle", *options)

    assert exit_code == code, out + err
    [(status, failure)] = statuses(example_kb)
    assert status == "failed" and reason in failure and "[REDACTED]" in failure, failure
    assert "Traceback" not in err
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


# --- telemetry fields beyond `details` ---------------------------------------------------


@pytest.mark.parametrize("mode", ["cli_version", "session_id", "models", "effort"])
def test_a_shaped_secret_in_a_telemetry_field_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, mode: str
) -> None:
    leak = Leak(SHAPED)
    install(example_kb, leak, mode)

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle")

    assert code == 0, out + err
    assert statuses(example_kb) == [("completed", None)]
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


@pytest.mark.parametrize("mode", ["cli_version", "session_id", "models", "effort"])
def test_an_environment_secret_in_a_telemetry_field_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, mode: str
) -> None:
    leak = Leak(ENV)
    install(example_kb, leak, mode)

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle")

    assert code == 0, out + err
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


def test_a_secret_named_as_the_served_model_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, leak: Leak
) -> None:
    install(example_kb, leak, "model")

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle")

    assert code == 0, out + err
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


def test_a_secret_as_a_key_of_the_telemetry_file_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, leak: Leak
) -> None:
    install(example_kb, leak, "telemetry-key")

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle")

    assert code == 0, out + err
    assert_nowhere(everything_left(example_kb, tmp_path, out, err), leak.forms())


# --- cutting output to size ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cut-failure", "cut-excerpt"])
def test_no_fragment_of_a_secret_survives_cutting_output(
    example_kb: Path, tmp_path: Path, leak: Leak, mode: str
) -> None:
    install(example_kb, leak, mode)

    out, err, _ = review(example_kb, tmp_path, leak, "run-review-bundle", "--quiet")

    places = everything_left(example_kb, tmp_path, out, err)
    assert_nowhere(places, leak.forms())  # the whole secret is gone either way
    assert_nowhere(places, leak.fragments())


# --- every shape of issue item 5 -------------------------------------------------------


@pytest.mark.parametrize("mode", ["review", "stderr", "telemetry", "models"])
@pytest.mark.parametrize("shape", sorted(SHAPE_LEAKS))
def test_every_secret_shape_printed_by_a_runner_is_stored_nowhere(
    example_kb: Path, tmp_path: Path, shape: str, mode: str
) -> None:
    leak = Leak(shape)
    install(example_kb, leak, mode)

    out, err, code = review(example_kb, tmp_path, leak, "run-review-bundle")

    assert code == 0, out + err
    assert statuses(example_kb) == [("completed", None)]
    places = everything_left(example_kb, tmp_path, out, err)
    assert_nowhere(places, leak.forms())
    if mode != "models":  # a model name carrying a secret is dropped, not redacted
        assert redacted_somewhere(places)
