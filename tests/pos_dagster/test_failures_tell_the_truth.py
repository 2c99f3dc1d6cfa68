"""Failures tell the truth, through the real CLI (``pos_sync.cli.main``) and a sandbox on loopback:
a failing canonical build, failing integrity checks, a changed or broken encryption key and bad
inputs each give one clear line to the person, a failed sync log naming the step and the kind of
failure, and the account's status and error count — and the next good sync puts it right. The
CLI's one error handler: a corrupted or empty app store file is an error, never "no accounts"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pos_sandbox.server import SandboxServer, free_port
from pos_sandbox.world import World


@dataclass
class Cli:
    world: World
    server: SandboxServer
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        from pos_sync.cli import main

        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def link_square(self) -> str:
        cred = next(a for a in self.server.manifest()["accounts"] if a["provider"] == "square")
        code, out, err = self("accounts", "add", "square", "--tenant", self.world.tenant_id, "--access-token",
                              cred["access_token"], "--base-url", cred["base_url"], "--json")
        assert code == 0, err
        return str(json.loads(out)["id"])

    def sync(self, account_id: str) -> tuple[int, dict[str, Any] | None, str]:
        code, out, err = self("sync", "--account", account_id, "--json")
        return code, (json.loads(out)[0] if out.strip() else None), err

    def advance(self, hours: float) -> None:
        when = self.world.now + timedelta(hours=hours)
        self.world.set_now(when)
        self.monkeypatch.setenv("POS_NOW", when.isoformat())


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-home"))
    world = World(10, date(2026, 3, 2), days=3, scale="tiny", providers=["square"])
    world.set_now(world.window_start_utc + timedelta(hours=30))
    monkeypatch.setenv("POS_NOW", world.now.isoformat())
    server = SandboxServer(world).start()
    try:
        yield Cli(world, server, monkeypatch, capsys)
    finally:
        from pos_sync.appstore import dispose_engines

        server.stop()
        dispose_engines()


def _one_clear_line(err: str, *needles: str) -> str:
    """The person sees the cause in one line, never a traceback or Dagster's step failure dump."""
    assert "Traceback" not in err and "STEP_FAILURE" not in err and "dagster._core" not in err, err[-3000:]
    assert len(err.strip().splitlines()) <= 5, err
    line = next((ln for ln in err.splitlines() if all(n in ln for n in needles)), None)
    assert line is not None, f"no line with {needles} in:\n{err}"
    return line


def _warehouse(sql: str) -> None:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        wh.execute(sql)
        wh.commit()
    finally:
        wh.close()


def test_a_failing_canonical_build_fails_the_sync_and_marks_the_account(cli: Cli) -> None:
    from pos_sync import appstore

    account_id = cli.link_square()
    assert cli.sync(account_id)[0] == 0
    # the provider's data turns unreadable for the normaliser: a location in a time zone that does not exist
    _warehouse("update raw_square.locations set timezone = 'Mars/Olympus'")
    cli.advance(6)
    code, summary, err = cli.sync(account_id)
    assert code == 1 and summary is not None and summary["status"] == "failed"
    _one_clear_line(err, "canonical_build", "Mars/Olympus")
    log = appstore.sync_history(account_id, limit=1)[0]
    assert (log.status, log.failed_step, log.error_type) == ("failed", "canonical_build", "internal_error")
    assert "Mars/Olympus" in (log.error_message or "")
    account = appstore.get_account(account_id)
    assert (account.status, account.error_count) == ("error", 1) and account.last_error_at is not None
    assert "Mars/Olympus" in (account.error_message or "")

    _warehouse("update raw_square.locations set timezone = 'Europe/Madrid'")
    code, summary, _ = cli.sync(account_id)  # the loads the failed build left unprocessed are built now
    assert code == 0 and summary is not None and summary["rows_loaded"]["square/pos_transactions"] > 0
    assert (appstore.get_account(account_id).status, appstore.sync_history(account_id, limit=1)[0].status) == (
        "active", "success")


