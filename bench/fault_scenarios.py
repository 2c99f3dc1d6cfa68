"""One fault scenario of the fault matrix: a fresh small world, an account linked as a merchant
would, one ``pos-sync sync`` with the fault on, whatever a user would then do (run the sync again,
re-link after a revocation), and the verdict: canonical totals against the sandbox ledger to the
cent, duplicates on the canonical natural keys, and what the sync log and the account say.

Used by ``bench/fault_matrix.py`` (every provider × every fault) and by
``tests/pos_dagster/test_fault_matrix.py`` (a fast subset). The sandbox runs in this process on
loopback (:class:`pos_sandbox.server.SandboxServer`); syncs go through the CLI (``pos_sync.cli.main``
in-process, or a ``python -m pos_sync.cli sync`` child process for the SIGKILL faults).

Faults (``FAULTS``), all injected by the emulators (:mod:`pos_sandbox.faults`) or done to them:

=================  =========================================================================
``429``            three 429s with ``Retry-After`` (0.2 s) on consecutive requests
``500/502/503``    three of that status, the provider's error body
``reset``          three connections reset (TCP RST, no response)
``read_timeout``   two pages of sales answered after 2.5 s; the client's timeout is 1 s
                   (``POS_HTTP_TIMEOUT_SECONDS=1``)
``token_expiry``   the access token presented expires mid-sync (every 4th authorized request)
``revoked``        the merchant revokes the app's authorization mid-sync; the sync fails and
                   says so, the account asks for re-linking, the user re-links and syncs
``cursor_expiry``  every page cursor issued so far expires mid-sync (Square: 400
                   ``INVALID_CURSOR``); Toast and Lightspeed page without expiring tokens
``sigkill_extract`` the sync process is SIGKILLed while it pages the API; the user syncs again
``sigkill_load``   the sync process is SIGKILLed once dlt holds a normalized package (the load)
``emulator_restart`` the provider goes away mid-sync (the connection in flight reset, connections refused for 1.5 s) and comes
                   back with its state
=================  =========================================================================
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pos_sandbox.faults import Fault, FaultPlan

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("square", "toast", "lightspeed")
FAULTS = ("none", "429", "500", "502", "503", "reset", "read_timeout", "token_expiry", "revoked", "cursor_expiry",
          "sigkill_extract", "sigkill_load", "emulator_restart")
TRANSIENT = ("none", "429", "500", "502", "503", "reset", "read_timeout", "token_expiry", "cursor_expiry",
             "emulator_restart")
SEED = 10
START = date(2026, 3, 2)
DAYS = 4
FIRST_FAULT = 4  # the request (counted after linking) the scheduled faults start at
# the pace counter a transient fault must show in the sync log's api_stats
PACE_EVIDENCE = {"429": "rate_limited", "500": "server_errors", "502": "server_errors", "503": "server_errors",
                 "reset": "transport_errors", "read_timeout": "transport_errors",
                 "emulator_restart": "transport_errors"}
NOT_APPLICABLE = {
    ("toast", "cursor_expiry"): "Toast pages orders by page number (Link rel=next): no page token to expire",
    ("lightspeed", "cursor_expiry"): "Lightspeed pages by the `after` version: no page token to expire",
}
DATA_PATHS = {"square": "/v2/payments", "toast": "/orders/v2/ordersBulk", "lightspeed": "/api/2.0/sales"}
CANONICAL_KEYS = {
    "pos_transactions": ("tenant_id", "pos_provider", "pos_transaction_id"),
    "pos_transaction_items": ("transaction_id", "pos_line_id"),
    "pos_tenders": ("transaction_id", "pos_tender_id"),
}


# ---------------------------------------------------------------------- the fault plan
class ScenarioPlan(FaultPlan):
    """A :class:`FaultPlan` that can also run ``actions`` when a request number is reached
    (``actions[n] = (callable, in_background)``): revocations, cursor expiry, a restart."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.actions: dict[int, tuple[Callable[[], None], bool]] = {}
        self.armed = False
        self.targets: list[list[Any]] = []  # [marker, kind, count]: the next `count` requests whose key has marker

    @property
    def active(self) -> bool:
        return self.armed and (super().active or bool(self.actions) or bool(self.targets))

    def arm(self) -> None:
        """Count from zero: the next request is #1 (linking's requests are not counted)."""
        self.reset()
        self.armed = True

    def disarm(self) -> None:
        self.armed = False
        self.schedule, self.probabilities, self.expire_after, self.actions = {}, {}, None, {}
        self.targets = []

    def decide(self, key: str) -> tuple[int, Fault | None]:
        number, fault = super().decide(key)
        target = next((t for t in self.targets if t[0] in key and t[2] > 0), None) if fault is None else None
        if target is not None:
            target[2] -= 1
            fault = Fault.of(target[1], self.slow_ms, self.retry_after)
            self.injected[fault.kind] += 1
            self.log.append((number, key, fault.kind))
        action = self.actions.pop(number, None)
        if action is not None:
            run, background = action
            self.injected["action"] += 1
            if background:
                threading.Thread(target=run, daemon=True).start()
            else:
                run()
        return number, fault


