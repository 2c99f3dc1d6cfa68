"""Same canonical rows, byte for byte: a check for changes to the canonical build's speed.

Loads one world (Square, Toast and Lightspeed, ``--scale`` × ``--days``) through the real sources
into a cached DuckDB warehouse, in two raw loads per provider (the clock at the middle of the
window, then at its end: the second load brings new sales, refunds and tip edits of earlier
ones). ``dump`` builds the canonical model on a fresh copy of that cache — first the first load
alone (the second hidden as an unfinished load), then the second incrementally — and writes every
row of the canonical tables, sorted, as text (Decimals with their scale, timestamps in UTC).
Running ``dump`` with the code before and after a change (``PYTHONPATH``) and comparing the two
files byte for byte (``cmp``) shows whether the change altered any canonical row.

    python -m bench.canonical_equality prepare [--scale small --days 7]
    (cd /tmp && PYTHONPATH=/path/to/old python $OLDPWD/bench/canonical_equality.py dump --out /tmp/old.txt)
    PYTHONPATH=$PWD python -m bench.canonical_equality dump --out /tmp/new.txt && cmp /tmp/old.txt /tmp/new.txt

(by path, from another directory: ``-m`` would put the current directory first on ``sys.path``).

``speed --compare-with CHECKOUT [--repeat 5] [--out F]``: each provider's full build of the cache (both
loads at once), with the code of CHECKOUT and of this tree alternated, each run in its own process.

Wall-clock columns are left out: ``processed_at``, ``pos_locations.updated_at``, and the product
versions' ``valid_to``/``last_seen_at`` (set from the build's time when a product is archived).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.canonical_build import _env  # the same bench home (POS_HOME, dlt, the PII key)

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "_work"
SEED = 42
START = date(2026, 1, 5)
PROVIDERS = ("square", "toast", "lightspeed")
TABLES = ("pos_transactions", "pos_transaction_items", "pos_tenders", "pos_products", "daily_product_sales",
          "pos_locations")
WALL_CLOCK = {"processed_at", "updated_at", "valid_to", "last_seen_at"}


def _tokens(provider: str, acct: dict[str, Any]) -> Any:
    """One token provider per account for both loads (Toast's emulator, like Toast, refuses frequent logins)."""
    from dlt_sources.common import TokenSet

    if provider == "square":
        from dlt_sources.square import square_tokens
        return square_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"])
    if provider == "toast":
        from dlt_sources.toast import toast_tokens
        return toast_tokens(acct["client_id"], acct["client_secret"], base_url=acct["base_url"])
    from dlt_sources.lightspeed import lightspeed_tokens
    return lightspeed_tokens(TokenSet(acct["access_token"]), base_url=acct["base_url"], client_id=None,
                             client_secret=None)


def _source(provider: str, acct: dict[str, Any], tokens: Any, begin: datetime, now: datetime) -> Any:
    account_id = f"eq-{provider}"
    if provider == "square":
        from dlt_sources.square import square_source
        return square_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=account_id,
                             initial_start=begin, now=now)
    if provider == "toast":
        from dlt_sources.toast import toast_source
        return toast_source(tokens, acct["location_ids"], base_url=acct["base_url"], account_id=account_id,
                            initial_start=begin, now=now)
    from dlt_sources.lightspeed import lightspeed_source
    return lightspeed_source(tokens, account_id, [], base_url=acct["base_url"], account_id=account_id, now=now)


def prepare(cache: Path, scale: str, days: int) -> None:
    from pos_sandbox.server import SandboxServer
    from pos_sandbox.world import World
    from pos_sync.warehouse.pipelines import account_pipeline

    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    _env(cache)
    world = World(seed=SEED, start=START, days=days, scale=scale, providers=list(PROVIDERS))
    (cache / "tenant").write_text(world.tenant_id)
    begin = world.window_start_utc - timedelta(days=1)
    clocks = (world.window_start_utc + (world.window_end_utc - world.window_start_utc) / 2,
              world.window_end_utc + timedelta(days=2))
    with SandboxServer(world) as server:
        accounts = {a["provider"]: a for a in server.manifest()["accounts"]}
        tokens = {p: _tokens(p, accounts[p]) for p in PROVIDERS}
        for now in clocks:
            world.set_now(now)
            for provider in PROVIDERS:
                pipeline = account_pipeline(provider, f"eq-{provider}")
                pipeline.run(_source(provider, accounts[provider], tokens[provider], begin, now),
                             loader_file_format="parquet").raise_on_failed_jobs()
                print(f"[canonical_equality] {provider} loaded at {now.isoformat()}", file=sys.stderr)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"naive timestamp {value!r}"
        return value.astimezone(UTC).isoformat()
    return repr(value)  # Decimal('12.50') keeps its scale; a float would show as one


