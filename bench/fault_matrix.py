"""Benchmark: the fault matrix — every provider × every fault, each from a fresh small world.

Each scenario (``bench/fault_scenarios.py``: what is injected, when, and what the user then does)
links the store's account as a merchant would, runs ``pos-sync sync`` with the fault on, recovers
the way a user would (run it again; re-link after a revocation) and reports:

* ``rows``: canonical ``pos.pos_transactions`` rows of the provider;
* ``duplicates``: extra rows on the natural keys of ``pos_transactions``, ``pos_transaction_items``
  and ``pos_tenders``;
* ``cents_off``: the absolute differences, in cents, between the canonical daily money figures and
  the sandbox ledger's (``pos_sync.canonical.reconcile``), every day of every location;
* the sync logs (status, error type, the API counters) and the account's final status;
* ``verdict``: green when the figures are exact (0 cents off, no missing or extra day, no
  duplicate), the fault really fired and the sync log and the account tell the truth; ``n/a`` when
  the provider has no such thing (a page token that can expire), with the reason.

Each scenario runs in a process of its own (``--jobs`` at a time), with its own sandbox on
loopback, app store, DuckDB warehouse and Dagster home.

    python -m bench.fault_matrix [--providers square,toast,lightspeed] [--faults 429,reset,...]
                                 [--jobs 2] [--out bench/results/fault_matrix.json]

Exits 1 when a scenario is red. ``--merge-into FILE``: re-run some scenarios and replace their rows
in an existing result document (the table and the counts are recomputed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit, machine
from bench.fault_scenarios import DAYS, FAULTS, PROVIDERS, SEED, run_scenario


def _one(provider: str, fault: str, work: Path) -> dict[str, Any]:
    """One scenario in a child process (``--one``); its row, or a red row naming the crash."""
    out = work / f"{provider}-{fault}.json"
    proc = subprocess.run([sys.executable, "-m", "bench.fault_matrix", "--one", f"{provider}:{fault}",
                           "--work", str(work / f"{provider}-{fault}"), "--row-out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        return {"provider": provider, "fault": fault, "verdict": "red",
                "why": [f"scenario crashed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"]}
    return dict(json.loads(out.read_text()))


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of bench/README.md: provider × fault."""
    lines = ["| provider | fault | rows | duplicates | cents off | sync logs | final account status | verdict |",
             "|---|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        if r["verdict"] == "n/a":
            lines.append(f"| {r['provider']} | {r['fault']} | – | – | – | {r['reason']} | – | n/a |")
            continue
        logs = " → ".join(h["status"] for h in r.get("sync_logs", []))
        lines.append(f"| {r['provider']} | {r['fault']} | {r.get('rows', '?')} | {r.get('duplicates', '?')} | "
                     f"{r.get('cents_off', '?')} | {logs} | {r.get('account_status', '?')} | {r['verdict']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--jobs", type=int, default=2, help="scenarios at a time (one process each)")
    parser.add_argument("--out", default=None, help="write the JSON document here")
    parser.add_argument("--merge-into", default=None, help="replace these scenarios' rows in this result file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # provider:fault, run in this process
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--row-out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        provider, fault = args.one.split(":", 1)
        row = run_scenario(provider, fault, Path(args.work))
        Path(args.row_out).write_text(json.dumps(row, default=str))
        return

    providers = [p for p in args.providers.split(",") if p]
    faults = [f for f in args.faults.split(",") if f]
    unknown = sorted(set(providers) - set(PROVIDERS)) + sorted(set(faults) - set(FAULTS))
    if unknown:
        parser.error(f"unknown provider or fault: {', '.join(unknown)}")
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="pos-fault-matrix-"))
    started = time.perf_counter()
    pairs = [(p, f) for p in providers for f in faults]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda pf: _one(pf[0], pf[1], work), pairs))
    for r in rows:
        print(f"{r['provider']:>10} × {r['fault']:<17} {r['verdict']:>5} {r.get('seconds', '')} "
              f"{'; '.join(r.get('why') or [])}", file=sys.stderr)
    rerun: dict[str, Any] = {}
    if args.merge_into:
        base = json.loads(Path(args.merge_into).read_text())
        fresh = {(r["provider"], r["fault"]): r for r in rows}
        rerun = {"rerun_scenarios": [f"{p}:{f}" for p, f in pairs], "rerun_at_load": info["load_average_1m_at_start"],
                 "first_run_seconds": base.get("seconds")}
        rows = [fresh.get((r["provider"], r["fault"]), r) for r in base["scenarios"]]
        info = base["machine"]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("green", "red", "n/a")}
    document = {
        "benchmark": "fault_matrix",
        "world": {"seed": SEED, "days": DAYS, "scale": "tiny"},
        "machine": info,
        "seconds": round(time.perf_counter() - started, 1),
        "jobs": args.jobs,
        "verdict": "green" if not counts["red"] else "red",
        "counts": counts,
        "table": table(rows),
        **rerun,
        "scenarios": rows,
    }
    emit(document, args.out)
    if counts["red"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