# ---------------------------------------------------------------------- environment
@contextlib.contextmanager
def scenario_env(work: Path, **extra: str) -> Iterator[None]:
    """The connector's environment of one scenario (its own POS_HOME, Dagster home, dlt data dir),
    restored afterwards."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "dagster").mkdir(exist_ok=True)
    values = {"POS_HOME": str(work / "home"), "DAGSTER_HOME": str(work / "dagster"),
              "DLT_DATA_DIR": str(work / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
              "NORMALIZE__WORKERS": "1", "MAX_SYNC_RETRIES": "0", **extra}
    removed = ("POS_DATABASE_URL", "POS_WAREHOUSE_URL", "DATABASE_URL")
    saved = {k: os.environ.get(k) for k in (*values, *removed)}
    os.environ.update(values)
    for k in removed:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        from pos_sync.appstore import dispose_engines

        dispose_engines()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def set_now(world: Any, when: Any = None) -> None:
    if when is not None:
        world.set_now(when)
    os.environ["POS_NOW"] = world.now.isoformat()


# ---------------------------------------------------------------------- the store under test
@dataclass
class Store:
    provider: str
    world: Any
    server: Any
    plan: ScenarioPlan
    work: Path
    account_id: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.world.window_end_utc - self.world.window_start_utc).days

    @property
    def cred(self) -> dict[str, Any]:
        return dict(next(a for a in self.server.manifest()["accounts"] if a["provider"] == self.provider))

    def emulator(self) -> Any:
        for route in self.server.app.routes:
            if getattr(route, "path", "") == f"/{self.provider}":
                return getattr(route.app.state, self.provider)
        raise LookupError(self.provider)

    def link(self) -> str:
        from pos_sync.cli import demo

        links = {"square": demo.link_square_account, "toast": demo.link_toast_account,
                 "lightspeed": demo.link_lightspeed_account}
        cred = self.cred
        self.account_id = str(links[self.provider](cred["base_url"], self.world.tenant_id, cred,
                                                   historical_import_days=self.days + 2))
        return self.account_id

    def sync(self) -> dict[str, Any]:
        """``pos-sync sync --account ID --json`` in this process: exit code, summary, stderr."""
        from pos_sync.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["sync", "--account", self.account_id, "--json"])
        text = out.getvalue().strip()
        summary = json.loads(text)[0] if text.startswith("[") else None
        return {"code": code, "summary": summary, "stderr": err.getvalue().strip()[-600:]}

    def sync_process(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        out = self.work / name
        out.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "sync", "--account", self.account_id, "--json"],
                                cwd=ROOT, env=dict(os.environ), stdout=(out / "stdout").open("wb"),
                                stderr=(out / "stderr").open("wb"))
        return proc, out

    # ------------------------------------------------------------------ what the merchant does
    def revoke(self) -> None:
        """The merchant takes the app's access away."""
        emu = self.emulator()
        if self.provider == "square":
            with emu.store._lock:
                for tok in emu.store.access.values():
                    tok.revoked = True
                for ref in emu.store.refresh_tokens.values():
                    ref.revoked = True
        elif self.provider == "lightspeed":
            with emu.store._lock:
                emu.store.access.clear()  # "unknown or was revoked"
                for ref in emu.store.refresh_tokens.values():
                    ref.revoked = True
        else:  # Toast: the partner's machine client is deactivated: logins 401, tokens invalid
            tokens = emu.tokens
            with tokens._lock:
                self._toast_client = tokens.clients.pop(self.cred["client_id"])
                tokens._current.clear()
                tokens._by_token.clear()

    def regrant(self) -> None:
        """The merchant grants access again (Toast: the machine client is enabled again); the user
        re-links the account as they linked it."""
        if self.provider == "toast":
            emu = self.emulator()
            emu.tokens.clients[self._toast_client.client_id] = self._toast_client
        self.link()

    def restart_emulator(self, down_seconds: float = 1.5) -> None:
        """Stop serving (connections refused), wait, serve again on the same port with the same
        state (tokens, cursors, world): what a provider's rolling restart looks like."""
        import uvicorn

        server = self.server
        server._server.should_exit = True
        server._thread.join(timeout=10)
        time.sleep(down_seconds)
        config = uvicorn.Config(server.app, host=server.host, port=server.port, log_level="critical",
                                access_log=False, lifespan="off")
        server._server = uvicorn.Server(config)
        server._thread = threading.Thread(target=server._server.run, name="pos-sandbox", daemon=True)
        server._thread.start()
        deadline = time.monotonic() + 15
        while not server._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        self.notes.append(f"emulator down {down_seconds}s and back")


