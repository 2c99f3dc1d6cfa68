"""Experiment (not the product's path): a first sync's historical import in **two loads**, the first
built into the canonical tables while the second is read, against the import in **one load** built
after it — alternated, same sandbox, same run. Each first sync in its own process on a fresh
``POS_HOME`` (``pos-sync accounts add``, then the child below), both reconciled to the sandbox ledger.

What it measures is whether overlapping the canonical build with the rate- or CPU-paced extract is
worth building into the raw step (#18: the fixed work around the extract decides the end-to-end
fraction): the child runs the service core's own pieces (``AccountSync``: its pipeline, source,
``drop_repeats``; ``build_account``) without Dagster, timing:

* ``one``: ``pipeline.run`` (extract, normalize, load), ``drop_repeats``, ``build_account``;
* ``two``: ``pipeline.run`` of the older part, ``drop_repeats``, then ``build_account`` of it on a
  thread while the main thread extracts the rest (``pipeline.extract``), then normalize and load of
  the rest, ``drop_repeats``, ``build_account`` of the rest.

How the history is cut: Lightspeed's sales feed stops after ``--split`` pages (1 000 sales a page;
its cursor is then that page's ``version.max``, and the second source pages on from it — as a sync
that stopped early does); Toast's and Square's first part ends ``--split`` days before the clock
(the second source reads on from the first part's marks, with their lookback).

    python -m bench.history_in_two_loads --provider lightspeed --split 26 [--pairs 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._ceilings import account
from bench._common import ROOT, emit, machine, sandbox_process
from bench.end_to_end_import import _add_argv, account_env

SEED, START, DAYS, SCALE = 42, date(2026, 1, 5), 14, "chain"


def _cap_lightspeed_sales(pages: int) -> Any:
    """The Lightspeed source's sales feed ends after ``pages`` pages (this process only) until the
    returned function is called."""
    import dlt_sources.lightspeed.source as lightspeed

    feed = lightspeed.version_feed

    def capped(client: Any, path: str, after: int, page_size: int, params: Any = None, **kw: Any) -> Any:
        for index, page in enumerate(feed(client, path, after, page_size, params, **kw)):
            if path.endswith("/sales") and index >= pages:
                return
            yield page
    lightspeed.version_feed = capped
    return lambda: setattr(lightspeed, "version_feed", feed)


def _older_part(run: Any, pipeline: Any, now: datetime, days_before: int) -> Any:
    """The account's historical source with its clock ``days_before`` days early and its start kept."""
    from dlt_sources.common import RetryPolicy
    from pos_sync.privacy import source_pseudonymizer
    from pos_sync.providers import SourceRequest

    settings = run.settings
    days = run.account.historical_import_days or settings.historical_import_days
    return run.spec.build_source(SourceRequest(
        creds=run.creds, token_provider=run.token_provider(), pipeline=pipeline, now=now - timedelta(days=days_before),
        initial_start=now - timedelta(days=days), start=None, end=None,
        retry_policy=RetryPolicy(max_elapsed=float(settings.sync_retry_budget_seconds),
                                 timeout=float(settings.http_timeout_seconds)),
        pseudonymize=source_pseudonymizer(settings, run.account.tenant_id), first_load=True))


