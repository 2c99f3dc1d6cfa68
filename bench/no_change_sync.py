"""Benchmark: the no-change incremental sync of an account with its whole window loaded (#18:
"no-change sync stays < 2 s at 90 days loaded"), per provider, with where its seconds go.

Per provider, one ``pos-sync sandbox serve`` process (the emulator; its indexes are built by the
import, or by a first unmeasured sync) and, in this process, the provider's real dlt source into
DuckDB (parquet, the product's dlt settings):

1. **import** of every resource over the window — the whole window (``--import-days 0``, the
   default: every object of the ``--days`` window is in the destination), or only its last
   ``--import-days`` days (Square and Toast: the sync's first mark near the window's end, for a
   world too large to import here; the emulator still holds the whole window, the destination
   only those days — the document says which); or, with ``--raw-cache DIR`` (Square only), no
   import at all: a copy of the raw load ``bench.canonical_build`` caches (``bench/_work/
   raw_chain_90d_seed42`` after ``python -m bench.canonical_build --days 90``: the real Square
   source over the chain world's 90 days, ~365 000 payments and orders), against an emulator of
   the same world at the same clock — the chain × 90 state without importing it here;
2. **no-change syncs**: every resource again, nothing new — ``--repeat`` rounds, each round one
   sync per way the version guard asks the destination (:data:`VARIANTS`, in a rotating order so
   all see the same machine): the product's (one destination client held while look-ups keep
   coming, each look-up bounded below by the oldest fetched version), the same without the bound,
   and the **baseline**: the look-ups as the sources made them before (a copy of that code:
   a new client per look-up, no bound);
3. **the emulator's own time** to answer the same requests (same run): every HTTP request of the
   last product sync re-sent one after the other by a plain ``requests`` session (keep-alive, no
   parsing) — what the sync would cost if the client did nothing but wait for the emulator.

Each sync reports its wall seconds (``pipeline.run``), dlt's steps (extract / normalize / load),
its HTTP requests (how many, the summed client-side latency, the span from the first request's
start to the last one's end), its version-guard look-ups (how many, keys, summed seconds including
the wait for the one look-up thread, the seconds that thread was busy — its client's opening
included —, clients opened) and the rows it wrote (none expected). Each sync and the replay wait
``--pause`` seconds first (Toast's per-second limit starts afresh; each sync finds DuckDB's database
closed, as a sync every few minutes does). The machine's 1-minute load average is recorded at the
start and end of each provider and after each round.

    python -m bench.no_change_sync [--providers square,toast,lightspeed] [--scale small] [--days 90] \\
        [--import-days 0] [--repeat 3] [--out bench/results/no_change_sync.json]
    python -m bench.no_change_sync --providers square --scale chain --raw-cache bench/_work/raw_chain_90d_seed42 \\
        --out bench/results/no_change_sync_chain.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench._ceilings import account
from bench._common import emit, machine, sandbox_process, window_bounds

SEED = 42
START = date(2026, 1, 5)
PROVIDERS = ("square", "toast", "lightspeed")
# how the version guard asks the destination
VARIANTS = ("product", "product_unbounded", "baseline_before")
VARIANT_NOTES = {
    "product": "one destination client held while look-ups come, the guard column's schema read once, "
               "each look-up bounded below by the oldest fetched version",
    "product_unbounded": "the same without the lower bound (each look-up scans the key column)",
    "baseline_before": "the look-ups as the sources made them before #18's change (copied here: "
                       "_known_versions_before): a new thread and destination client per look-up, the "
                       "schema read each time, no bound",
}

# ---------------------------------------------------------------------- what a sync does
class Recorder:
    """Every HTTP request sent through ``requests`` (the sources' sessions) while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.requests: list[tuple[float, float, requests.PreparedRequest]] = []
        self.lookups: list[tuple[str, int, float]] = []
        self.destination: Any = None
        self._lock = threading.Lock()
        self._send = requests.Session.send
        recorder = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            t0 = time.perf_counter()
            response = recorder._send(session, request, **kwargs)
            if recorder.on:
                with recorder._lock:
                    recorder.requests.append((t0, time.perf_counter(), request.copy()))
            return response

        requests.Session.send = send  # type: ignore[method-assign]

    def close(self) -> None:
        requests.Session.send = self._send  # type: ignore[method-assign]

    def timed(self, known: Any, bounded: bool = True) -> Any:
        def lookup(table: str, keys: list[str], **bound: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return known(table, keys, **bound)
            finally:
                if self.on:
                    with self._lock:
                        self.lookups.append((table, len(keys), time.perf_counter() - t0))
        lookup.accepts_lower_bound = bounded and getattr(known, "accepts_lower_bound", False)  # type: ignore[attr-defined]
        self.destination = getattr(known, "lookups", None)  # the look-up thread's own counters (product)
        return lookup

    def start(self) -> None:
        self.requests, self.lookups, self.on = [], [], True

    def replay(self) -> dict[str, Any]:
        """The recorded requests again, one after the other, on a plain keep-alive session."""
        latencies = []
        statuses: dict[str, int] = {}
        with requests.Session() as session:
            for _, _, request in sorted(self.requests, key=lambda r: r[0]):
                t0 = time.perf_counter()
                response = self._send(session, request.copy(), timeout=60)
                latencies.append(time.perf_counter() - t0)
                statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
        return {"requests": len(latencies), "statuses": statuses, "seconds_sequential": round(sum(latencies), 4),
                "latency_ms_median": round(statistics.median(latencies) * 1000, 2) if latencies else None,
                "latency_ms_max": round(max(latencies) * 1000, 2) if latencies else None}


def _known_versions_before(pipeline: Any, columns: Any, *, account_id: str | None = None,
                           chunk_size: int = 500) -> Any:
    """``dlt_sources.common.guard.destination_known_versions`` as it was before #18's change (commit
    618c72b), for the baseline: one look-up at a time, each in a new thread with a new client."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    from dlt_sources.common.guard import ACCOUNT_COLUMN, column_schema

    absent: set[str] = set()
    lock = threading.Lock()

    def known(table: str, keys: list[str]) -> dict[str, Any]:
        if not keys or table in absent:
            return {}
        with lock:
            outcome: list[Any] = []
            thread = threading.Thread(target=lambda: outcome.append(_try(lambda: look_up(table, keys))),
                                      name="pos-destination-lookup")
            thread.start()
            thread.join()
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            return outcome[0]  # type: ignore[no-any-return]

    def look_up(table: str, keys: list[str]) -> dict[str, Any]:
        spec = columns(table)
        if column_schema(pipeline, table, spec.db_column) is None:  # was column_in_schema: the same read
            absent.add(table)
            return {}
        found: dict[str, Any] = {}
        try:
            with pipeline.sql_client() as client:
                qualified = client.make_qualified_table_name(table)
                k, g, a = (client.escape_column_name(c) for c in (spec.db_key, spec.db_column, ACCOUNT_COLUMN))
                for i in range(0, len(keys), chunk_size):
                    chunk = keys[i : i + chunk_size]
                    sql = f"SELECT {k}, {g} FROM {qualified} WHERE {k} IN ({', '.join(['%s'] * len(chunk))})"
                    args: list[Any] = list(chunk)
                    if account_id is not None:
                        sql += f" AND {a} = %s"
                        args.append(account_id)
                    for key, value in client.execute_sql(sql, *args) or []:
                        found[str(key)] = value
        except DatabaseUndefinedRelation:
            absent.add(table)
            return {}
        return found

    return known


def _try(work: Any) -> Any:
    try:
        return work()
    except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
        return error


def _guard_columns(provider: str) -> Any:
    if provider == "square":
        from dlt_sources.square.settings import GUARD_COLUMNS
        return GUARD_COLUMNS.__getitem__
    if provider == "toast":
        from dlt_sources.toast.settings import GUARD_COLUMNS as TOAST_GUARD_COLUMNS
        return TOAST_GUARD_COLUMNS.__getitem__
    from dlt_sources.lightspeed.settings import VERSION_GUARD
    return lambda table: VERSION_GUARD


def _known(provider: str, pipeline: Any, account_id: str, variant: str, recorder: Recorder) -> Any:
    from dlt_sources.common import guard

    if variant == "baseline_before":
        return recorder.timed(_known_versions_before(pipeline, _guard_columns(provider), account_id=account_id),
                              bounded=False)
    known = guard.destination_known_versions(pipeline, _guard_columns(provider), account_id=account_id)
    return recorder.timed(known, bounded=variant == "product")


_TOKENS: dict[tuple[str, str], Any] = {}


def _tokens(provider: str, acct: dict[str, Any]) -> Any:
    """One token provider per account for the whole benchmark, as the product keeps the account's
    token between runs (Toast: a login only when the stored token expires — the emulator, like
    Toast, refuses frequent logins)."""
    from dlt_sources.common import TokenSet

    key = (provider, acct["base_url"])
    if key not in _TOKENS:
        if provider == "square":
            from dlt_sources.square import square_tokens
            _TOKENS[key] = square_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"])
        elif provider == "toast":
            from dlt_sources.toast import toast_tokens
            _TOKENS[key] = toast_tokens(acct["client_id"], acct["client_secret"], base_url=acct["base_url"])
        else:
            from dlt_sources.lightspeed import lightspeed_tokens
            _TOKENS[key] = lightspeed_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"],
                                             client_id=None, client_secret=None)
    return _TOKENS[key]


def _source(provider: str, acct: dict[str, Any], pipeline: Any, begin: datetime, now: datetime,
            recorder: Recorder, variant: str = "product") -> Any:
    account_id = acct["account_id"]
    known = _known(provider, pipeline, account_id, variant, recorder)
    tokens = _tokens(provider, acct)
    if provider == "square":
        from dlt_sources.square import square_source
        return square_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=account_id,
                             initial_start=begin, now=now, known_versions=known)
    if provider == "toast":
        from dlt_sources.toast import toast_source
        return toast_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=account_id,
                            initial_start=begin, now=now, known_versions=known)
    from dlt_sources.lightspeed import lightspeed_source
    # the version feed has no start: the whole window is always imported
    return lightspeed_source(tokens, account_id, [], base_url=acct["base_url"], account_id=account_id, now=now,
                             known_versions=known)


def _steps(pipeline: Any) -> dict[str, float]:
    return {s.step: round((s.finished_at - s.started_at).total_seconds(), 3) for s in pipeline.last_trace.steps
            if s.step in ("extract", "normalize", "load") and s.finished_at and s.started_at}


def _rows(pipeline: Any) -> dict[str, int]:
    return {t: int(n) for t, n in pipeline.last_trace.last_normalize_info.row_counts.items()
            if not t.startswith("_dlt") and n}


def _sync(provider: str, acct: dict[str, Any], pipeline: Any, begin: datetime, now: datetime,
          recorder: Recorder, variant: str = "product") -> dict[str, Any]:
    source = _source(provider, acct, pipeline, begin, now, recorder, variant)
    recorder.start()
    t0 = time.perf_counter()
    info = pipeline.run(source, loader_file_format="parquet")
    seconds = time.perf_counter() - t0
    recorder.on = False
    info.raise_on_failed_jobs()
    spans = [(a - t0, b - t0) for a, b, _ in recorder.requests]
    return {
        "seconds": round(seconds, 3),
        "steps": _steps(pipeline),
        "http": {"requests": len(spans),
                 "seconds_summed": round(sum(b - a for a, b in spans), 4),
                 "first_start_to_last_end": [round(min(a for a, _ in spans), 3), round(max(b for _, b in spans), 3)]
                 if spans else None},
        "guard_lookups": {"count": len(recorder.lookups), "keys": sum(n for _, n, _ in recorder.lookups),
                          "seconds_summed": round(sum(s for _, _, s in recorder.lookups), 4),
                          "lookup_thread_busy_seconds": round(getattr(recorder.destination, "busy_seconds", 0.0), 4),
                          "clients_opened": getattr(recorder.destination, "clients_opened", None),
                          "tables": sorted({t for t, _, _ in recorder.lookups})},
        "rows_written": _rows(pipeline),
    }


def measure(provider: str, args: argparse.Namespace) -> dict[str, Any]:
    import dlt

    from dlt_sources.common.tuning import apply_performance_defaults, duckdb_destination
    from pos_sync.warehouse.pipelines import pipeline_name

    apply_performance_defaults()
    load_start = round(os.getloadavg()[0], 2)
    work = Path(tempfile.mkdtemp(prefix=f"pos-bench-nochange-{provider}-"))
    os.environ["DLT_DATA_DIR"] = str(work / "dlt-data")
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    recorder = Recorder()
    cache = Path(args.raw_cache) if args.raw_cache else None
    meta = json.loads((cache / "bench_meta.json").read_text()) if cache else {}
    try:
        # canonical_build's world has one day more than its loaded window; its clock ends day `days`
        with sandbox_process(seed=args.seed, start=args.start, days=args.days + (1 if cache else 0),
                             scale=args.scale, providers=provider) as sandbox:
            acct = account(sandbox, provider)
            begin, now = window_bounds(args.start, args.days, sandbox)
            if cache:
                from bench.canonical_build import ACCOUNT_ID

                now = datetime.fromisoformat(meta["now"])
                requests.post(sandbox.manifest["clock_url"], json={"now": now.isoformat()}, timeout=30).raise_for_status()
                acct = {**acct, "account_id": ACCOUNT_ID}  # the tenant id the raw load was made with
                t0 = time.perf_counter()
                shutil.copytree(cache, work / "home")
                pipeline = dlt.pipeline(pipeline_name=pipeline_name("square", ACCOUNT_ID),
                                        pipelines_dir=str(work / "home" / "dlt" / "pipelines"),
                                        destination=duckdb_destination(str(work / "home" / "warehouse.duckdb")),
                                        dataset_name="raw_square")
                imported = {"from_raw_cache": str(cache), "copied_in_seconds": round(time.perf_counter() - t0, 1),
                            "raw_load_seconds": meta.get("seconds"), "rows": meta.get("rows"), "to": now.isoformat(),
                            "whole_window": True}
                warehouse = work / "home" / "warehouse.duckdb"
            else:
                if args.import_days and provider != "lightspeed":
                    begin = now - timedelta(days=args.import_days)
                pipeline = dlt.pipeline(pipeline_name=f"bench_nochange_{provider}",
                                        pipelines_dir=str(work / "pipelines"),
                                        destination=duckdb_destination(str(work / "warehouse.duckdb")),
                                        dataset_name=f"raw_{provider}")
                t0 = time.perf_counter()
                # the first run also builds the emulator's indexes (Square: per location), not measured apart
                info = pipeline.run(_source(provider, acct, pipeline, begin, now, recorder),
                                    loader_file_format="parquet")
                info.raise_on_failed_jobs()
                imported = {"seconds": round(time.perf_counter() - t0, 1), "steps": _steps(pipeline),
                            "rows": _rows(pipeline), "from": begin.isoformat(), "to": now.isoformat(),
                            "whole_window": not args.import_days or provider == "lightspeed"}
                warehouse = work / "warehouse.duckdb"
            with pipeline.sql_client() as client:
                imported["destination_rows"] = {
                    table: int(client.execute_sql(f"select count(*) from {client.make_qualified_table_name(table)}")[0][0])
                    for table in sorted(imported["rows"]) if "__" not in table}
            imported["warehouse_mib"] = round(warehouse.stat().st_size / 2**20, 1)
            # not measured: the emulator's indexes (a raw cache: built by this first request per location),
            # the pipeline's state and schemas read once
            t0 = time.perf_counter()
            warm = _sync(provider, acct, pipeline, begin, now, recorder)
            imported["warm_up_sync"] = {"seconds": round(time.perf_counter() - t0, 2), "rows_written": warm["rows_written"]}

            rounds = []
            names = list(VARIANTS)
            for i in range(args.repeat):
                # the variants in a rotating order, so that each one runs first, second, third
                order = names[i % len(names):] + names[:i % len(names)]
                record: dict[str, Any] = {"order": order}
                for name in order:
                    time.sleep(args.pause)  # Toast's limit (20 requests/s per restaurant) counts the last second
                    record[name] = _sync(provider, acct, pipeline, begin, now, recorder, name)
                    if name == "product":
                        time.sleep(args.pause)
                        record["emulator_replay"] = recorder.replay()  # the requests of the product's sync
                record["load_average_1m"] = round(os.getloadavg()[0], 2)
                rounds.append(record)
    finally:
        recorder.close()
        shutil.rmtree(work, ignore_errors=True)

    def median(path: tuple[str, ...]) -> float:
        values = []
        for r in rounds:
            value: Any = r
            for key in path:
                value = value[key]
            values.append(value)
        return round(statistics.median(values), 3)

    summary: dict[str, Any] = {f"{name}_seconds_median": median((name, "seconds")) for name in VARIANTS}
    summary |= {f"{name}_extract_median": median((name, "steps", "extract")) for name in VARIANTS}
    summary["emulator_replay_seconds_median"] = median(("emulator_replay", "seconds_sequential"))
    summary["variants"] = VARIANT_NOTES
    summary["speedup_vs_baseline_before"] = round(
        summary["baseline_before_seconds_median"] / summary["product_seconds_median"], 2)
    summary["product_over_emulator_replay"] = round(
        summary["product_seconds_median"] / summary["emulator_replay_seconds_median"], 1)
    summary["goal_lt_2s_met"] = summary["product_seconds_median"] < 2.0
    summary["every_sync_wrote_nothing"] = all(not r[name]["rows_written"] for r in rounds for name in VARIANTS)
    return {"import": imported, "rounds": rounds, "summary": summary,
            "load_average_1m_at_start": load_start, "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--import-days", type=float, default=0,
                        help="import only the window's last N days (Square, Toast; 0 = the whole window)")
    parser.add_argument("--raw-cache", default=None,
                        help="Square only: start from a copy of bench.canonical_build's cached raw load of the "
                             "--scale × --days world (e.g. bench/_work/raw_chain_90d_seed42) instead of importing")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pause", type=float, default=1.1,
                        help="seconds before each sync and replay (a provider's per-second rate limit starts afresh)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--start", type=date.fromisoformat, default=START)
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    args = parser.parse_args()
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    assert set(providers) <= set(PROVIDERS), providers
    if args.raw_cache and providers != ["square"]:
        parser.error("--raw-cache holds a Square load: use it with --providers square")
    env = machine()
    started = time.perf_counter()
    results = {provider: measure(provider, args) for provider in providers}
    emit({"benchmark": "no_change_sync",
          "world": {"seed": args.seed, "start": args.start.isoformat(), "days": args.days, "scale": args.scale,
                    "import_days": args.import_days or "whole window",
                    **({"raw_cache": args.raw_cache} if args.raw_cache else {})},
          "machine": env, "providers": results, "wall_seconds": round(time.perf_counter() - started, 1),
          "load_average_1m_at_end": round(os.getloadavg()[0], 2)}, args.out)


if __name__ == "__main__":
    main()