def dump(cache: Path, out: Path) -> None:
    import transforms
    from pos_sync.canonical.build import build_account
    from pos_sync.warehouse.sql import Warehouse

    print(f"[canonical_equality] code of {Path(transforms.__file__).parent.parent}", file=sys.stderr)
    home = Path(tempfile.mkdtemp(prefix="pos-canonical-equality-"))
    try:
        shutil.copytree(cache, home, dirs_exist_ok=True)
        _env(home)
        tenant = (home / "tenant").read_text()
        lines: list[str] = []
        for provider in PROVIDERS:
            wh = Warehouse()
            loads = wh.column(f"select load_id from raw_{provider}._dlt_loads where status = 0 order by load_id")
            assert len(loads) == 2, loads
            wh.execute(f"update raw_{provider}._dlt_loads set status = 1 where load_id = %s", (loads[1],))
            wh.commit()
            wh.close()
            first = build_account(f"eq-{provider}", provider, tenant)  # the first load alone
            wh = Warehouse()
            wh.execute(f"update raw_{provider}._dlt_loads set status = 0 where load_id = %s", (loads[1],))
            wh.commit()
            wh.close()
            second = build_account(f"eq-{provider}", provider, tenant)  # the second, incrementally
            lines.append(f"# {provider} first build {first.loads} loads {first.transactions} transactions; "
                         f"second {second.loads} loads {second.transactions} transactions")
        wh = Warehouse()
        try:
            for table in TABLES:
                rows = wh.query(f"select * from pos.{table}")
                text = sorted("\t".join(f"{c}={_text(v)}" for c, v in r.items() if c not in WALL_CLOCK) for r in rows)
                lines.append(f"## {table} {len(text)} rows")
                lines.extend(text)
        finally:
            wh.close()
        out.write_text("\n".join(lines) + "\n")
        print(f"[canonical_equality] {out}: {len(lines)} lines", file=sys.stderr)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def build_times(cache: Path, providers: tuple[str, ...] = PROVIDERS) -> dict[str, Any]:
    """Each provider's full build (both raw loads at once) on a fresh copy of the cache, timed; the
    imports a sync has done before its build (dlt, DuckDB, pyarrow's first conversion) made first."""
    import resource
    import time

    import duckdb
    import pyarrow

    import pos_sync.providers  # noqa: F401
    from pos_sync.canonical.build import build_account

    pyarrow.array([""])
    duckdb.connect().close()
    home = Path(tempfile.mkdtemp(prefix="pos-canonical-speed-"))
    try:
        shutil.copytree(cache, home, dirs_exist_ok=True)
        _env(home)
        tenant = (home / "tenant").read_text()
        out: dict[str, Any] = {}
        for provider in providers:
            t0, c0 = time.perf_counter(), time.process_time()
            result = build_account(f"eq-{provider}", provider, tenant)
            out[provider] = {"seconds": round(time.perf_counter() - t0, 3),
                             "cpu_seconds": round(time.process_time() - c0, 3), "transactions": result.transactions,
                             "items": result.items, "tenders": result.tenders,
                             "memory_limit_raised_to_mib": (result.memory_limit_raised_to or 0) >> 20,
                             "memory_limit_sized_to_mib": (result.memory_limit_sized_to or 0) >> 20}
        out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def speed(cache: Path, baseline: Path, repeat: int, providers: tuple[str, ...] = PROVIDERS) -> dict[str, Any]:
    """:func:`build_times` with the code of ``baseline`` and of this tree, alternated ``repeat`` times."""
    import json
    import platform
    import statistics
    import subprocess

    codes = {"baseline": baseline.resolve(), "product": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
    for r in range(repeat):
        for name in (list(codes) if r % 2 == 0 else list(codes)[::-1]):
            print(f"[canonical_equality] round {r + 1}: {name}", file=sys.stderr, flush=True)
            load = round(os.getloadavg()[0], 2)
            done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "build-times", "--cache", str(cache),
                                   "--providers", ",".join(providers)],
                                  cwd=tempfile.gettempdir(), env=os.environ | {"PYTHONPATH": str(codes[name])},
                                  check=True, capture_output=True, text=True)
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1])
                              | {"load_average_1m_at_start": load, "load_average_1m_at_end": round(os.getloadavg()[0], 2)})
    medians = {name: {p: statistics.median(x[p]["seconds"] for x in rs) for p in providers} for name, rs in runs.items()}
    cpu = {name: {p: statistics.median(x[p]["cpu_seconds"] for x in rs) for p in providers} for name, rs in runs.items()}
    return {
        "benchmark": "canonical_equality speed: each provider's full build, baseline and product alternated",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "cache": str(cache.relative_to(ROOT)), "baseline_code": str(codes["baseline"]),
        "runs": runs, "median_seconds": medians,
        "providers_built_in_this_order": list(providers),
        "ratio_product_over_baseline": {p: round(medians["product"][p] / medians["baseline"][p], 4) for p in providers},
        "median_cpu_seconds": cpu,
        "cpu_ratio_product_over_baseline": {p: round(cpu["product"][p] / cpu["baseline"][p], 4) for p in providers},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=("prepare", "dump", "speed", "build-times"))
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "chain"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--out", help="dump: the text file written; speed: the JSON document")
    parser.add_argument("--compare-with", metavar="CHECKOUT", help="speed: the baseline's code")
    parser.add_argument("--repeat", type=int, default=5, help="speed: builds of each code (default 5)")
    parser.add_argument("--providers", default=",".join(PROVIDERS), help="speed: the builds timed, in this order")
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else WORK / f"equality_{args.scale}_{args.days}d_seed{SEED}"
    if args.phase == "prepare":
        prepare(cache, args.scale, args.days)
    elif args.phase == "dump":
        dump(cache, Path(args.out))
    elif args.phase == "build-times":
        import json
        print(json.dumps(build_times(cache, tuple(args.providers.split(",")))))
    else:
        import json
        text = json.dumps(speed(cache, Path(args.compare_with), args.repeat, tuple(args.providers.split(","))), indent=2)
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text)


if __name__ == "__main__":
    main()
