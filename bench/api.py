"""Benchmark: the HTTP API's two busiest reads under 50 concurrent clients, with the app store on
SQLite and on PostgreSQL, against a bare FastAPI endpoint measured in the same run.

**Servers.** Three real server processes on loopback, all up for the whole run:

* ``python -m pos_sync.cli api serve --port 0`` with its own ``POS_HOME`` (SQLite app store);
* the same with ``POS_DATABASE_URL`` set to a scratch PostgreSQL database (created on the server of
  ``--postgres``, dropped at the end);
* the **baseline**: ``python -m bench.api _serve-bare --port 0``, a bare ``FastAPI()`` with
  ``GET /bare`` (a plain ``def`` route, like the product's, so it runs in the same thread pool)
  and ``GET /bare-async`` (``async def``), each returning a small JSON, served exactly as
  ``pos-sync api serve`` serves (a socket bound first, the same ``uvicorn.Config``: same log
  config, ``access_log=False``, ``proxy_headers=True``, uvicorn's auto loop/HTTP — uvloop and
  httptools when installed, one worker process).

**Data** (the same in both app stores, written with the app store's own functions:
``AppStore.create_tenant``, ``upsert_account`` and ``start_sync_log``/``finish_sync_log`` with
historical ``started_at``/``completed_at``): the tenant that calls, a bakery chain with 20
accounts (Square, Lightspeed, Toast), 2–5 locations each and 200 sync logs each (every 15 minutes
over two days: mostly successes, some failures and partials, a few syncs still running), plus a
second tenant with as many accounts, locations and logs, which every query must skip.

**Load.** A load generator in a child process (one per measurement; the parent only waits): 50
persistent HTTP/1.1 keep-alive connections on asyncio (uvloop when installed), each a closed
loop — send a GET, read the whole response (status line, headers, ``Content-Length`` body), send
the next. The client is a minimal raw-socket HTTP/1.1 client so that it costs a small fraction
of the server's CPU per request (measured and reported: ``client_cpu_share``). Every measurement
is a warm-up (``--warmup`` requests, not recorded: connections opened, pools filled, code paths
warm) then ``--requests`` measured requests; the history endpoint rotates over the 20 accounts
(default ``limit=20``). The routes keep their answers and validate them against the database at
every request (``pos_sync/api/read_cache.py``), so with nothing written these are answers kept and
revalidated; the ``accounts_written`` and ``history_written`` measurements are the same requests
while this process writes a sync log (started, finished: app store functions) of the next account
every ``--write-interval`` seconds, as a Dagster run would — each write moves that account's data
version, so its history and the tenant's list are read from the tables again. All measurements are repeated ``--rounds`` times, interleaved (round r
starts at the r-th target), and the latencies of all rounds are pooled: p50/p90/p99/max,
requests/s (measured requests / measured wall time), and the ratio to the bare endpoint's
p50/p99/rate of the same run. Then each target once more with **one client**
(``--unloaded-requests``; no queueing: what a request costs on its own). Also recorded: the server
process's CPU time per request (``/proc/PID/stat``, warm-up included) and, for PostgreSQL, the
sessions the server opened meanwhile (``pg_stat_database.sessions``).

**Anatomy** (before the load, no server running yet): the same apps in this process (Starlette's
TestClient, one request at a time) with counters — SQL statements through SQLAlchemy, commits,
pool checkouts (on PostgreSQL each one is a ``pool_pre_ping`` round trip), new connections,
thread-pool hops (``anyio.to_thread.run_sync``) and the read cache's validation queries per
request — and the median cost of each piece a request goes through (the routes' own path: the
validation query and a kept answer; what a miss reads: one connection, the API key lookup, Core
selects, orjson; and, for contrast, the ORM path: sessions, ORM reads, pydantic models, a
``response_model`` pass).

    python -m bench.api [--requests 1000] [--rounds 3] [--concurrency 50] [--warmup 250] \\
        [--unloaded-requests 500] [--write-interval 0.1] [--out bench/results/api.json] \\
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit, machine, peak_rss_mib, percentile, process_peak_rss_mib

SEED = 42
CONCURRENCY = 50
REQUESTS = 1000  # measured requests per target and round
ROUNDS = 3
WARMUP = 250
ACCOUNTS = 20  # per tenant
LOGS_PER_ACCOUNT = 200
SYNC_EVERY = timedelta(minutes=15)
LAST_SYNC = datetime(2026, 4, 5, 6, 0, tzinfo=UTC)
GOAL_P99_MS = 50.0
WRITE_INTERVAL = 0.1  # a sync log every 0.1 s: far more than a tenant's syncs write (20 accounts every 15 min)
ENDPOINTS = ("healthz", "accounts", "history", "accounts_written", "history_written")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
PROVIDERS = ("square",) * 7 + ("lightspeed", "lightspeed", "toast")
CITIES = ("Madrid", "Las Palmas", "Santa Cruz", "Sevilla", "Valencia", "Bilbao", "Málaga", "Zaragoza")

# The exact uvicorn logging of ``pos-sync api serve`` (pos_sync/cli/api.py).
UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "WARNING"},
                "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}}}


# ---------------------------------------------------------------------- the baseline server (child)
def bare_app() -> Any:
    """The baseline: a bare FastAPI app, no middleware, no dependency, no database."""
    from fastapi import FastAPI

    app = FastAPI(title="bare")

    @app.get("/bare")
    def bare() -> dict[str, str]:
        return {"status": "ok", "service": "bare"}

    @app.get("/bare-async")
    async def bare_async() -> dict[str, str]:
        return {"status": "ok", "service": "bare"}

    return app


def serve_bare(host: str, port: int) -> None:
    """The bare app served as ``pos-sync api serve`` serves the product."""
    import uvicorn

    from pos_sync.api import logs

    app = bare_app()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound = sock.getsockname()[:2]
    logs.configure()
    sys.stdout.write(json.dumps({"url": f"http://{bound_host}:{bound}"}) + "\n")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_config=UVICORN_LOG_CONFIG, access_log=False, proxy_headers=True)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])


# ---------------------------------------------------------------------- the load generator (child)
async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], int(spec["port"])
    extra = "".join(f"{name}: {value}\r\n" for name, value in spec.get("headers", {}).items())
    requests = [f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
                for path in spec["paths"]]
    warmup, measured = int(spec["warmup"]), int(spec["requests"])
    total = warmup + measured
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sizes: list[int] = []
    state: dict[str, Any] = {"next": 0, "t0": None, "cpu0": None, "t1": 0.0}

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    connections = await asyncio.gather(*(asyncio.open_connection(host, port)
                                         for _ in range(int(spec["concurrency"]))))

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while state["next"] < total:
            i = state["next"]
            state["next"] = i + 1
            if i == warmup:
                state["t0"], state["cpu0"] = time.perf_counter(), cpu()
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError(f"no Content-Length in {head[:200]!r}")
            body = await reader.readexactly(int(head[at + 17:head.index(b"\r\n", at + 2)]))
            done = time.perf_counter()
            if i >= warmup:
                latencies.append((done - started) * 1000)
                statuses[int(head[9:12])] += 1
                sizes.append(len(body))
                state["t1"] = max(state["t1"], done)
        writer.close()

    await asyncio.gather(*(worker(r, w) for r, w in connections))
    seconds = state["t1"] - state["t0"]
    return {"latencies_ms": [round(x, 3) for x in latencies],
            "statuses": {str(k): v for k, v in statuses.items()},
            "body_bytes": int(statistics.median(sizes)), "seconds": seconds,
            "client_cpu_seconds": cpu() - state["cpu0"]}


def run_load(spec: dict[str, Any]) -> None:
    try:
        import uvloop

        result = uvloop.run(_load(spec))
    except ImportError:
        result = asyncio.run(_load(spec))
    sys.stdout.write(json.dumps(result) + "\n")


# ---------------------------------------------------------------------- servers (parent side)
@dataclass
class Server:
    name: str
    proc: subprocess.Popen[str]
    url: str

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(name: str, command: list[str], env: dict[str, str], log: Path) -> Iterator[Server]:
    """A server process that prints ``{"url": …}`` first; its stderr (JSON logs) goes to ``log``."""
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{name} server exited before printing its URL (see {log})")
        yield Server(name, proc, json.loads(line)["url"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clean_env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("POS_", "DATABASE_URL", "DAGSTER_HOME", "PORT"))}
    env.update(POS_HOME=str(home), RUNTIME__DLTHUB_TELEMETRY="false")
    if database_url:
        env["POS_DATABASE_URL"] = database_url
    return env


# ---------------------------------------------------------------------- the data (parent side)
@dataclass
class Seeded:
    tenant: str
    key: str
    accounts: list[str]
    other_tenant: str
    other_key: str
    other_accounts: list[str]
    rows: dict[str, int]
    seconds: float


def _seed_tenant(store: Any, settings: Any, name: str, prefix: str,
                 rng: random.Random) -> tuple[str, str, list[str]]:
    from pos_sync.appstore import finish_sync_log, session_scope, start_sync_log

    tenant, key = store.create_tenant(name)
    accounts = []
    for i in range(ACCOUNTS):
        provider = PROVIDERS[i % len(PROVIDERS)]
        merchant = f"{prefix}{i:02d}"
        city = CITIES[i % len(CITIES)]
        locations = [{"location_id": f"{merchant}-L{j}", "name": f"{name} {city} {j}",
                      "timezone": "Europe/Madrid", "currency": "EUR"}
                     for j in range(1, rng.randint(2, 5) + 1)]
        account_id, _ = store.upsert_account(
            tenant_id=tenant, provider=provider, merchant_id=merchant, account_name=f"{name} — {city} {i}",
            access_token=f"access-{merchant}", refresh_token=f"refresh-{merchant}",
            client_id=f"client-{merchant}",
            client_secret=f"secret-{merchant}" if provider == "toast" else None,
            extra={"domain_prefix": merchant.lower()} if provider == "lightspeed" else None,
            locations=locations, sync_frequency_minutes=15)
        accounts.append(account_id)
        running = i % 7 == 3  # a few accounts have a sync in progress right now
        with session_scope(settings) as session:
            for n in range(LOGS_PER_ACCOUNT):
                started = (LAST_SYNC - SYNC_EVERY * (LOGS_PER_ACCOUNT - 1 - n)
                           + timedelta(seconds=rng.randint(0, 40)))
                kind = "historical" if n == 0 else "incremental"
                log_id = start_sync_log(account_id, kind, f"run-{merchant}-{n}", started_at=started,
                                        session=session, settings=settings)
                if running and n == LOGS_PER_ACCOUNT - 1:
                    continue
                draw = rng.random()
                status = "failed" if draw < 0.05 else "partial" if draw < 0.08 else "success"
                fetched = rng.randint(5_000, 40_000) if n == 0 else rng.randint(0, 400)
                ok = status == "success"
                error: dict[str, str] = {}
                if status == "failed":
                    error = {"error_message": "Square answered 503 Service Unavailable after 5 retries",
                             "error_type": "provider_unavailable", "failed_step": "raw_square"}
                finish_sync_log(log_id, status, fetched=fetched, processed=fetched if ok else fetched // 2,
                                failed=0 if ok else rng.randint(1, 20), new_products=rng.randint(0, 3),
                                unmapped_products=rng.randint(0, 2),
                                completed_at=started + timedelta(seconds=rng.uniform(4, 90 if n else 900)),
                                session=session, settings=settings, **error)
    return tenant, key, accounts


def seed(env: dict[str, str]) -> Seeded:
    """Two tenants (the caller and another one) in the app store of ``env``."""
    import sqlalchemy as sa

    from pos_sync.appstore import AppStore, dispose_engines, session_scope
    from pos_sync.settings import parse_settings

    settings = parse_settings(env)
    store = AppStore(settings)
    rng = random.Random(SEED)
    started = time.perf_counter()
    tenant, key, accounts = _seed_tenant(store, settings, "Panadería Sol", "SOL", rng)
    other, other_key, other_accounts = _seed_tenant(store, settings, "Hornos Luna", "LUNA", rng)
    seconds = time.perf_counter() - started
    with session_scope(settings, readonly=True) as s:
        rows = {table: int(s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)
                for table in ("pos_tenants", "pos_api_keys", "pos_accounts", "pos_locations",
                              "pos_sync_logs")}
    dispose_engines()
    return Seeded(tenant, key, accounts, other, other_key, other_accounts, rows, round(seconds, 1))


# ---------------------------------------------------------------------- PostgreSQL scratch database
def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of ``admin_url``, dropped afterwards; yields its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"pos_bench_api_{os.getpid()}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(_libpq(admin_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_sessions(url: str) -> int | None:
    """Sessions established so far on the database of ``url`` (PostgreSQL 14+), minus this one."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else None


