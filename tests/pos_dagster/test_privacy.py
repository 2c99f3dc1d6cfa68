"""Privacy by default, end to end: the three providers synced through the Dagster job from one
sandbox world, then every column of every raw and canonical table scanned for the world's clear
customer and staff contact values; erasure of one person and of a tenant; and no token or secret
in any log line or Dagster event of a sync.

The sandbox world is the judge: its customers (ids, names, e-mails, phones) and staff e-mails are
what the emulators render into the payloads.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from support.accounts import link_account
from support.isolated_env import isolate_env
from support.postgres import use_postgres
from support.sandboxes import dagster_home, sandboxes
from support.worlds import sandbox_world, set_clock

from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World

SEED = 10
DAYS = 3
KEY = "privacy-test-key"
OTHER_TENANT = "other-bakery"
SCHEMAS = ("raw_square", "raw_toast", "raw_lightspeed", "pos")


# ---------------------------------------------------------------------- the world's personal data
@dataclass(frozen=True)
class Person:
    provider: str
    id: str
    given: str
    family: str
    email: str
    phone: str


def people(world: World) -> list[Person]:
    provider_of = {a.account_id: a.provider for a in world.accounts}
    return [Person(provider_of[acc], c.id, c.given_name, c.family_name, c.email, c.phone)
            for acc, customers in world.customers.items() for c in customers]


def clear_values(world: World) -> tuple[set[str], set[str]]:
    """(values found anywhere inside a stored value: ids, e-mails, phones, full names; values
    that must not be a whole stored value: customers' family names no staff member shares)."""
    staff = [m for members in world.team.values() for m in members]
    staff_full = {f"{m.given_name} {m.family_name}" for m in staff}
    staff_family = {m.family_name for m in staff}
    inside = {m.email for m in staff} | {m.email.split("@")[0] + "@" for m in staff}
    whole: set[str] = set()
    for p in people(world):
        inside |= {p.id, p.email, p.phone, p.phone.replace(" ", "")}
        if f"{p.given} {p.family}" not in staff_full:
            inside.add(f"{p.given} {p.family}")
        if p.family not in staff_family:
            whole.add(p.family)
    return inside, whole


# ---------------------------------------------------------------------- warehouse scans
def warehouse_values() -> Iterator[tuple[str, str, str]]:
    """(schema.table, column, value) of every non-null value of every table of the raw datasets,
    their dlt staging copies and ``pos``, as text: one ``select distinct`` per table over the union
    of its columns (one per column took ~2 ms each — a scan was thousands of queries)."""
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        # dlt's staging copies: one per pipeline on PostgreSQL (raw_square_stg_<hash>), shared on DuckDB
        staging = [r["schema_name"] for r in wh.query("select schema_name from information_schema.schemata")
                   if any(str(r["schema_name"]).startswith((f"{s}_staging", f"{s}_stg_")) for s in SCHEMAS[:3])]
        assert staging, "no dlt staging copy to scan"
        schemas = [*SCHEMAS, *staging]
        tables: dict[tuple[str, str], list[str]] = {}
        for r in wh.query("select c.table_schema as s, c.table_name as t, c.column_name as c "
                          "from information_schema.columns c join information_schema.tables t "
                          "on t.table_schema = c.table_schema and t.table_name = c.table_name "
                          f"where c.table_schema in ({', '.join(['%s'] * len(schemas))})", schemas):
            tables.setdefault((str(r["s"]), str(r["t"])), []).append(str(r["c"]))
        for (schema, table), columns in sorted(tables.items()):
            each = " union all ".join(f"select {i} as c, cast(\"{column}\" as varchar) as v from {schema}.\"{table}\" "
                                      f"where \"{column}\" is not null" for i, column in enumerate(columns))
            for row in wh.query(f"select distinct c, v from ({each}) as scan"):
                yield f"{schema}.{table}", columns[row["c"]], str(row["v"])
    finally:
        wh.close()


def needle_pattern(needles: set[str]) -> re.Pattern[str]:
    """One pattern that matches where any of ``needles`` occurs, built as a trie (needles sharing a
    prefix share its branch): the same strings as ``a|b|c|…``, but the regex engine tries each
    character once per position instead of once per needle (the flat alternation of 300+ needles
    took ~160 µs a value). A needle that extends a shorter one adds nothing to a search."""
    trie: dict[str, Any] = {}
    for needle in needles:
        if not needle:
            continue
        node = trie
        for ch in needle:
            node = node.setdefault(ch, {})
        node[""] = {}
    if not trie:
        return re.compile("(?!)")  # no needle: matches nothing

    def branch(node: dict[str, Any]) -> str:
        if "" in node:  # a whole needle ends here: the longer ones add nothing to a search
            return ""
        alternatives = [re.escape(ch) + branch(child) for ch, child in sorted(node.items())]
        return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"

    return re.compile(branch(trie))


def find(inside: set[str], whole: set[str],
         scan: list[tuple[str, str, str]] | None = None) -> list[tuple[str, str, str]]:
    """Stored values (of ``scan``, default a fresh :func:`warehouse_values`) that are one of
    ``whole`` or contain one of ``inside``."""
    pattern = needle_pattern(inside)
    hits = []
    for where, column, value in warehouse_values() if scan is None else scan:
        if value in whole or pattern.search(value):
            hits.append((where, column, value[:80]))
    return hits


def table_counts() -> dict[str, int]:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        out = {}
        for schema in SCHEMAS:
            for r in wh.query("select table_name from information_schema.tables where table_schema = %s",
                              (schema,)):
                out[f"{schema}.{r['table_name']}"] = int(wh.scalar(f'select count(*) from {schema}."{r["table_name"]}"'))
        return out
    finally:
        wh.close()


def toast_named_checks() -> int:
    from pos_sync.warehouse.sql import Warehouse

    wh = Warehouse()
    try:
        return int(wh.scalar("select count(*) from raw_toast.orders__checks where customer__first_name is not null"))
    finally:
        wh.close()


# ---------------------------------------------------------------------- environment
@dataclass
class Env:
    world: World
    server: SandboxServer
    instance: dg.DagsterInstance
    accounts: dict[str, str]  # provider -> account id
    tenants: dict[str, str]  # provider -> the tenant its account is linked to

    def sync_all(self) -> None:
        from pos_dagster.adapter import sync_account

        for provider, account_id in self.accounts.items():
            summary = sync_account(account_id, instance=self.instance)
            assert summary["status"] == "success", (provider, summary.get("error"))


def _privacy_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dagster_home(monkeypatch, tmp_path)
    monkeypatch.setenv("POS_PII_KEY", KEY)
    monkeypatch.delenv("POS_STORE_CUSTOMER_PII", raising=False)
    monkeypatch.delenv("POS_STORE_CUSTOMER_PII_TENANTS", raising=False)


def _linked_and_synced(started: Any, monkeypatch: pytest.MonkeyPatch, tenants: dict[str, str] | None = None) -> Env:
    """The world served, its three accounts linked (to ``tenants[provider]``, default the world's
    tenant) and synced through the Dagster jobs."""
    world = sandbox_world(SEED, "square", "toast", "lightspeed", days=DAYS)
    set_clock(world, monkeypatch)
    server = started.serve(world)
    linked = {p: (tenants or {}).get(p, world.tenant_id) for p in ("square", "toast", "lightspeed")}
    accounts = {}
    for provider, tenant in linked.items():
        options = {"historical_import_days": DAYS + 2} if provider == "toast" else {}
        accounts[provider] = link_account(server, tenant, provider, **options)
    env = Env(world, server, started.dagster_instance(), accounts, linked)
    env.sync_all()
    return env


@pytest.fixture()
def three_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    request: pytest.FixtureRequest) -> Iterator[Callable[..., Env]]:
    _privacy_env(monkeypatch, tmp_path)
    with sandboxes(app_store=True) as started:

        def make(tenants: dict[str, str] | None = None, warehouse: str = "duckdb") -> Env:
            if warehouse == "postgres":
                use_postgres(monkeypatch, str(request.getfixturevalue("pg_url")))
            return _linked_and_synced(started, monkeypatch, tenants)

        yield make


