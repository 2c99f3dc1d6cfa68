"""``pos-sync dev`` (``make up``): the live local stack in one command.

1. the provider sandbox as a long-running server (``pos-sync sandbox serve --live``): a fixed seed,
   the virtual clock following the wall clock and a live sale every few seconds, on a fixed port
   (so the accounts linked to it stay valid across restarts); while it boots, the app store's
   schema and the Dagster instance are made ready (runs a stopped stack left started are failed);
2. as soon as the sandbox has printed its manifest: ``dagster dev`` on ``workspace.yaml``
   (webserver + daemon: the ``account_sync_sensor`` launches the accounts' scheduled syncs, which
   the UI shows as they run) and the HTTP API (``pos-sync api serve``), its OAuth apps pointed at
   the sandbox — the slow part (loading the definitions) starts first;
3. while they boot, the demo tenant's accounts of every provider are linked to the sandbox with the
   demo's own linking code (OAuth for Square and Lightspeed, machine-client login for Toast),
   seconds before the daemon's first tick. Account ids are derived from the store, so a restart
   links the same accounts again (new tokens, same ids, same history), never duplicates; they
   sync every ``--sync-every`` minutes.

Every child runs in its own process group with its output in ``$POS_HOME/dev/<name>.log``.
Ctrl-C or SIGTERM stops them all: SIGINT to ``dagster dev``'s group (it ignores SIGTERM for 30 s),
SIGTERM to the others, SIGKILL to any group still alive after :data:`GRACE_SECONDS`. A child that
exits on its own stops the stack with one line naming it and its log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from pos_sync.cli import CommandError, emit_json, log

# after SIGINT/SIGTERM, before SIGKILL. Dagster's processes do their own stopping within a second
# (the daemon's threads, the webserver, a run worker recording its interruption); what follows is
# each interpreter's teardown of Dagster's module graph, seconds of CPU on a busy machine, which
# SIGKILL ends at once. A run stopped mid-way is failed by the next start (fail_interrupted_runs).
GRACE_SECONDS = 3.0
STARTUP_SECONDS = 180.0  # dagster dev loads the definitions in a code server: slow on a busy machine
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    stdout_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    files: list[IO[bytes]] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        err = self.log_path.open("ab")
        out = self.stdout_path.open("wb") if self.stdout_path else err
        self.files = [err] + ([out] if out is not err else [])
        # a session of its own: the terminal's Ctrl-C reaches only pos-sync dev, which stops the
        # children in order, and a signal to the group reaches every process the child started
        self.proc = subprocess.Popen(self.argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def first_line(self, timeout: float) -> str:
        """The first stdout line (the child's JSON announcement), waiting for it."""
        assert self.stdout_path is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stdout_path.read_text() if self.stdout_path.exists() else ""
            if "\n" in text:
                return text.split("\n", 1)[0]
            if self.exited() is not None:
                raise CommandError(f"the {self.name} exited (code {self.exited()}): {last_line(self.log_path)}")
            time.sleep(0.1)
        raise CommandError(f"the {self.name} did not start within {timeout:.0f} s (see {self.log_path})")

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's process group; False when the group is gone."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def close(self) -> None:
        for f in self.files:
            f.close()


def last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"see {path}"
    return f"{lines[-1][:300]} (log: {path})" if lines else f"no output (log: {path})"


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> bool:
    """Linux: the processes our children leave behind (``dagster dev``'s webserver, daemon, code
    servers and run workers, once ``dagster dev`` itself has exited or been killed) are re-parented
    to this process instead of init, so :func:`reap` collects them at once — a group of zombies
    waiting for init's next reaping would still count as alive. False elsewhere (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def reap(children: list[Child]) -> None:
    """Collect every exited process re-parented to us (see :func:`become_subreaper`); a child's
    leader through its ``Popen`` (which keeps its exit code)."""
    leaders = {child.proc.pid: child for child in children if child.proc is not None}
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or not info.si_pid:
            return
        if info.si_pid in leaders:
            if leaders.pop(info.si_pid).exited() is None:
                return
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)


def stop_children(children: list[Child], grace: float = GRACE_SECONDS) -> None:
    """Each child's group gets its stop signal (``dagster dev``: SIGINT); any group with a live
    process after ``grace`` seconds gets SIGKILL; returns when every group is gone."""
    for child in reversed(children):
        child.signal_group(child.stop_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(child.signal_group(0) for child in children):
        reap(children)  # the leaders and the orphans re-parented to us, so a group can empty
        time.sleep(0.05)
    for child in children:
        if child.signal_group(0):
            child.signal_group(signal.SIGKILL)
    for child in children:
        if child.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)
        child.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(child.signal_group(0) for child in children):
        reap(children)  # the killed groups' orphans
        time.sleep(0.02)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def dagster_instance_yaml(dagster_home: Path) -> None:
    """The embedded default instance (as ``pos-sync sync`` writes it; an earlier release's brought
    up to date, one of the user's own kept)."""
    from pos_dagster.lib.instance_yaml import ensure_instance_yaml

    ensure_instance_yaml(dagster_home)


def link_dev_accounts(manifest: dict[str, Any], *, sync_every: int, history_days: int) -> list[dict[str, Any]]:
    """Link every account the sandbox serves (the demo's linking code); idempotent: the same store
    is the same account (derived id), linked again with the new tokens."""
    from pos_sync import appstore
    from pos_sync.cli.demo import LINKERS

    tenant_id = manifest["world"]["tenant_id"]
    linked = []
    for cred in manifest["accounts"]:
        link = LINKERS.get(cred["provider"])
        if link is None:
            continue
        account_id = link(cred["base_url"], tenant_id, cred, historical_import_days=history_days)
        account = appstore.update_account(account_id, sync_frequency_minutes=sync_every)
        linked.append({"provider": account.provider, "account_id": account.id, "name": account.name,
                       "locations": account.location_ids})
    return linked


def prepare_stores(settings: Any) -> None:
    """Before any child opens them: the app store's schema (the API, the code server and the
    linking would otherwise race to create it on a fresh home) and the Dagster instance, with the
    runs a stopped stack left started marked failed (their run workers were stopped with it)."""
    from pos_sync.appstore import ensure_schema
    from pos_sync.runner import fail_interrupted_runs

    ensure_schema(settings)
    if interrupted := fail_interrupted_runs():
        log(f"marked {len(interrupted)} run(s) the previous stack left started as failed")


def app_environment(manifest: dict[str, Any]) -> dict[str, str]:
    """The API's (and the syncs') provider URLs and OAuth apps: the sandbox's."""
    env: dict[str, str] = {}
    for cred in manifest["accounts"]:
        name = cred["provider"].upper()
        env[f"{name}_BASE_URL"] = cred["base_url"]
        app_id, app_secret = {"SQUARE": ("SQUARE_APP_ID", "SQUARE_APP_SECRET")}.get(
            name, (f"{name}_CLIENT_ID", f"{name}_CLIENT_SECRET"))
        env[app_id] = cred["client_id"]
        env[app_secret] = cred["client_secret"]
    return env


def dagster_argv(host: str, port: int) -> list[str]:
    workspace = REPO / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "pos_dagster.definitions"]
    return [sys.executable, "-m", "dagster", "dev", *target, "-h", host, "-p", str(port)]


def wait_for_webserver(url: str, children: list[Child], timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.exited() is not None:
                raise CommandError(f"the {child.name} exited (code {child.exited()}): {last_line(child.log_path)}")
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise CommandError(f"the Dagster webserver did not answer at {url} within {timeout:.0f} s "
                       f"(see {children[-1].log_path})")


def dev_start(days: int, scale: str, providers: str, now: datetime | None = None) -> date:
    """The first day of the latest ``days``-day window that has ended by ``now``: the sandbox's
    clock starts at the wall clock, never behind its window's end (``pos_sandbox.world.latest_start``)."""
    from pos_sandbox.world import latest_start

    try:
        return latest_start(days, scale=scale, providers=[p.strip() for p in providers.split(",") if p.strip()],
                            ending_by=now)
    except ValueError as exc:
        raise CommandError(f"--providers: {exc}") from exc


class _Stop(Exception):
    """SIGINT or SIGTERM: stop the stack."""


def _dev(args: argparse.Namespace) -> int:
    from pos_sync.settings import ensure_home, load_settings

    settings = load_settings()
    ensure_home(settings)
    if not 1 <= args.days <= 366:
        raise CommandError(f"--days must be between 1 and 366, got {args.days}")
    if args.sync_every < 1:
        raise CommandError(f"--sync-every must be at least 1 minute, got {args.sync_every}")
    ports = {"--sandbox-port": args.sandbox_port, "--api-port": args.api_port, "--dagster-port": args.dagster_port}
    for option, port in ports.items():
        if not port_free(args.host, port):
            raise CommandError(f"port {port} on {args.host} is in use ({option}): is `pos-sync dev` already "
                               f"running? Stop it or pick another port")
    dagster_instance_yaml(settings.dagster_home)
    logs = settings.pos_home / "dev"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**settings.environ, "POS_HOME": str(settings.pos_home), "DAGSTER_HOME": str(settings.dagster_home),
           "PYTHONUNBUFFERED": "1"}
    start = args.start or dev_start(args.days, args.scale, args.providers)
    cli = [sys.executable, "-m", "pos_sync.cli"]
    sandbox = Child("sandbox", [*cli, "sandbox", "serve", "--live", "--sale-every", f"{args.sale_every:g}",
                                "--seed", str(args.seed), "--days", str(args.days), "--start", start.isoformat(),
                                "--scale", args.scale, "--providers", args.providers, "--host", args.host,
                                "--port", str(args.sandbox_port)],
                    logs / "sandbox.log", stdout_path=logs / "sandbox.json")
    children = [sandbox]

    def stop(signum: int, _frame: Any) -> None:
        raise _Stop(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    become_subreaper()
    try:
        log(f"POS_HOME={settings.pos_home} (children's logs in {logs})")
        sandbox.start(env)
        prepare_stores(settings)  # while the sandbox boots
        manifest = json.loads(sandbox.first_line(60))
        log(f"sandbox on {manifest['base_url']}: seed {args.seed}, {args.days} days from {start}, scale "
            f"{args.scale}, a live sale every {args.sale_every:g} s")
        env = {**env, **app_environment(manifest)}
        api = Child("API", [*cli, "api", "serve", "--host", args.host, "--port", str(args.api_port)],
                    logs / "api.log", stdout_path=logs / "api.json")
        dagster = Child("dagster dev", dagster_argv(args.host, args.dagster_port), logs / "dagster.log",
                        stop_signal=signal.SIGINT)
        children += [api, dagster]
        # dagster dev (the slowest to boot: it loads the definitions, then its daemon ticks the
        # sensors) and the API start now; the accounts are linked while they boot — in a second or
        # two, long before the daemon's first tick (a tick before would only move the first syncs to
        # the next one, 30 s later)
        dagster.start(env)
        api.start(env)
        accounts = link_dev_accounts(manifest, sync_every=args.sync_every, history_days=args.days + 1)
        for acc in accounts:
            log(f"linked {acc['provider']} account {acc['account_id']} ({acc['name']}), syncing every "
                f"{args.sync_every} min")
        from pos_sync.cli.demo import _demo_api_access

        tenant_id = manifest["world"]["tenant_id"]
        api_access = _demo_api_access(settings, tenant_id)
        api_url = json.loads(api.first_line(60))["url"]
        ui = f"http://{args.host}:{args.dagster_port}"
        log(f"API on {api_url} — tenant {tenant_id}, API key {api_access['api_key']}")
        log(f"waiting for the Dagster UI on {ui} …")
        wait_for_webserver(ui, children, STARTUP_SECONDS)
        document = {"pos_home": str(settings.pos_home), "dagster_home": str(settings.dagster_home),
                    "sandbox_url": manifest["base_url"], "api_url": api_url, "dagster_url": ui,
                    "tenant_id": tenant_id, "api_key": api_access["api_key"], "accounts": accounts,
                    "pids": {child.name: child.pid for child in children}, "logs": str(logs)}
        if args.json:
            emit_json(document)
        else:
            print(f"pos-sync dev is up — Dagster UI {ui}  API {api_url}  sandbox {manifest['base_url']}", flush=True)
            print(f"  the account_sync_sensor syncs {len(accounts)} accounts every {args.sync_every} min; "
                  f"a live sale every {args.sale_every:g} s; Ctrl-C stops everything", flush=True)
        while True:
            reap(children)  # orphans of the children's own children, re-parented to us
            for child in children:
                if child.exited() is not None:
                    raise CommandError(f"the {child.name} exited (code {child.exited()}): "
                                       f"{last_line(child.log_path)}; the stack is stopped")
            time.sleep(0.5)
    except _Stop as why:
        log(f"{why}: stopping the sandbox, the API and dagster dev …")
    finally:
        for sig in previous:  # a second Ctrl-C must not interrupt the stopping itself
            signal.signal(sig, signal.SIG_IGN)
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("stopped")
    # asked to stop, and everything is: exit now. The interpreter's own teardown of what this
    # process imported (Dagster, SQLAlchemy, …) would take seconds of CPU on a busy machine, with
    # nothing left to flush but our own output
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dev", help="the live local stack: sandbox (live sales), linked accounts, API and dagster dev",
        description="Start the provider sandbox as a live server (fixed seed, the clock following the wall "
                    "clock, a sale every few seconds), link the demo tenant's Square, Toast and Lightspeed "
                    "accounts to it (the same accounts on every restart), then the HTTP API and `dagster dev` "
                    "(webserver + daemon: the account sensor runs the scheduled syncs). Children's logs go to "
                    "$POS_HOME/dev/. Ctrl-C or SIGTERM stops everything within seconds.")
    parser.add_argument("--seed", type=int, default=42, help="world seed (default 42)")
    parser.add_argument("--days", type=int, default=14, help="days of history before today (default 14)")
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help="first day of the world YYYY-MM-DD (default: the latest whose window has ended: "
                             "today - days, a day earlier before the American locations' midnight)")
    parser.add_argument("--scale", choices=("tiny", "small", "chain"), default="small",
                        help="world scale (default small)")
    parser.add_argument("--providers", default="square,toast,lightspeed",
                        help="comma-separated providers of the world (default square,toast,lightspeed; "
                             "add lightspeed_r for a Lightspeed R-Series account)")
    parser.add_argument("--sale-every", type=float, default=10.0, metavar="SECONDS",
                        help="seconds between live sales (default 10; 0: none)")
    parser.add_argument("--sync-every", type=int, default=5, metavar="MINUTES",
                        help="the linked accounts' sync frequency (default 5)")
    parser.add_argument("--host", default="127.0.0.1", help="interface every server binds (default 127.0.0.1)")
    parser.add_argument("--sandbox-port", type=int, default=8014, help="the sandbox's port (default 8014)")
    parser.add_argument("--api-port", type=int, default=8013, help="the HTTP API's port (default 8013)")
    parser.add_argument("--dagster-port", type=int, default=3000, help="the Dagster UI's port (default 3000)")
    parser.add_argument("--json", action="store_true",
                        help="once everything is up, print one JSON document (URLs, API key, accounts, pids)")
    parser.set_defaults(func=_dev)
