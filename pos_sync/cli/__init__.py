"""``pos-sync`` command line.

Conventions every sub-command follows: ``--json`` prints exactly one JSON document on stdout;
progress and logs go to stderr; a failed command exits non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "pos_sync.cli.sandbox",
    "pos_sync.cli.accounts",
    "pos_sync.cli.sync",
    "pos_sync.cli.backfill",
    "pos_sync.cli.demo",
    "pos_sync.cli.dev",
    "pos_sync.cli.topology",
    "pos_sync.cli.tenants",
    "pos_sync.cli.api",
    "pos_sync.cli.products",
    "pos_sync.cli.mappings",
    "pos_sync.cli.events",
    "pos_sync.cli.privacy",
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
        epilog="Every failure prints one line on stderr and exits non-zero; --debug (or POS_DEBUG=1) adds the "
               "full trace.",
    )
    parser.add_argument("--debug", action="store_true", help="print the full trace of a failure")
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


def _debug(args: argparse.Namespace) -> bool:
    if getattr(args, "debug", False):
        return True
    from pos_sync.settings import SettingsError, load_settings

    try:
        return load_settings().debug
    except SettingsError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure prints one line (``error: …``) and exits non-zero; the full
    trace only with ``--debug`` or ``POS_DEBUG=1``.

    Run as the process's command (``argv`` None: ``pos-sync …``, ``python -m pos_sync.cli …``), the
    objects alive once the command modules are imported, and again once the command is done, are
    moved out of the garbage collector's reach (``gc.freeze``): they live as long as the process, so
    the collector's full passes during the command stop walking the ~10⁶ objects Dagster, dlt and
    pyarrow import, and the interpreter's exit no longer spends a second and more on a last full
    collection of them (measured: ``pos-sync sync`` of a new account, 1.2–1.5 s of its exit). The
    command modules and the command's own heavy modules (:func:`preload`) are imported with the
    collector paused. Called with an ``argv`` (tests, scripts that call it in-process), nothing is
    frozen and the collector is left alone."""
    import traceback

    from pos_sync.cli.errors import explain
    from pos_sync.settings import load_settings

    process = argv is None
    if process:
        gc.disable()  # until the command's modules are imported (see preload)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if process:
            preload(getattr(args, "preload", ()))
        load_settings()  # the environment is validated before any work (one line naming the variable)
        result = args.func(args)
    except CommandError as exc:
        if _debug(args) and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        log(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every failure is turned into one line
        if _debug(args):
            traceback.print_exc(file=sys.stderr)
        known = explain(exc)
        log(f"error: {known}" if known else
            f"error: unexpected {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''} "
            "(run again with --debug for the full trace)")
        return 1
    finally:
        if process:
            gc.freeze()
            gc.enable()
    return int(result or 0)


def preload(modules: Sequence[str]) -> None:
    """Import the modules a command will need (its ``preload`` default: Dagster, dlt, pyarrow… for
    a sync) with the garbage collector paused, then freeze what they made and resume it.

    Importing them allocates ~10⁶ objects that live as long as the process; with the collector on,
    its full passes kept walking them while they were being made (the sync's imports alone: ~2.2 s
    against ~2.8 s, 5 alternated runs; a no-change ``pos-sync sync`` process 6.6 s against 8.0 s,
    ``bench/README.md``, stop 38). The modules are the ones the command imports anyway, a little
    later; a module that is missing is left for the command to fail on."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    gc.freeze()
    gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