# what the shared environment's tests see: the test's own (tests/conftest.py's _isolated_env) is
# replaced by the one the environment was built in
_SHARED_KEYS = ("POS_HOME", "DLT_DATA_DIR", "DAGSTER_HOME", "POS_DATABASE_URL", "POS_WAREHOUSE_URL", "POS_PII_KEY",
                "POS_NOW", "POS_STORE_CUSTOMER_PII", "POS_STORE_CUSTOMER_PII_TENANTS", "RUNTIME__DLTHUB_TELEMETRY",
                "NORMALIZE__WORKERS", "MAX_SYNC_RETRIES")


@pytest.fixture(scope="module")
def _two_tenants_built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, dict[str, str | None]]]:
    """One world synced once for the module's two DuckDB erasure tests (the sync of three accounts
    is most of each test's time): the Square account in the world's tenant, the Toast and Lightspeed
    accounts in :data:`OTHER_TENANT`. The customer-erasure test runs first (file order) and erases
    two people; the tenant-erasure test after it erases the world's tenant — what it checks is
    relative to what it finds (counts before and after, the other tenant kept)."""
    import os

    tmp = tmp_path_factory.mktemp("privacy")
    with sandboxes(app_store=True) as started:
        with pytest.MonkeyPatch.context() as monkeypatch:  # undone once built: the other tests never see it
            isolate_env(monkeypatch, tmp)  # for the module: module fixtures are built before conftest's
            _privacy_env(monkeypatch, tmp)
            env = _linked_and_synced(started, monkeypatch, {"toast": OTHER_TENANT, "lightspeed": OTHER_TENANT})
            variables = {key: os.environ.get(key) for key in _SHARED_KEYS}
        yield env, variables