# ---------------------------------------------------------------------- measuring (parent side)
@dataclass
class Target:
    name: str
    server: Server
    paths: list[str]
    headers: dict[str, str]
    pg_url: str | None = None
    writer: Writer | None = None  # another process's writes to the app store during the measurement


class Writer:
    """Writes to the app store while a target is measured, as a Dagster run would: every
    ``interval`` seconds a sync log of the next of the tenant's accounts is started and finished
    (app store functions, this process's own connections). Each write moves that account's data
    version, so the server's kept answers for it (its history, the tenant's accounts list) are
    read again at the next request."""

    def __init__(self, env: dict[str, str], accounts: list[str], interval: float) -> None:
        self.env, self.accounts, self.interval = env, accounts, interval
        self.cycles = 0
        self.seconds = 0.0
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        from pos_sync.appstore import finish_sync_log, start_sync_log
        from pos_sync.settings import parse_settings

        settings = parse_settings(self.env)
        while not self._stop.wait(self.interval):
            account = self.accounts[self.cycles % len(self.accounts)]
            started = datetime.now(UTC)
            log_id = start_sync_log(account, "incremental", f"bench-writer-{self.cycles}", started_at=started,
                                    settings=settings)
            finish_sync_log(log_id, "success", fetched=10, processed=10, completed_at=started + timedelta(seconds=3),
                            settings=settings)
            self.cycles += 1

    def __enter__(self) -> Writer:
        self.cycles = 0
        self.seconds = 0.0
        self._started = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)
        self.seconds = time.perf_counter() - self._started


