"""``pos-sync topology up|down`` (``make topology``): Dagster's multi-process deployment on one machine.

``up`` starts, each in its own process group with its log in ``$POS_HOME/topology/<name>.log``:

1. a gRPC **code server** (``dagster api grpc -m pos_dagster.definitions``): it loads the definitions,
   evaluates sensors and spawns every run worker (the default run launcher);
2. the **daemon** (``dagster-daemon run``): sensors, the run queue (QueuedRunCoordinator, the pools
   and tag limits of ``deploy/dagster.postgres.yaml``), run monitoring and run retries;
3. the **webserver** (``dagster-webserver``): the UI and GraphQL;
4. the HTTP **API** (``pos-sync api serve``).

Dagster's instance, the app store and the warehouse are PostgreSQL: ``DAGSTER_PG_URL``,
``POS_DATABASE_URL`` and ``POS_WAREHOUSE_URL`` (``--create-databases`` creates missing databases).
``$DAGSTER_HOME/dagster.yaml`` is ``deploy/dagster.postgres.yaml``; the workspace points the
webserver and the daemon at the code server.

The launcher supervises: a child that exits is started again (a crashed daemon or code server
comes back within seconds; more than :data:`MAX_RESTARTS` restarts of one child in a minute stop
the stack), and every :data:`REAP_SECONDS` it fails the started runs whose run worker is gone (what
the default launcher cannot see after a code server restart, ``docs/deploy.md``). Before starting
it fails the runs a previous stack left started. SIGINT/SIGTERM (or ``pos-sync topology down``)
stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from pos_sync.cli import CommandError, emit_json, log
from pos_sync.cli.dev import REPO, Child, last_line, port_free, stop_children, wait_for_webserver

STARTUP_SECONDS = 180.0
MAX_RESTARTS = 5  # per child within RESTART_WINDOW seconds
RESTART_WINDOW = 60.0
REAP_SECONDS = 10.0
STOP_SECONDS = 30.0  # `down` waits this long for the launcher to stop everything
INSTANCE_YAML = REPO / "deploy" / "dagster.postgres.yaml"
LOCATION = "pos_dagster"


def workspace_yaml(host: str, grpc_port: int) -> str:
    return (f"load_from:\n  - grpc_server:\n      host: {host}\n      port: {grpc_port}\n"
            f"      location_name: {LOCATION}\n")


def dagster_pg_url(url: str) -> str:
    """dagster-postgres runs on psycopg2 (a bare postgresql:// picks psycopg 3 under SQLAlchemy 2.1)."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def create_databases(urls: list[str]) -> list[str]:
    """Create each URL's database on its server when missing (connecting to the server's ``postgres``
    database); the names created."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    created = []
    for url in urls:
        parts = urlsplit(url.replace("+psycopg2", "").replace("+psycopg", ""))
        name = parts.path.lstrip("/")
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
                conn.execute(f'create database "{name}"')
                created.append(name)
    return created


def _bin(name: str) -> str:
    """A console script of this Python environment (``dagster-daemon``, ``dagster-webserver``)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def children_of(args: argparse.Namespace, logs: Path, workspace: Path) -> dict[str, Child]:
    host = args.host
    return {
        "code server": Child("code server", [sys.executable, "-m", "dagster", "api", "grpc", "-m",
                                             "pos_dagster.definitions", "-d", str(REPO), "-h", host, "-p",
                                             str(args.grpc_port), "--location-name", LOCATION],
                             logs / "code-server.log"),
        "daemon": Child("daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)], logs / "daemon.log"),
        "webserver": Child("webserver", [_bin("dagster-webserver"), "-w", str(workspace), "-h", host, "-p",
                                         str(args.webserver_port)], logs / "webserver.log"),
        "API": Child("API", [sys.executable, "-m", "pos_sync.cli", "api", "serve", "--host", host, "--port",
                             str(args.api_port)], logs / "api.log", stdout_path=logs / "api.json"),
    }


def _wait_for_grpc(host: str, port: int, child: Child, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.exited() is not None:
            raise CommandError(f"the code server exited (code {child.exited()}): {last_line(child.log_path)}")
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise CommandError(f"the code server did not listen on {host}:{port} within {timeout:.0f} s "
                       f"(see {child.log_path})")


class _Stop(Exception):
    """SIGINT or SIGTERM: stop the topology."""


def state_path(pos_home: Path) -> Path:
    return pos_home / "topology" / "state.json"


def _up(args: argparse.Namespace) -> int:
    from pos_sync.providers import registry
    from pos_sync.runner import fail_interrupted_runs, reap_dead_run_workers, set_pool_limits
    from pos_sync.settings import ensure_home, load_settings

    settings = load_settings()
    ensure_home(settings)
    pg = settings.env("DAGSTER_PG_URL")
    for name, url in (("DAGSTER_PG_URL", pg), ("POS_DATABASE_URL", settings.database_url),
                      ("POS_WAREHOUSE_URL", settings.warehouse_url)):
        if not _is_postgres(url):
            raise CommandError(f"{name} must be a postgresql:// URL for the topology (see docs/deploy.md)")
    assert pg is not None and settings.warehouse_url is not None
    if args.pool_limit is not None and args.pool_limit < 1:
        raise CommandError(f"--pool-limit must be at least 1, got {args.pool_limit}")
    ports = {"--grpc-port": args.grpc_port, "--webserver-port": args.webserver_port, "--api-port": args.api_port}
    for option, port in ports.items():
        if not port_free(args.host, port):
            raise CommandError(f"port {port} on {args.host} is in use ({option}): is a topology already running? "
                               f"Stop it (`pos-sync topology down`) or pick another port")
    if args.create_databases:
        for name in create_databases([pg, settings.database_url, settings.warehouse_url]):
            log(f"created database {name}")
    home = settings.dagster_home
    (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
    workspace = home / "workspace.yaml"
    workspace.write_text(workspace_yaml(args.host, args.grpc_port))
    if interrupted := fail_interrupted_runs():
        log(f"marked {len(interrupted)} run(s) the previous stack left started as failed")
    if args.pool_limit is not None:
        set_pool_limits({spec.pool: args.pool_limit for spec in registry})
    logs = settings.pos_home / "topology"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**settings.environ, "POS_HOME": str(settings.pos_home), "DAGSTER_HOME": str(home),
           "DAGSTER_PG_URL": dagster_pg_url(pg), "PYTHONUNBUFFERED": "1"}
    named = children_of(args, logs, workspace)
    children = list(named.values())
    restarts: dict[str, list[float]] = {name: [] for name in named}
    state = state_path(settings.pos_home)

    def stop(signum: int, _frame: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    def write_state(document: dict[str, Any]) -> None:
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, indent=2))
        tmp.replace(state)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        log(f"POS_HOME={settings.pos_home} DAGSTER_HOME={home} (children's logs in {logs})")
        named["code server"].start(env)
        named["API"].start(env)
        _wait_for_grpc(args.host, args.grpc_port, named["code server"], STARTUP_SECONDS)
        named["daemon"].start(env)
        named["webserver"].start(env)
        api_url = json.loads(named["API"].first_line(60))["url"]
        ui = f"http://{args.host}:{args.webserver_port}"
        wait_for_webserver(ui, children, STARTUP_SECONDS)
        document = {"pos_home": str(settings.pos_home), "dagster_home": str(home), "dagster_url": ui,
                    "api_url": api_url, "grpc": f"{args.host}:{args.grpc_port}", "logs": str(logs),
                    "launcher_pid": os.getpid(), "pids": {c.name: c.pid for c in children}, "restarts": {}}
        write_state(document)
        if args.json:
            emit_json(document)
        else:
            print(f"topology up — Dagster UI {ui}  API {api_url}  code server {args.host}:{args.grpc_port}; "
                  "`pos-sync topology down` or Ctrl-C stops it", flush=True)
        next_reap = time.monotonic() + REAP_SECONDS
        while True:
            for child in children:
                code = child.exited()
                if code is None:
                    continue
                now = time.monotonic()
                recent = [t for t in restarts[child.name] if now - t < RESTART_WINDOW]
                if len(recent) >= MAX_RESTARTS:
                    raise CommandError(f"the {child.name} exited {len(recent) + 1} times within "
                                       f"{RESTART_WINDOW:.0f} s (last: code {code}, {last_line(child.log_path)}); "
                                       "the topology is stopped")
                log(f"the {child.name} exited (code {code}): starting it again")
                child.signal_group(signal.SIGKILL)  # whatever it left behind in its group
                child.close()
                child.start(env)
                restarts[child.name] = [*recent, now]
                document["pids"][child.name] = child.pid
                document["restarts"][child.name] = document["restarts"].get(child.name, 0) + 1
                write_state(document)
            if time.monotonic() >= next_reap:
                if reaped := reap_dead_run_workers():
                    log(f"failed {len(reaped)} started run(s) whose run worker is gone: {', '.join(reaped)}")
                next_reap = time.monotonic() + REAP_SECONDS
            time.sleep(0.5)
    except _Stop as why:
        log(f"{why}: stopping the webserver, the daemon, the code server and the API …")
        return 0
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        state.unlink(missing_ok=True)
        log("stopped")


def _down(args: argparse.Namespace) -> int:
    from pos_sync.settings import load_settings

    state = state_path(load_settings().pos_home)
    try:
        pid = int(json.loads(state.read_text())["launcher_pid"])
    except (OSError, ValueError, KeyError):
        raise CommandError(f"no topology is running here (no {state})") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state.unlink(missing_ok=True)
        log(f"the launcher (pid {pid}) was already gone; removed {state}")
        return 0
    deadline = time.monotonic() + STOP_SECONDS
    while state.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if state.exists():
        raise CommandError(f"the launcher (pid {pid}) did not stop within {STOP_SECONDS:.0f} s")
    log("stopped")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "topology", help="Dagster's multi-process deployment on PostgreSQL: code server, daemon, webserver, API",
        description="`up` starts a gRPC code server, dagster-daemon, dagster-webserver and the HTTP API as "
                    "separate processes on PostgreSQL (DAGSTER_PG_URL, POS_DATABASE_URL, POS_WAREHOUSE_URL), "
                    "with deploy/dagster.postgres.yaml as the instance (queued runs, pools, tag limits, run "
                    "monitoring and retries), restarts a child that dies and fails runs whose worker is gone. "
                    "`down` stops a running `up` of the same POS_HOME. See docs/deploy.md.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start the topology (in the foreground; Ctrl-C stops it)")
    up.add_argument("--host", default="127.0.0.1", help="interface every server binds (default 127.0.0.1)")
    up.add_argument("--grpc-port", type=int, default=4266, help="the code server's port (default 4266)")
    up.add_argument("--webserver-port", type=int, default=3000, help="the Dagster UI's port (default 3000)")
    up.add_argument("--api-port", type=int, default=8013, help="the HTTP API's port (default 8013)")
    up.add_argument("--pool-limit", type=int, default=None, metavar="N",
                    help="slots of each provider's API pool (default: the instance's default_limit, 4)")
    up.add_argument("--create-databases", action="store_true",
                    help="create the three PostgreSQL databases when missing")
    up.add_argument("--json", action="store_true",
                    help="once everything is up, print one JSON document (URLs, pids, logs)")
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the topology started with `up` (same POS_HOME)")
    down.set_defaults(func=_down)