@pytest.fixture()
def two_tenants(_two_tenants_built: tuple[Env, dict[str, str | None]], monkeypatch: pytest.MonkeyPatch) -> Env:
    env, variables = _two_tenants_built
    for key, value in variables.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    return env


def cli(*argv: str) -> tuple[int, str, str]:
    from pos_sync.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def hashed(value: str) -> set[str]:
    from transforms.pii import Pseudonymizer

    return {v for v in Pseudonymizer(KEY.encode()).variants(value) if v.startswith("h:")}


def present(values: set[str], stored: set[str] | None = None) -> set[str]:
    """Which of ``values`` are stored (whole) anywhere in the raw and canonical tables (``stored``:
    the values of a scan just taken, with nothing written since)."""
    if stored is None:
        stored = {value for _, _, value in warehouse_values()}
    return values & stored


# ---------------------------------------------------------------------- tests
def test_no_clear_customer_or_staff_contact_value_is_stored_and_a_customer_is_erased_without_trace(
        two_tenants: Env) -> None:
    env = two_tenants
    inside, whole = clear_values(env.world)
    assert len(inside) > 300 and whole
    assert find(inside, whole) == []

    # the check: the same scan sees them when a value is planted in clear
    from pos_sync.warehouse.sql import Warehouse

    somebody = people(env.world)[0]
    wh = Warehouse()
    wh.execute("create table pos.probe (v varchar)")
    wh.execute("insert into pos.probe values (%s)", (f"note: {somebody.email}",))
    wh.commit()
    scan = list(warehouse_values())
    assert [h[:2] for h in find(inside, whole, scan)] == [("pos.probe", "v")]
    wh.execute("drop table pos.probe")
    wh.commit()
    wh.close()

    # staff display names stay readable (the canonical cashier name), customers are linked by hash
    from pos_sync.warehouse.sql import Warehouse as W

    wh = W()
    cashiers = {r["cashier_name"] for r in wh.query("select distinct cashier_name from pos.pos_transactions "
                                                     "where cashier_name is not null")}
    refs = {r["customer_ref"] for r in wh.query("select distinct customer_ref from pos.pos_transactions "
                                                 "where customer_ref is not null")}
    wh.close()
    staff_names = {f"{m.given_name} {m.family_name}" for ms in env.world.team.values() for m in ms}
    assert cashiers and cashiers <= staff_names
    assert refs and all(r.startswith("h:") for r in refs)

    # a Toast guest (e-mail, phone, guid and names on the check) and a Square customer (an id): what
    # is stored is the scan above, but for the probe's row (nothing was written since but the drop)
    stored = {value for where, _, value in scan if where != "pos.probe"}
    toast_guest = next(p for p in people(env.world) if p.provider == "toast" and hashed(p.email) & stored)
    square_customer = next(p for p in people(env.world) if p.provider == "square" and hashed(p.id) & stored)
    others = [p for p in people(env.world) if p not in (toast_guest, square_customer) and hashed(p.id) & stored]
    assert len(others) > 10
    counts = table_counts()

    named_checks = toast_named_checks()
    code, out, err = cli("privacy", "erase", "--customer", f" {toast_guest.email.upper()} ")
    assert code == 0, err
    assert toast_guest.email not in out + err and "erased the customer in every tenant" in out
    gone = hashed(toast_guest.email) | hashed(toast_guest.phone) | hashed(toast_guest.id)
    assert hashed(toast_guest.id) & stored  # the guid was stored: it is found through the e-mail
    assert not present(gone)
    # names are no identifier (other guests share them) but the guest's checks lost theirs too
    assert toast_named_checks() < named_checks

    code, out, err = cli("privacy", "erase", "--customer", square_customer.id, "--tenant", env.world.tenant_id,
                         "--json")
    assert code == 0, err
    # its profile (raw_square.customers, the id a NOT NULL key) went with it: e-mail and phone too
    assert hashed(square_customer.email) & stored and hashed(square_customer.phone) & stored
    after = {value for _, _, value in warehouse_values()}  # one scan, not one per customer
    assert not present(hashed(square_customer.id) | hashed(square_customer.email) | hashed(square_customer.phone),
                       after)

    # nobody else lost anything: rows are anonymised, never deleted, and every other customer is there
    assert table_counts() == counts
    assert all(hashed(p.id) & after for p in others)

    # the canonical rebuild from the anonymised raw rows keeps them anonymous
    from pos_sync.canonical.build import build_account

    for provider, account_id in env.accounts.items():
        build_account(account_id, provider, env.tenants[provider])
    assert not present(gone | hashed(square_customer.id))