# ---------------------------------------------------------------------- measuring
def canonical_figures(store: Store) -> dict[str, Any]:
    """Rows, duplicates on each canonical natural key, cents off the ledger, problems."""
    from pos_sandbox.ledger import compute_truth
    from pos_sync.canonical.reconcile import FIELDS, canonical_daily, compare_daily
    from pos_sync.warehouse.sql import Warehouse

    truth = [r for r in compute_truth(store.world)["daily"] if r["provider"] == store.provider]
    wh = Warehouse()
    try:
        if not wh.table_exists("pos", "pos_transactions"):
            return {"rows": 0, "duplicates": 0, "cents_off": None, "problems": ["no canonical tables"]}
        actual = [r for r in canonical_daily(wh, store.world.tenant_id) if r["provider"] == store.provider]
        rows = int(wh.query("select count(*) as n from pos.pos_transactions where pos_provider = %s",
                            (store.provider,))[0]["n"])
        duplicates = 0
        for table, key in CANONICAL_KEYS.items():
            cols = ", ".join(key)
            found = wh.query(f"select coalesce(sum(n - 1), 0) as d from (select {cols}, count(*) as n "
                             f"from pos.{table} group by {cols} having count(*) > 1) t")
            duplicates += int(found[0]["d"] or 0)
    finally:
        wh.close()
    problems = compare_daily(truth, actual)
    by_key = {(r["location_id"], r["business_date"]): r for r in actual}
    cents = Decimal(0)
    money = [f for f in FIELDS if f.endswith("amount") or f == "gross_sales"]
    for e in truth:
        a = by_key.get((e["location_id"], e["business_date"]))
        for f in money:
            cents += abs(Decimal(str(e[f])) - Decimal(str(a[f])) if a else Decimal(str(e[f])))
    return {"rows": rows, "duplicates": duplicates, "cents_off": int(cents * 100),
            "ledger_days": len(truth), "problems": problems[:5]}


def story(store: Store) -> dict[str, Any]:
    from pos_sync import appstore

    logs = list(reversed(appstore.sync_history(store.account_id, limit=20)))
    account = appstore.get_account(store.account_id)
    return {
        "sync_logs": [{"status": h.status, "error_type": h.error_type, "failed_step": h.failed_step,
                       "message": (h.error_message or "")[:160], "api_stats": {
                           k: (h.api_stats or {}).get(k) for k in ("requests", "retries", "rate_limited",
                                                                   "server_errors", "transport_errors")}}
                      for h in logs],
        "account_status": account.status,
        "account_error": (account.error_message or "")[:160],
    }