def test_failing_integrity_checks_fail_the_sync(cli: Cli) -> None:
    from pos_sync import appstore

    account_id = cli.link_square()
    assert cli.sync(account_id)[0] == 0
    _warehouse("update pos.pos_transactions set subtotal = subtotal + 1 where id = "
               "(select min(id) from pos.pos_transactions where transaction_type = 'sale' and status = 'completed')")
    code, summary, err = cli.sync(account_id)  # nothing new to load: the checks still run
    assert code == 1 and summary is not None
    _one_clear_line(err, "integrity_checks", "items_reconcile_with_subtotal")
    log = appstore.sync_history(account_id, limit=1)[0]
    assert (log.status, log.failed_step, log.error_type) == ("failed", "integrity_checks", "invalid_data")
    assert appstore.get_account(account_id).status == "error"


@pytest.mark.parametrize("value", ["garbage", "2025-03-10", "1741564800"])
def test_a_bad_pos_now_is_one_line_before_any_work(cli: Cli, value: str) -> None:
    from pos_sync import appstore

    account_id = cli.link_square()
    cli.monkeypatch.setenv("POS_NOW", value)
    code, out, err = cli("sync", "--account", account_id)
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [f"error: POS_NOW={value!r} " + err.split(f"POS_NOW={value!r} ", 1)[1].strip()]
    assert "RFC 3339" in err or "UTC offset" in err
    cli.monkeypatch.setenv("POS_NOW", cli.world.now.isoformat())
    assert appstore.sync_history(account_id) == []  # nothing was started


@pytest.mark.parametrize("key", ["other", "truncated"])
def test_a_changed_or_broken_encryption_key_names_the_key_and_marks_the_account(cli: Cli, key: str) -> None:
    from cryptography.fernet import Fernet

    from pos_sync import appstore

    account_id = cli.link_square()
    cli.monkeypatch.setenv("POS_ENCRYPTION_KEY", Fernet.generate_key().decode() if key == "other" else "abc")
    code, summary, err = cli.sync(account_id)
    assert code == 1
    line = _one_clear_line(err, "failed in setup [encryption_key]")
    assert "key" in line.split("]", 1)[1].lower(), line
    cli.monkeypatch.delenv("POS_ENCRYPTION_KEY")
    log = appstore.sync_history(account_id, limit=1)[0]
    assert (log.status, log.failed_step, log.error_type) == ("failed", "setup", "encryption_key")
    assert appstore.get_account(account_id).status == "error"
    assert cli.sync(account_id)[0] == 0  # the right key: the account syncs again
    assert appstore.get_account(account_id).status == "active"


def test_a_corrupted_or_empty_app_store_is_an_error_never_no_accounts(cli: Cli) -> None:
    from pos_sync.appstore import dispose_engines
    from pos_sync.settings import load_settings

    cli.link_square()
    path = Path(load_settings().database_url.removeprefix("sqlite:///"))
    dispose_engines()
    for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    path.write_bytes(b"this is not a database " * 200)
    code, out, err = cli("accounts", "list")
    assert code == 1 and out == ""
    assert "corrupted" in _one_clear_line(err, "error:", str(path))
    dispose_engines()
    path.write_bytes(b"")
    code, out, err = cli("accounts", "list", "--json")
    assert code == 1 and out == ""
    assert "empty (0 bytes)" in _one_clear_line(err, "error:", str(path))
    code, _, err = cli("--debug", "accounts", "list")  # the trace only on demand
    assert code == 1 and "Traceback" in err


def test_demo_with_zero_days_is_one_line(cli: Cli) -> None:
    code, out, err = cli("demo", "--days", "0")
    assert code == 1 and out == "" and err.strip() == "error: --days must be between 1 and 366, got 0"