def test_erasing_a_tenant_removes_its_data_everywhere_and_keeps_the_other_tenant(two_tenants: Env) -> None:
    from pos_sync import appstore
    from pos_sync.warehouse.sql import Warehouse

    env = two_tenants
    tenant = env.world.tenant_id
    before = table_counts()
    other_tx = before_tx = None
    wh = Warehouse()
    other_tx = wh.scalar("select count(*) from pos.pos_transactions where tenant_id = %s", (OTHER_TENANT,))
    before_tx = wh.scalar("select count(*) from pos.pos_transactions where tenant_id = %s", (tenant,))
    wh.close()
    assert other_tx and before_tx

    code, out, err = cli("privacy", "erase", "--tenant", tenant)
    assert code == 0, err
    assert f"erased tenant {tenant}" in out

    wh = Warehouse()
    try:
        for schema, table in (("pos", "pos_transactions"), ("pos", "pos_transaction_items"), ("pos", "pos_tenders"),
                              ("pos", "pos_products"), ("pos", "pos_locations"), ("pos", "daily_product_sales")):
            if "tenant_id" in wh.columns(schema, table):
                assert wh.scalar(f"select count(*) from {schema}.{table} where tenant_id = %s", (tenant,)) == 0
        for table in ("payments", "refunds", "orders", "catalog", "team_members", "locations", "customers"):
            assert wh.scalar(f"select count(*) from raw_square.{table}") == 0, table
        assert wh.scalar("select count(*) from pos.pos_transactions where tenant_id = %s",
                         (OTHER_TENANT,)) == other_tx
    finally:
        wh.close()
    after = table_counts()
    for name, count in before.items():
        if name.startswith(("raw_toast.", "raw_lightspeed.")):
            assert after[name] == count, name
    assert appstore.list_accounts(tenant) == []
    assert {a.provider for a in appstore.list_accounts(OTHER_TENANT)} == {"toast", "lightspeed"}
    # the erased tenant's clear and hashed customer values are gone; the other tenant's stay
    square_people = [p for p in people(env.world) if p.provider == "square"]
    assert not present(set().union(*(hashed(p.id) for p in square_people)))
    toast_people = [p for p in people(env.world) if p.provider == "toast"]
    assert present(set().union(*(hashed(p.id) for p in toast_people)))

    code, _, err = cli("privacy", "erase", "--tenant", "no-such-tenant")
    assert code == 1 and err.startswith("error: no data of tenant 'no-such-tenant'") and err.count("\n") == 1
    code, _, err = cli("privacy", "erase", "--customer", "x@y.example", "--tenant", "no-such-tenant")
    assert code == 1 and err.startswith("error: no tenant 'no-such-tenant'") and err.count("\n") == 1
    code, _, err = cli("privacy", "erase")
    assert code == 1 and err.startswith("error: say whom to erase")


