"""``pos-sync`` command line.

Conventions every sub-command follows: ``--json`` prints exactly one JSON document on stdout;
progress and logs go to stderr; a failed command exits non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "pos_sync.cli.sandbox",
    "pos_sync.cli.accounts",
    "pos_sync.cli.sync",
    "pos_sync.cli.demo",
)


class CommandError(Exception):
    """A user-facing failure: printed as one line on stderr, exit code 1 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def emit_json(document: object) -> None:
    """Print one JSON document on stdout (the only thing a ``--json`` command prints there)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pos-sync",
        description="Sync point-of-sale data (Square, Toast, Lightspeed) into exact, normalized sales tables.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CommandError as exc:
        log(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