def measure_once(target: Target, concurrency: int, warmup: int, requests: int) -> dict[str, Any]:
    spec = {"host": target.server.host, "port": target.server.port, "paths": target.paths,
            "headers": target.headers, "concurrency": concurrency, "warmup": warmup, "requests": requests}
    sessions_before = pg_sessions(target.pg_url) if target.pg_url else None
    with target.writer or nullcontext():
        cpu_before = target.server.cpu_seconds()
        done = subprocess.run([sys.executable, "-m", "bench.api", "_load", json.dumps(spec)], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        cpu_after = target.server.cpu_seconds()
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed on {target.name}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["server_cpu_seconds"] = cpu_after - cpu_before
    result["served"] = warmup + requests
    if target.writer:
        result["writes"], result["writer_seconds"] = target.writer.cycles, target.writer.seconds
    if target.pg_url:
        time.sleep(1.2)  # exited backends flush their statistics at exit; give the collector a moment
        after = pg_sessions(target.pg_url)
        # minus the two connections of pg_sessions itself (before and after)
        result["pg_sessions"] = None
        if after is not None and sessions_before is not None:
            result["pg_sessions"] = after - sessions_before - 1
    return result


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q), 2)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for run in runs for x in run["latencies_ms"]]
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run["statuses"])
    requests = len(latencies)
    seconds = sum(run["seconds"] for run in runs)
    served = sum(run["served"] for run in runs)
    out: dict[str, Any] = {
        "requests": requests,
        "non_200": requests - statuses.get("200", 0),
        "p50_ms": _ms(latencies, 0.5), "p90_ms": _ms(latencies, 0.9), "p99_ms": _ms(latencies, 0.99),
        "max_ms": round(max(latencies), 2), "mean_ms": round(statistics.fmean(latencies), 2),
        "requests_per_s": round(requests / seconds, 1),
        "server_cpu_ms_per_request": round(sum(r["server_cpu_seconds"] for r in runs) / served * 1000, 3),
        "client_cpu_share": round(sum(r["client_cpu_seconds"] for r in runs) / seconds, 2),
        "body_bytes": runs[0]["body_bytes"],
        "rounds": [{"p50_ms": _ms(r["latencies_ms"], 0.5), "p99_ms": _ms(r["latencies_ms"], 0.99),
                    "requests_per_s": round(len(r["latencies_ms"]) / r["seconds"], 1)} for r in runs],
    }
    if any("writes" in r for r in runs):
        written = sum(r["writes"] for r in runs)
        out["writer"] = {"sync_logs_written": written,
                         "per_s": round(written / sum(r["writer_seconds"] for r in runs), 1),
                         "per_1000_requests_served": round(written / served * 1000, 1)}
    if any("pg_sessions" in r for r in runs):
        opened = [r.get("pg_sessions") for r in runs]
        out["pg_sessions_opened_per_1000_requests"] = (
            None if None in opened else round(sum(opened) / served * 1000, 1))  # type: ignore[arg-type]
    return out