# ---------------------------------------------------------------------- the scenarios
def _arm(store: Store, fault: str) -> None:
    """Set the fault up on the plan."""
    plan, n = store.plan, FIRST_FAULT
    if fault in ("429", "500", "502", "503", "reset"):
        plan.schedule = {n: fault, n + 1: fault, n + 3: fault}
    elif fault == "read_timeout":  # two pages of sales data answer after 2.5 s (the client waits 1 s)
        plan.slow_ms = 2500
        plan.targets = [[DATA_PATHS[store.provider], "slow", 2]]
    elif fault == "token_expiry":
        plan.expire_after = 4
    elif fault == "cursor_expiry":  # when the connector first sends a page cursor, every cursor expires
        plan.targets = [["cursor=", "cursor-expire", 1]]
    elif fault == "emulator_restart":  # the server goes down as request n is read: that connection is
        # dropped (reset, as a restarting provider drops what is in flight) and the requests of the next
        # 1.5 s — request n's retry among them, whatever the other parallel streams still have to ask —
        # are refused. (A held request used to guarantee that, while the sync's requests went one by one;
        # with parallel streams the others could all finish inside the hold and none met the restart.)
        plan.schedule = {n: "reset"}
        plan.actions = {n: (store.restart_emulator, True)}
    elif fault == "revoked":
        plan.actions = {n: (store.revoke, False)}
    plan.arm()