@contextmanager
def _held_by_another_process(path: Path) -> Iterator[None]:
    """A DuckDB file another process holds open (as a DuckDB shell left open on it would) while
    the block runs."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("", timeout=30)


def test_a_warehouse_another_process_holds_fails_the_first_sync_with_a_log_and_one_line(cli: Cli) -> None:
    """The account's first sync asks the warehouse whether a history is already there before it
    loads anything; a DuckDB file another program holds (a DuckDB shell left open on it) fails that
    question. The failure is recorded like any other — a failed sync log naming the setup step, the
    account marked — and one line says why; the next sync, the file released, imports the history."""
    from pos_sync import appstore
    from pos_sync.settings import load_settings

    account_id = cli.link_square()
    with _held_by_another_process(load_settings().warehouse_path):
        code, summary, err = cli.sync(account_id)
    assert code == 1 and summary is not None and summary["status"] == "failed"
    line = _one_clear_line(err, "warehouse_unavailable", "the warehouse cannot be opened", "lock")
    assert "credentials" not in line  # dlt's guess at the cause, not the cause
    [log] = appstore.sync_history(account_id, limit=5)
    assert (log.status, log.failed_step, log.sync_type, log.error_type) == (
        "failed", "setup", "historical", "warehouse_unavailable"), log
    assert "lock" in (log.error_message or "")
    assert appstore.get_account(account_id).status == "error"

    code, summary, _ = cli.sync(account_id)
    assert code == 0 and summary is not None and summary["sync_type"] == "historical", summary
    assert summary["rows_loaded"]["square/pos_transactions"] > 0
    assert appstore.get_account(account_id).status == "active"


def test_a_duckdb_file_held_by_another_process_is_warehouse_unavailable_wherever_it_is_opened(tmp_path: Path) -> None:
    """dlt wraps DuckDB's lock error in its connection error (the raw step); the canonical build
    opens the warehouse itself and meets DuckDB's own ``IOException``: the same kind, the same line."""
    import duckdb

    from pos_sync.ingest.bookkeeping import describe_failure

    path = tmp_path / "warehouse.duckdb"
    with _held_by_another_process(path), pytest.raises(duckdb.IOException) as raised:
        duckdb.connect(str(path))
    failure = describe_failure(raised.value)
    assert (failure.status, failure.error_type) == ("error", "warehouse_unavailable")
    assert failure.message.startswith("the warehouse cannot be opened: IO Error: Could not set lock on file")
    assert describe_failure(duckdb.IOException("IO Error: disk full")).error_type == "internal_error"  # not a lock


def test_a_postgresql_warehouse_refusing_the_build_is_warehouse_unavailable_not_the_app_stores_error(
        tmp_path: Path) -> None:
    """The canonical build opens the warehouse itself: PostgreSQL refusing that connection (its
    server down, a wrong port) is ``warehouse_unavailable`` with the driver's reason, as dlt's
    connection error is in the raw step — while the same driver error from anywhere else (the app
    store's queries) stays an internal error, not blamed on the warehouse."""
    import psycopg

    from pos_sync.canonical.build import build_account
    from pos_sync.cli.errors import explain
    from pos_sync.ingest.bookkeeping import describe_failure
    from pos_sync.settings import load_settings
    from pos_sync.warehouse.sql import WarehouseUnavailable

    port = free_port()  # a loopback port nothing listens on
    settings = load_settings({"POS_HOME": str(tmp_path), "POS_WAREHOUSE_URL": f"postgresql://127.0.0.1:{port}/test"})
    with pytest.raises(WarehouseUnavailable) as raised:
        build_account("acct", "square", "tenant", settings)
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    failure = describe_failure(raised.value)
    assert (failure.status, failure.error_type) == ("error", "warehouse_unavailable")
    assert failure.message.startswith("the warehouse cannot be opened: connection failed")
    assert "refused" in failure.message.lower() and str(port) in failure.message
    assert explain(raised.value) == f"the warehouse cannot be opened: {str(raised.value).splitlines()[0].strip()}"
    assert describe_failure(psycopg.OperationalError("connection failed")).error_type == "internal_error"