def with_ratios(summary: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    summary["vs_bare"] = {"p50": round(summary["p50_ms"] / bare["p50_ms"], 2),
                          "p99": round(summary["p99_ms"] / bare["p99_ms"], 2),
                          "requests_per_s": round(summary["requests_per_s"] / bare["requests_per_s"], 3)}
    return summary


# ---------------------------------------------------------------------- correctness of what is loaded
def check(url: str, seeded: Seeded) -> dict[str, Any]:
    import httpx

    auth = {"Authorization": f"Bearer {seeded.key}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        listed = client.get("/api/v1/pos/accounts", headers=auth)
        listed.raise_for_status()
        ids = [a["id"] for a in listed.json()]
        assert sorted(ids) == sorted(seeded.accounts), "the tenant's accounts, and only them"
        assert all(a["tenant_id"] == seeded.tenant for a in listed.json())
        history = client.get(f"/api/v1/pos/sync/{seeded.accounts[0]}/history", headers=auth)
        history.raise_for_status()
        items = history.json()["items"]
        assert len(items) == 20 and all(i["account_id"] == seeded.accounts[0] for i in items)
        starts = [i["sync_started_at"] for i in items]
        assert starts == sorted(starts, reverse=True), "newest first"
        foreign = client.get(f"/api/v1/pos/sync/{seeded.other_accounts[0]}/history", headers=auth)
        assert foreign.status_code == 404, "another tenant's account is a 404"
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready", ready
    return {"accounts_listed": len(ids), "locations_listed": sum(len(a["locations"]) for a in listed.json()),
            "history_items": len(items), "other_tenant_history_status": foreign.status_code,
            "accounts_body_bytes": len(listed.content), "history_body_bytes": len(history.content)}


# ---------------------------------------------------------------------- anatomy of one request (in-process)
def _per_call_us(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e6)
    return round(statistics.median(times), 1)


def anatomy(env: dict[str, str], seeded: Seeded, repeat: int = 200) -> dict[str, Any]:
    """What one request costs, one at a time, in this process (no concurrency)."""
    import logging
    import warnings

    import anyio.to_thread
    import sqlalchemy as sa
    from pydantic import TypeAdapter
    from sqlalchemy import event

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from pos_sync.api import logs
    from pos_sync.api.app import create_app
    from pos_sync.api.read_cache import ReadCache
    from pos_sync.api.schemas import AccountOut, SyncLogOut
    from pos_sync.appstore import AppStore, dispose_engines, get_engine
    from pos_sync.appstore.db import ensure_schema, resolve_url, session_scope
    from pos_sync.appstore.tenants import hash_key
    from pos_sync.settings import parse_settings

    logs.configure(logging.WARNING)  # the request log would go to this process's stderr
    settings = parse_settings(env)
    store = AppStore(settings)
    engine = get_engine(settings)
    counts: Counter[str] = Counter()
    statements: list[str] = []

    def count(name: str) -> Callable[..., None]:
        def listener(*_args: Any) -> None:
            counts[name] += 1
        return listener

    def statement(_conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        counts["statements"] += 1
        statements.append(" ".join(text.split())[:90])

    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (engine, "before_cursor_execute", statement), (engine, "commit", count("commits")),
        (engine, "rollback", count("rollbacks")), (engine.pool, "checkout", count("pool_checkouts")),
        (engine.pool, "connect", count("new_connections"))]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    run_sync = anyio.to_thread.run_sync

    async def counted_run_sync(*args: Any, **kwargs: Any) -> Any:
        counts["thread_pool_hops"] += 1
        return await run_sync(*args, **kwargs)

    anyio.to_thread.run_sync = counted_run_sync  # type: ignore[assignment]
    fetch = ReadCache._fetch

    async def counted_fetch(self: ReadCache, *args: Any) -> Any:
        counts["read_cache_queries"] += 1
        return await fetch(self, *args)

    ReadCache._fetch = counted_fetch  # type: ignore[method-assign]
    auth = {"Authorization": f"Bearer {seeded.key}"}
    apps = {"bare": (bare_app(), {"bare": "/bare", "bare_async": "/bare-async"}),
            "product": (create_app(settings), {"healthz": "/healthz", "accounts": "/api/v1/pos/accounts",
                                               "history": f"/api/v1/pos/sync/{seeded.accounts[0]}/history"})}
    per_request: dict[str, Any] = {}
    try:
        for app, paths in apps.values():
            with TestClient(app) as client:
                for name, path in paths.items():
                    for _ in range(3):
                        client.get(path, headers=auth).raise_for_status()
                    counts.clear()
                    statements.clear()
                    n = 20
                    for _ in range(n):
                        client.get(path, headers=auth)
                    per_request[name] = {k: round(v / n, 2) for k, v in sorted(counts.items())}
                    if statements:
                        one_request = statements[: len(statements) // n]
                        per_request[name]["statement_kinds"] = dict(Counter(one_request))
    finally:
        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        ReadCache._fetch = fetch  # type: ignore[method-assign]
        for target, name, fn in listeners:
            event.remove(target, name, fn)

    import orjson

    from pos_sync.api.auth import tenant_on
    from pos_sync.appstore import read_connection, reads

    infos = store.list_accounts(seeded.tenant)
    history = store.sync_history(seeded.accounts[0], 20, tenant_id=seeded.tenant)
    outs = [AccountOut.model_validate(a.to_dict()) for a in infos]
    response_pass = TypeAdapter(list[AccountOut])
    with read_connection(settings) as conn:
        account_dicts = reads.account_dicts(conn, seeded.tenant)

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def empty_session() -> None:
        with session_scope(settings, readonly=True):
            pass

    def empty_read_connection() -> None:
        with read_connection(settings):
            pass

    def key_on_connection() -> None:
        with read_connection(settings) as conn:
            tenant_on(conn, seeded.key, settings)

    def accounts_read() -> None:
        with read_connection(settings) as conn:
            orjson.dumps(reads.account_dicts(conn, tenant_on(conn, seeded.key, settings)), option=orjson.OPT_UTC_Z)

    def history_read() -> None:
        with read_connection(settings) as conn:
            items = reads.history_dicts(conn, seeded.accounts[0], tenant_on(conn, seeded.key, settings), 20, 0)
        orjson.dumps({"items": items}, option=orjson.OPT_UTC_Z)

    loop = asyncio.new_event_loop()
    cache = ReadCache(settings)
    history_args = (seeded.key, seeded.accounts[0], 20, 0)
    loop.run_until_complete(cache.accounts(seeded.key))
    loop.run_until_complete(cache.history(*history_args))

    def on_loop(make: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: loop.run_until_complete(make())

    pieces_us = {
        # what the two routes do now: one query on the event loop, the kept answer
        "kept answer of GET /accounts (ReadCache.accounts: the key + 20 versions in one query, a hit)":
            _per_call_us(on_loop(lambda: cache.accounts(seeded.key)), repeat),
        "kept answer of GET /history (ReadCache.history: the key + the account's version, a hit)":
            _per_call_us(on_loop(lambda: cache.history(*history_args)), repeat),
        "the validation query alone (key + 20 account versions)": _per_call_us(
            on_loop(lambda: cache._fetch("key_accounts", (hash_key(seeded.key),))), repeat),
        # what a miss reads (in a worker thread), and what the routes did per request before
        "read_connection (ensure_schema + checkout; PostgreSQL: autocommit, pre-ping)": _per_call_us(
            empty_read_connection, repeat),
        "read_connection + API key lookup (tenant_on)": _per_call_us(key_on_connection, repeat),
        "GET /accounts body: connection + key + accounts & locations selects + orjson": _per_call_us(
            accounts_read, repeat),
        "GET /history body: connection + key + account check + 20 logs + orjson": _per_call_us(
            history_read, repeat),
        "orjson.dumps of the 20 account dicts": _per_call_us(
            lambda: orjson.dumps(account_dicts, option=orjson.OPT_UTC_Z), repeat),
        # the ORM path (what the routes did before; the CLI and the other routes still use it)
        "resolve_url(settings) (URL normalisation cached)": _per_call_us(
            lambda: resolve_url(settings), repeat * 5),
        "ensure_schema (called at the start of every session)": _per_call_us(
            lambda: ensure_schema(settings), repeat),
        "pool checkout + return (PostgreSQL: with its pool_pre_ping round trip)": _per_call_us(
            lambda: engine.raw_connection().close(), repeat),
        "connection checkout + SELECT 1": _per_call_us(ping, repeat),
        "empty read session (session_scope: ensure_schema + checkout + BEGIN + COMMIT)": _per_call_us(
            empty_session, repeat),
        "hash_key (SHA-256 of the API key)": _per_call_us(lambda: hash_key(seeded.key), repeat * 5),
        "AppStore.authenticate (own connection: API key → tenant)": _per_call_us(
            lambda: store.authenticate(seeded.key), repeat),
        "ORM list_accounts (a session: 20 accounts + locations → AccountInfo)": _per_call_us(
            lambda: store.list_accounts(seeded.tenant), repeat),
        "ORM: 20 AccountInfo → AccountOut (to_dict + pydantic)": _per_call_us(
            lambda: [AccountOut.model_validate(a.to_dict()) for a in infos], repeat),
        "ORM: 20 AccountOut → JSON (a response_model pass: validate + dump_json)": _per_call_us(
            lambda: response_pass.dump_json(response_pass.validate_python(outs)), repeat),
        "ORM sync_history (a session: the account, then 20 logs)": _per_call_us(
            lambda: store.sync_history(seeded.accounts[0], 20, tenant_id=seeded.tenant), repeat),
        "ORM: 20 SyncLogInfo → SyncLogOut (to_dict + pydantic)": _per_call_us(
            lambda: [SyncLogOut.model_validate(log.to_dict()) for log in history], repeat),
    }
    loop.run_until_complete(cache.close())
    loop.close()
    dispose_engines()
    return {"per_request": per_request, "pieces_us": pieces_us}


# ---------------------------------------------------------------------- the run
def code_version() -> dict[str, Any]:
    """The commit measured, and any uncommitted change outside ``bench/`` (the code measured is on disk)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_outside_bench": changed}


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="pos-bench-api-"))
    env_machine = machine()
    code = code_version()
    started = time.perf_counter()
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        pg_url = stack.enter_context(scratch_database(args.postgres)) if args.postgres else None
        envs = {"sqlite": clean_env(work / "sqlite", None)}
        if pg_url:
            envs["postgresql"] = clean_env(work / "postgresql", pg_url)
        seeded = {backend: seed(env) for backend, env in envs.items()}
        # first, while nothing else runs (and before any server starts, so a failure costs little)
        anatomies = {backend: anatomy(env, seeded[backend]) for backend, env in envs.items()}
        py = sys.executable
        bare = stack.enter_context(server("bare", [py, "-m", "bench.api", "_serve-bare", "--port", "0"],
                                          clean_env(work / "bare", None), work / "bare.log"))
        serve = [py, "-m", "pos_sync.cli", "api", "serve", "--port", "0"]
        servers = {backend: stack.enter_context(server(backend, serve, env, work / f"{backend}.log"))
                   for backend, env in envs.items()}
        checks = {backend: check(srv.url, seeded[backend]) for backend, srv in servers.items()}
        targets = [Target("bare", bare, ["/bare"], {}), Target("bare_async", bare, ["/bare-async"], {})]
        for backend, srv in servers.items():
            auth = {"Authorization": f"Bearer {seeded[backend].key}"}
            url = pg_url if backend == "postgresql" else None
            targets += [
                Target(f"{backend}/healthz", srv, ["/healthz"], {}, url),
                Target(f"{backend}/accounts", srv, ["/api/v1/pos/accounts"], auth, url),
                Target(f"{backend}/history", srv,
                       [f"/api/v1/pos/sync/{a}/history" for a in seeded[backend].accounts], auth, url),
            ]
            if args.write_interval > 0:
                writer = Writer(envs[backend], seeded[backend].accounts, args.write_interval)
                targets += [
                    Target(f"{backend}/accounts_written", srv, ["/api/v1/pos/accounts"], auth, url, writer),
                    Target(f"{backend}/history_written", srv,
                           [f"/api/v1/pos/sync/{a}/history" for a in seeded[backend].accounts], auth, url, writer),
                ]
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        load_per_round = []
        for r in range(args.rounds):
            load_per_round.append(round(os.getloadavg()[0], 2))
            for target in targets[r % len(targets):] + targets[:r % len(targets)]:
                sys.stderr.write(f"round {r + 1}/{args.rounds}: {target.name}\n")
                runs[target.name].append(measure_once(target, args.concurrency, args.warmup, args.requests))
        unloaded: dict[str, Any] = {"concurrency": 1, "requests": args.unloaded_requests}
        for target in targets:
            sys.stderr.write(f"one client: {target.name}\n")
            one = measure_once(target, 1, 20, args.unloaded_requests)
            lat = one["latencies_ms"]
            unloaded[target.name] = {
                "p50_ms": _ms(lat, 0.5), "p90_ms": _ms(lat, 0.9), "p99_ms": _ms(lat, 0.99),
                "max_ms": round(max(lat), 2), "requests_per_s": round(len(lat) / one["seconds"], 1),
                "server_cpu_ms_per_request": round(one["server_cpu_seconds"] / one["served"] * 1000, 3)}
        every = {"bare": bare, **servers}
        server_rss = {name: process_peak_rss_mib(srv.proc.pid) for name, srv in every.items()}
        log_lines = {}
        for name, srv in every.items():
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=30)
            log_lines[name] = sum(1 for _ in (work / f"{name}.log").open())

    summaries = {name: summarise(r) for name, r in runs.items()}
    base = summaries["bare"]
    results: dict[str, Any] = {"bare": base, "bare_async": with_ratios(summaries["bare_async"], base)}
    for backend in envs:
        results[backend] = {ep: with_ratios(summaries[f"{backend}/{ep}"], base)
                            for ep in ENDPOINTS if f"{backend}/{ep}" in summaries}
    goal: dict[str, Any] = {"p99_ms_below": GOAL_P99_MS, "on": "postgresql"}
    if "postgresql" in results:
        for ep in ENDPOINTS[1:]:
            if ep in results["postgresql"]:
                p99 = results["postgresql"][ep]["p99_ms"]
                goal[ep] = {"p99_ms": p99, "met": p99 < GOAL_P99_MS}
        goal["met"] = all(goal[ep]["met"] for ep in ("accounts", "history"))
        if "accounts_written" in goal:
            goal["met_while_written"] = all(goal[ep]["met"] for ep in ("accounts_written", "history_written"))
    first = next(iter(seeded.values()))
    return {
        "benchmark": "api",
        "method": {
            "concurrency": args.concurrency, "requests_per_round": args.requests, "rounds": args.rounds,
            "warmup_per_measurement": args.warmup,
            "client": "raw HTTP/1.1 keep-alive, asyncio + uvloop, one child process per measurement, "
                      "closed loop",
            "server": "python -m pos_sync.cli api serve --port 0 (uvicorn, 1 process); baseline: bare "
                      "FastAPI, same uvicorn.Config, python -m bench.api _serve-bare",
            "history_query": "GET /api/v1/pos/sync/{account_id}/history (limit=20, offset=0), rotating "
                             "over the tenant's 20 accounts",
            "written": (f"*_written: the same requests while the parent writes a sync log (started and "
                        f"finished) of the next account every {args.write_interval} s"
                        if args.write_interval > 0 else None),
        },
        "data": {
            "calling_tenant": {"accounts": len(first.accounts), "sync_logs_per_account": LOGS_PER_ACCOUNT},
            "other_tenant": {"accounts": len(first.other_accounts),
                             "sync_logs_per_account": LOGS_PER_ACCOUNT},
            "rows": {backend: s.rows for backend, s in seeded.items()},
            "seed_seconds": {backend: s.seconds for backend, s in seeded.items()},
        },
        "machine": env_machine,
        "load_average_1m_at_each_round": load_per_round,
        "code": code,
        "results": results,
        "goal": goal,
        "one_client": unloaded,
        "checks": checks,
        "anatomy": anatomies,
        "server_peak_rss_mib": server_rss,
        "server_log_lines": log_lines,
        "parent_peak_rss_mib": peak_rss_mib(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_serve-bare":
        child = argparse.ArgumentParser()
        child.add_argument("_serve_bare")
        child.add_argument("--host", default="127.0.0.1")
        child.add_argument("--port", type=int, default=0)
        opts = child.parse_args()
        serve_bare(opts.host, opts.port)
        return
    if len(sys.argv) > 2 and sys.argv[1] == "_load":
        run_load(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help="measured requests per target and round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="requests before each measurement")
    parser.add_argument("--unloaded-requests", type=int, default=500,
                        help="requests per target with one client (no queueing), after the rounds")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="server (any database on it) where a scratch database is created and dropped")
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None,
                        help="SQLite and the baseline only")
    parser.add_argument("--write-interval", type=float, default=WRITE_INTERVAL,
                        help="seconds between the writer's sync logs in the *_written measurements (0: none)")
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    args = parser.parse_args()
    emit(run(args), args.out)


if __name__ == "__main__":
    main()
