"""The A/B rounds of the extract CPU benchmarks (``square_orders_cpu``, ``lightspeed_extract_cpu``,
``toast_extract_cpu``): this tree's code against another checkout's, alternated, each round after
the emulator's serving ceiling measured in the same run.

Each benchmark keeps what is its own (its child's first sync, its ceiling, its summary figures);
this module holds what they share: the command line, the round loop (who goes first alternates per
round; each first sync in its own process on a fresh work folder, ``--dump`` comparing the two
codes' raw dumps), the medians of the children's stage timings and the product/baseline ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def ab_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every extract A/B benchmark takes (add the benchmark's own to it)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare-with", metavar="CHECKOUT", help="the baseline's code (e.g. a checkout of main)")
    parser.add_argument("--scale", default="chain", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dump", metavar="DIR", default=None,
                        help="dump every raw table into DIR (kept) and compare the two codes' dumps")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="hash the personal fields in the source, as the service does by default")
    parser.add_argument("--out", default=None)
    return parser


def ab_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], dict[str, Any]]) -> None:
    """The benchmark, its document written by :func:`bench._common.emit`. (Its children, ``script
    --child SPEC``, run with the baseline's code on the path, which may have no such module: each
    script answers ``--child`` itself, before it imports this one.)"""
    args = parser.parse_args()
    if not args.compare_with:
        parser.error("--compare-with CHECKOUT is required")
    from bench._common import emit

    emit(run(args), args.out)


@dataclass
class Rounds:
    """What the rounds measured: each code's child results, each round's ceiling, and (``--dump``)
    whether the two codes' dumps were byte-identical in each round."""

    codes: dict[str, Path]
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ceilings: list[dict[str, Any]] = field(default_factory=list)
    identical: list[bool] = field(default_factory=list)


def ab_rounds(args: argparse.Namespace, *, script: str, label: str, base: dict[str, Any],
              ceiling: Callable[[], dict[str, Any]],
              on_dumps: Callable[[dict[str, str]], None] | None = None) -> Rounds:
    """``args.repeat`` rounds: ``ceiling()`` (the emulator's serving, its summary) with the load
    average around it, then a first sync of each code (``script``'s child with ``base`` and a work
    folder; ``args.compare_with`` first in even rounds); ``on_dumps(paths by code)`` after each
    round's dumps are compared."""
    from bench._common import run_child_with_code

    rounds = Rounds({"baseline": Path(args.compare_with).resolve(), "product": ROOT})
    rounds.runs = {name: [] for name in rounds.codes}
    work_root = Path(tempfile.mkdtemp(prefix=f"pos-bench-{label}-"))
    try:
        for r in range(args.repeat):
            load = round(os.getloadavg()[0], 2)
            served = ceiling()
            rounds.ceilings.append(served | {"load_average_1m_at_start": load,
                                             "load_average_1m_at_end": round(os.getloadavg()[0], 2)})
            dumps: dict[str, str] = {}
            names = list(rounds.codes)
            for name in (names if r % 2 == 0 else names[::-1]):
                work = work_root / f"{name}_{r}"
                work.mkdir()
                spec = base | {"work": str(work)}
                if args.dump:
                    spec["dump"] = dumps[name] = str(Path(args.dump) / f"dump_{name}_{r + 1}.txt")
                print(f"[{label}] round {r + 1}: {name} …", file=sys.stderr, flush=True)
                rounds.runs[name].append(run_child_with_code(script, rounds.codes[name], spec) | {"round": r + 1})
                shutil.rmtree(work, ignore_errors=True)
            if args.dump:
                rounds.identical.append(Path(dumps["baseline"]).read_bytes() == Path(dumps["product"]).read_bytes())
                if on_dumps is not None:
                    on_dumps(dumps)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    return rounds


def stage_median(rounds: Rounds, name: str, step: str, key: str) -> float:
    """The median over ``name``'s runs of one stage's figure (``seconds``, ``cpu_seconds``)."""
    return round(statistics.median(x["steps"][step][key] for x in rounds.runs[name]), 3)


def stage_medians(rounds: Rounds, name: str) -> dict[str, float]:
    return {
        "extract_seconds_median": stage_median(rounds, name, "extract", "seconds"),
        "extract_cpu_seconds_median": stage_median(rounds, name, "extract", "cpu_seconds"),
        "normalize_seconds_median": stage_median(rounds, name, "normalize", "seconds"),
        "load_seconds_median": stage_median(rounds, name, "load", "seconds"),
    }


def product_over_baseline(summary: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {key: round(summary["product"][f"{key}_median"] / summary["baseline"][f"{key}_median"], 3)
            for key in ("extract_cpu_seconds", "extract_seconds")}


def dumps_identical(rounds: Rounds) -> dict[str, list[bool]]:
    return {"raw_dumps_identical_per_round": rounds.identical} if rounds.identical else {}