def test_on_postgresql_nothing_is_stored_in_clear_and_a_guest_is_erased_by_phone(
        three_providers: Callable[..., Env]) -> None:
    env = three_providers(warehouse="postgres")
    inside, whole = clear_values(env.world)
    scan = list(warehouse_values())
    assert find(inside, whole, scan) == []
    stored = {value for _, _, value in scan}
    guest = next(p for p in people(env.world) if p.provider == "toast" and hashed(p.phone) & stored)
    others = [p for p in people(env.world) if p != guest and hashed(p.id) & stored]
    counts = table_counts()
    code, out, err = cli("privacy", "erase", "--customer", guest.phone, "--tenant", env.world.tenant_id)
    assert code == 0, err
    after = {value for _, _, value in warehouse_values()}  # one scan, not one per customer
    assert not present(hashed(guest.email) | hashed(guest.phone) | hashed(guest.id), after)
    assert table_counts() == counts
    assert all(hashed(p.id) & after for p in others)


# ---------------------------------------------------------------------- secrets in logs
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # noqa: BLE001 - a record that cannot be formatted is still captured
            self.lines.append(f"{record.msg!r} {record.args!r} {exc}")


def test_tokens_and_secrets_never_reach_a_log_line_or_the_dagster_event_log(
        make_env: Any, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """Two Square syncs through the ``square_sync`` job (dagster_sync_support's environment: the
    account linked through the emulator's OAuth) with Python logging at DEBUG on every logger and
    Dagster's console logger at DEBUG; every captured line, the console and every event of both
    runs' Dagster event logs are searched for the access and refresh tokens and the client secret."""
    from dagster._serdes import serialize_value

    from pos_dagster.definitions import defs
    from pos_sync import appstore

    env = make_env()
    secrets = {env.credentials["client_secret"]}
    creds = appstore.account_credentials(env.account_id)
    secrets |= {creds.access_token, creds.refresh_token}
    probe = creds.access_token
    capture = _Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    # every record of every logger, propagating or not (dlt's does not), is teed to the capture
    handle = logging.Logger.handle

    def tee(self: logging.Logger, record: logging.LogRecord) -> None:
        capture.handle(record)
        handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", tee)
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")  # dlt's own logger level
    levels = {name: logging.getLogger(name).level for name in ("", "dlt", "urllib3", "httpx", "httpcore", "dagster")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    debug = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
    try:
        env.instance.add_dynamic_partitions("square_accounts", [env.account_id])
        job = defs.resolve_job_def("square_sync")
        runs = [job.execute_in_process(partition_key=env.account_id, instance=env.instance, raise_on_error=False,
                                       run_config=debug) for _ in range(2)]
        probe_logger = logging.getLogger("privacy.probe")  # seen by the capture only (not the console)
        probe_logger.propagate = False
        probe_logger.debug("probe %s", probe)  # the capture would see a leak
    finally:
        monkeypatch.setattr(logging.Logger, "handle", handle)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert all(run.success for run in runs)
    creds = appstore.account_credentials(env.account_id)  # refreshed during the syncs, if at all
    secrets |= {creds.access_token, creds.refresh_token}
    secrets = {s for s in secrets if s and len(s) >= 8}
    assert len(secrets) >= 3

    events = [serialize_value(e) for run in runs for e in env.instance.all_logs(run.run_id)]
    console = capfd.readouterr()
    probes = [line for line in capture.lines if line.startswith("privacy.probe")]
    assert len(probes) == 1 and probe in probes[0]
    capture.lines.remove(probes[0])
    assert len(capture.lines) > 50 and any(line.startswith("dlt ") for line in capture.lines)
    assert len(events) > 20
    for text in (*capture.lines, *events, console.out, console.err):
        leaked = [s[:4] + "…" for s in secrets if s in text]
        assert not leaked, f"a secret ({leaked}) in: {text[:300]}"