def child(mode: str, provider: str, account_id: str, split: int) -> dict[str, Any]:
    """One first sync of ``account_id`` in this process (``POS_HOME`` from the environment)."""
    from pos_sandbox.ledger import compute_truth
    from pos_sandbox.world import World
    from pos_sync.appstore import AppStore
    from pos_sync.canonical.build import build_account
    from pos_sync.canonical.reconcile import canonical_daily, compare_daily
    from pos_sync.ingest.sync import AccountSync, load_config
    from pos_sync.providers import registry
    from pos_sync.settings import load_settings
    from pos_sync.warehouse.pipelines import duckdb_kept_open
    from pos_sync.warehouse.sql import Warehouse

    settings = load_settings()
    run = AccountSync(AppStore(settings), settings, registry.get(provider), account_id)
    now = datetime.fromisoformat(os.environ["POS_NOW"].replace("Z", "+00:00"))
    tenant = run.account.tenant_id
    t: dict[str, Any] = {}

    def timed(key: str, fn: Any, *args: Any) -> Any:
        began = time.perf_counter()
        out = fn(*args)
        t[key] = round(time.perf_counter() - began, 2)
        return out

    began = time.perf_counter()
    pipeline = run.pipeline()
    kw = run.run_kwargs()
    with load_config("historical"), duckdb_kept_open(pipeline):
        if mode == "one":
            timed("run", lambda: pipeline.run(run.source(pipeline, now, first_load=True), **kw))
            timed("drop_repeats", run.drop_repeats, pipeline)
        else:
            if provider == "lightspeed":
                uncap = _cap_lightspeed_sales(split)
                first = run.source(pipeline, now, first_load=True)
            else:
                uncap, first = None, _older_part(run, pipeline, now, split)
            timed("run_1", lambda: pipeline.run(first, **kw))
            if uncap is not None:
                uncap()  # the feed whole again
            timed("drop_repeats_1", run.drop_repeats, pipeline)
            built: dict[str, Any] = {}

            def build_first() -> None:
                b = time.perf_counter()
                built["transactions_1"] = build_account(account_id, provider, tenant, settings).transactions
                built["build_1"] = round(time.perf_counter() - b, 2)

            thread = threading.Thread(target=build_first)
            b = time.perf_counter()
            thread.start()
            timed("extract_2", lambda: pipeline.extract(run.source(pipeline, now, first_load=True)))
            thread.join()
            t["waited_for_build_1"] = round(time.perf_counter() - b - t["extract_2"], 2)
            t |= built
            timed("normalize_load_2", lambda: (pipeline.normalize(), pipeline.load()))
            timed("drop_repeats_2", run.drop_repeats, pipeline)
    result = timed("build" if mode == "one" else "build_2", build_account, account_id, provider, tenant, settings)
    t["transactions" if mode == "one" else "transactions_2"] = result.transactions
    t["seconds"] = round(time.perf_counter() - began, 2)
    world = World(seed=SEED, start=START, days=DAYS, scale=SCALE, providers=[provider])
    truth = [r for r in compute_truth(world)["daily"] if r["provider"] == provider]
    wh = Warehouse(settings)
    try:
        actual = [r for r in canonical_daily(wh, world.tenant_id) if r["provider"] == provider]
    finally:
        wh.close()
    t["reconciled_to_the_cent"] = bool(actual) and not compare_daily(truth, actual)
    return t


def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    with sandbox_process(seed=SEED, start=START, days=DAYS, scale=SCALE, providers=args.provider) as sandbox:
        for index in range(2 * args.pairs + 1):  # a first round to warm the emulator, not counted
            mode = "two" if index % 2 == 0 else "one"
            env = account_env(Path(tempfile.mkdtemp(prefix="pos-bench-two-loads-")), sandbox)
            add = subprocess.run([sys.executable, "-m", "pos_sync.cli",
                                  *_add_argv(args.provider, account(sandbox, args.provider),
                                             sandbox.manifest["world"]["tenant_id"], DAYS + 2)],
                                 env=env, capture_output=True, text=True, cwd=ROOT, check=True)
            out = subprocess.run([sys.executable, "-m", "bench.history_in_two_loads", "--child", mode,
                                  "--provider", args.provider, "--split", str(args.split),
                                  "--account", json.loads(add.stdout)["id"]],
                                 env=env, capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise RuntimeError(f"{mode}: {out.stderr[-3000:]}")
            rounds.append({"mode": mode, "warm_up": index == 0, **json.loads(out.stdout.strip().splitlines()[-1])})
    counted = [r for r in rounds if not r["warm_up"]]
    medians = {m: statistics.median(r["seconds"] for r in counted if r["mode"] == m) for m in ("one", "two")}
    return {"benchmark": "history_in_two_loads", "provider": args.provider, "split": args.split,
            "world": {"seed": SEED, "start": START.isoformat(), "days": DAYS, "scale": SCALE},
            "machine": machine(), "rounds": rounds, "median_seconds": medians,
            "two_over_one": round(medians["two"] / medians["one"], 3),
            "every_round_reconciled": all(r["reconciled_to_the_cent"] for r in rounds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", default="lightspeed", choices=("square", "toast", "lightspeed"))
    parser.add_argument("--split", type=int, default=26,
                        help="Lightspeed: sales pages in the first load; Square, Toast: days before the clock")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", choices=("one", "two"), help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.provider, args.account, args.split)))
        return
    emit(run(args), args.out)


if __name__ == "__main__":
    main()
