"""commonplace-resolve-gates GATE_OR_LENS..."""

from __future__ import annotations

import argparse

from commonplace.cli import app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gates", nargs="+", metavar="GATE_OR_LENS")
    app.add_db(parser)
    app.add_json(parser)


def run(args: argparse.Namespace) -> int:
    from commonplace.kb.gates import load_gates, resolve_gate_ids

    ws = app.workspace(args)
    gates = load_gates(ws.config, resolve_gate_ids(ws.config, args.gates, cwd=ws.cwd))
    payload = [
        {
            "gate_id": g.id,
            "path": g.key,
            "sha": g.sha,
            "description": g.description,
            "watches": list(g.watches),
            "text": g.body,
        }
        for g in gates
    ]
    app.emit(args, payload, "\n".join(f"=== gate: {g.id} ===\n{g.body.rstrip()}\n" for g in gates))
    return 0