def _count_cursor_rejections(store: Store) -> Callable[[], int]:
    """Square: count the requests answered INVALID_CURSOR (the fault bit)."""
    codec = store.emulator().cursors
    seen = {"n": 0}
    original = codec.decode

    def decode(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception:
            seen["n"] += 1
            raise

    codec.decode = decode
    return lambda: seen["n"]


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return True
        time.sleep(0.005)
    return False


def _load_started() -> Callable[[], bool]:
    """True once the sync's dlt pipeline holds a normalized package (being loaded into the warehouse)."""
    from pos_sync.warehouse.pipelines import pipelines_dir

    base = pipelines_dir()

    def ready() -> bool:
        for sub in ("load/normalized", "load/loaded"):
            for path in base.glob(f"*/{sub}/*"):
                if path.is_dir():
                    ready.stage = sub  # type: ignore[attr-defined]
                    return True
        return False

    ready.stage = None  # type: ignore[attr-defined]
    return ready


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scenario_world(provider: str, fault: str) -> Any:
    """The scenario's fresh world; the cursor scenario needs a second page of payments (100 a
    page): twice the days."""
    from pos_sandbox.world import World

    return World(SEED, START, days=2 * DAYS if fault == "cursor_expiry" else DAYS, scale="tiny",
                 providers=[provider])


def run_scenario(provider: str, fault: str, work: Path) -> dict[str, Any]:
    """One provider × fault from a fresh world, sandbox and connector home; the result row."""
    from pos_sandbox.server import SandboxServer

    if (provider, fault) in NOT_APPLICABLE:
        return {"provider": provider, "fault": fault, "verdict": "n/a", "reason": NOT_APPLICABLE[(provider, fault)]}
    world = scenario_world(provider, fault)
    plan = ScenarioPlan(retry_after=0.2)
    with scenario_env(work):
        set_now(world)
        server = SandboxServer(world, faults=plan).start()
        try:
            return exercise(Store(provider, world, server, plan, work), fault)
        finally:
            server.stop()


def exercise(store: Store, fault: str) -> dict[str, Any]:
    """Link the store's account, sync with ``fault`` on, recover as a user would, measure, judge.
    The connector's environment (POS_HOME, POS_NOW, …) is the caller's."""
    started = time.perf_counter()
    plan = store.plan
    row: dict[str, Any] = {"provider": store.provider, "fault": fault}
    store.link()
    rejected = _count_cursor_rejections(store) if fault == "cursor_expiry" else None
    _arm(store, fault)
    steps: list[dict[str, Any]] = []
    timeout = {"POS_HTTP_TIMEOUT_SECONDS": "1"} if fault == "read_timeout" else {}
    with _environ(**timeout):
        if fault.startswith("sigkill"):
            if fault == "sigkill_extract":
                plan.probabilities, plan.slow_ms = {"slow": 1.0}, 250
                plan.arm()
                ready: Callable[[], bool] = lambda: plan.counters()["requests"] >= 3  # noqa: E731
            else:
                ready = _load_started()
            proc, out = store.sync_process("killed")
            killed = _kill_when(proc, ready)
            steps.append({"step": "sync (SIGKILL)", "killed": killed, "exit": proc.returncode,
                          "requests_before_kill": plan.counters()["requests"] if fault == "sigkill_extract" else None,
                          "package_at_kill": getattr(ready, "stage", None)})
            plan.disarm()
            rerun, out = store.sync_process("rerun")
            code = rerun.wait(timeout=300)
            steps.append({"step": "sync again", "code": code,
                          "stderr": (out / "stderr").read_text()[-400:] if code else ""})
        else:
            first = store.sync()
            steps.append({"step": "sync (fault on)", "code": first["code"],
                          "status": (first["summary"] or {}).get("status"), "stderr": first["stderr"]})
            row["injected"] = dict(plan.counters()["injected"])
            plan.disarm()
            if fault == "revoked":
                from pos_sync import appstore

                steps[0]["account_status"] = appstore.get_account(store.account_id).status
                store.regrant()
                again = store.sync()
                steps.append({"step": "re-link, sync", "code": again["code"],
                              "status": (again["summary"] or {}).get("status"), "stderr": again["stderr"]})
    if rejected is not None:
        row["cursor_rejections"] = rejected()
    row |= {"steps": steps, **canonical_figures(store), **story(store), "notes": store.notes}
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["verdict"], row["why"] = judge(row)
    return row


# ---------------------------------------------------------------------- the verdict
def judge(row: dict[str, Any]) -> tuple[str, list[str]]:
    """green when the figures are exact and the sync log and the account tell the truth."""
    from pos_sync.providers import registry

    fault, provider = row["fault"], row["provider"]
    why: list[str] = []
    if row["cents_off"] != 0 or row["problems"]:
        why.append(f"ledger: {row['cents_off']} cents off, {row['problems'][:2]}")
    if row["rows"] == 0:
        why.append("no canonical rows")
    if row["duplicates"]:
        why.append(f"{row['duplicates']} duplicates")
    logs, status = row["sync_logs"], row["account_status"]
    statuses = [h["status"] for h in logs]
    if status != "active":
        why.append(f"account ends {status}")
    if fault in TRANSIENT:
        if statuses != ["success"]:
            why.append(f"sync logs {statuses}, expected one success")
        fired = sum(v for k, v in (row.get("injected") or {}).items())
        if not fired and fault != "none":
            why.append("the fault never fired")
        evidence = PACE_EVIDENCE.get(fault)
        if evidence and logs and not (logs[-1]["api_stats"].get(evidence) or 0):
            why.append(f"the sync log's api_stats show no {evidence}")
        if fault == "cursor_expiry" and not row.get("cursor_rejections"):
            why.append("no request met an expired cursor")
    elif fault == "revoked":
        reauth = registry.get(provider).reauth_status
        first = logs[0] if logs else {}
        if statuses != ["failed", "success"]:
            why.append(f"sync logs {statuses}, expected failed then success")
        if first.get("error_type") != "authentication_failed":
            why.append(f"the failed log's error_type is {first.get('error_type')!r}")
        if row["steps"][0]["status"] != "failed":
            why.append("the revoked sync did not fail")
        if row["steps"][0].get("account_status") != reauth:
            why.append(f"the account said {row['steps'][0].get('account_status')!r} after the revocation, "
                       f"expected {reauth!r}")
    else:  # SIGKILL
        kill, rerun = row["steps"][0], row["steps"][1]
        if not kill["killed"]:
            why.append("the sync finished before the kill")
        if rerun["code"] != 0:
            why.append(f"the re-run exited {rerun['code']}")
        from pos_sync.appstore import STALE_SYNC_MESSAGE

        if statuses != ["failed", "success"] or logs[0]["message"] != STALE_SYNC_MESSAGE:
            why.append(f"sync logs {[(h['status'], h['message'][:60]) for h in logs]}: expected the killed run "
                       "closed as failed, then success")
    return ("green" if not why else "red"), why
