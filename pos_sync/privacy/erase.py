"""GDPR erasure: one person (``pos-sync privacy erase --customer VALUE``) or a whole tenant
(``pos-sync privacy erase --tenant T``), in the raw datasets (and dlt's staging copies), the
canonical schema ``pos`` and the app store.

**A person** is named by an e-mail, a phone number or a customer id, in clear. It is hashed with
the installation's key under every normalisation the sources use (``transforms.pii``), and looked
for, with its clear forms (tenants with clear storage), in the personal columns the providers
declare (``dlt_sources/<provider>/settings.py: PII_FIELDS``) and in ``pos.pos_transactions``'
customer columns. A row that refers to the person has **every** personal column set to NULL (the
sale stays: the figures reconcile, but nothing links it to anyone) — a column that cannot be NULL
(a customer profile's hashed id, its primary key) gets ``'erased:' || _dlt_id`` instead, unique
and naming nobody; the identifiers found beside
the match (the check's customer id beside its e-mail) are searched for too, until nothing new
turns up — names and addresses are not followed (two Anas are two people). A final sweep nulls
any other text column of the raw and canonical tables that still holds one of those values. In
the app store, webhook inbox rows and outbox events that carry one of them are deleted.

**A tenant**: every account's raw rows, dlt state and working folders
(:func:`pos_sync.warehouse.purge.purge_account_data`, plus the staging copies), every ``pos`` row
with its ``tenant_id``, and its app store rows: accounts (locations, sync logs, webhooks, sync
requests), tenant, API keys, OAuth states, metric totals, and outbox events that name it.
"""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dlt_sources.common.pseudonymise import pii_columns
from pos_sync.privacy import pseudonymizer
from pos_sync.settings import Settings, load_settings
from pos_sync.warehouse.pipelines import is_staging_schema
from pos_sync.warehouse.sql import Warehouse
from transforms.canonical import SCHEMA

IDENTIFYING = frozenset({"id", "email", "phone"})  # followed from a match; names/addresses are not
CANONICAL_PII = {"pos_transactions": {"customer_ref": "id", "customer_email": "email", "customer_phone": "phone",
                                      "customer_name": "name"}}
MAX_ROUNDS = 5


class ErasureError(Exception):
    """Erasure could not start (an unknown tenant, an empty value): one line for a person."""


@dataclass
class ErasureReport:
    warehouse: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows anonymised / deleted
    appstore: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    identifiers: int = 0  # distinct stored values that referred to the person (customer erasure)
    files: int = 0  # dlt working files removed

    def add(self, where: dict[str, int], key: str, count: int) -> None:
        if count:
            where[key] = where.get(key, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {"warehouse": dict(sorted(self.warehouse.items())), "appstore": dict(sorted(self.appstore.items())),
                "identifiers": self.identifiers, "files": self.files}


# ---------------------------------------------------------------------- where personal data lives
def provider_pii_columns() -> dict[str, dict[str, dict[str, str]]]:
    """``{provider: {raw table: {column or prefix: kind}}}`` of every registered provider that
    declares ``PII_FIELDS`` in ``dlt_sources.<provider>.settings``."""
    from pos_sync.providers import registry

    out: dict[str, dict[str, dict[str, str]]] = {}
    for name in registry.names():
        try:
            settings_module = importlib.import_module(f"dlt_sources.{name}.settings")
        except ModuleNotFoundError:
            continue
        fields: Mapping[str, Mapping[str, str]] = getattr(settings_module, "PII_FIELDS", {})
        tables: dict[str, dict[str, str]] = {}
        for resource, rules in fields.items():
            for table, columns in pii_columns(resource, rules).items():
                tables.setdefault(table, {}).update(columns)
        out[name] = tables
    return out


def _raw_schemas(wh: Warehouse, provider: str) -> list[str]:
    return [s for s in (f"raw_{provider}", *_staging_schemas(wh, provider)) if _tables(wh, s)]


def _staging_schemas(wh: Warehouse, provider: str) -> list[str]:
    """dlt's staging copies of a provider's raw dataset: one per pipeline on PostgreSQL
    (``raw_square_stg_<hash>``, :func:`pos_sync.warehouse.pipelines.staging_layout`), and the shared
    ``raw_square_staging`` of earlier versions (and of DuckDB)."""
    return sorted(r["schema_name"] for r in wh.query("select schema_name from information_schema.schemata")
                  if is_staging_schema(str(r["schema_name"]), provider))


def _tables(wh: Warehouse, schema: str) -> set[str]:
    return {r["table_name"] for r in wh.query(
        "select table_name from information_schema.tables where table_schema = %s", (schema,))}


def _text_columns(wh: Warehouse, schema: str, table: str) -> list[str]:
    return [r["column_name"] for r in wh.query(
        "select column_name, data_type from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position", (schema, table))
        if str(r["data_type"]).lower() in ("varchar", "text", "character varying")]


def _resolve(columns: set[str], rules: Mapping[str, str]) -> dict[str, str]:
    """The table's actual columns the rules cover (a prefix covers ``prefix__…``)."""
    out: dict[str, str] = {}
    for rule, kind in rules.items():
        for column in columns:
            if column == rule or column.startswith(rule + "__"):
                out[column] = kind
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------------- one person
@dataclass
class _Target:
    schema: str
    table: str
    columns: dict[str, str]  # column -> kind
    scope: str = ""  # extra SQL condition (tenant)
    scope_params: tuple[Any, ...] = ()
    keyed: frozenset[str] = frozenset()  # personal columns that cannot be NULL (see ``erased_value``)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def erased_value(self, column: str) -> str:
        """NULL, or for a NOT NULL column (a primary key: a customer profile's id) a unique value that
        names nobody: ``'erased:'`` and the row's random ``_dlt_id``."""
        return "'erased:' || cast(_dlt_id as varchar)" if column in self.keyed else "null"

    def identifying(self) -> list[str]:
        return [c for c, kind in self.columns.items() if kind in IDENTIFYING]


def _targets(wh: Warehouse, tenant_id: str | None, account_ids: list[str] | None) -> list[_Target]:
    targets: list[_Target] = []
    for provider, tables in provider_pii_columns().items():
        for schema in _raw_schemas(wh, provider):
            existing = _tables(wh, schema)
            for table, rules in tables.items():
                if table not in existing:
                    continue
                present = wh.columns(schema, table)
                columns = _resolve(present, rules)
                if not columns:
                    continue
                keyed = _not_null(wh, schema, table) & columns.keys() if "_dlt_id" in present else frozenset()
                target = _Target(schema, table, columns, keyed=frozenset(keyed))
                if account_ids is not None:
                    target.scope, target.scope_params = _account_scope(wh, schema, table, account_ids)
                targets.append(target)
    for table, rules in CANONICAL_PII.items():
        if wh.table_exists(SCHEMA, table):
            target = _Target(SCHEMA, table, _resolve(wh.columns(SCHEMA, table), rules))
            if tenant_id is not None:
                target.scope, target.scope_params = "tenant_id = %s", (tenant_id,)
            targets.append(target)
    return targets


def _not_null(wh: Warehouse, schema: str, table: str) -> set[str]:
    """The table's columns declared NOT NULL."""
    rows = wh.query("select column_name from information_schema.columns where table_schema = %s "
                    "and table_name = %s and is_nullable = 'NO'", (schema, table))
    return {r["column_name"] for r in rows}


def _account_scope(wh: Warehouse, schema: str, table: str, account_ids: list[str]) -> tuple[str, tuple[Any, ...]]:
    """The SQL condition of a raw table's rows of these accounts (child tables through their root)."""
    marks = ", ".join(["%s"] * len(account_ids)) or "null"
    if "_pos_account_id" in wh.columns(schema, table):
        return f"_pos_account_id in ({marks})", tuple(account_ids)
    root = table.split("__", 1)[0]
    return (f"_dlt_root_id in (select _dlt_id from {schema}.{_q(root)} where _pos_account_id in ({marks}))",
            tuple(account_ids))


def _match(target: _Target, keys: str) -> str:
    any_match = " or ".join(f"{_q(c)} in (select v from {keys})" for c in target.identifying())
    scope = f" and ({target.scope})" if target.scope else ""
    return f"({any_match}){scope}"


def erase_customer(value: str, tenant_id: str | None = None, settings: Settings | None = None) -> ErasureReport:
    """Anonymise every row that refers to the person ``value`` names (an e-mail, phone or customer
    id, in clear) — of ``tenant_id`` only when given — and delete the app store rows that carry it."""
    settings = settings or load_settings()
    if not value or not value.strip():
        raise ErasureError("--customer needs a value (an e-mail, a phone number or a customer id)")
    account_ids = _tenant_accounts(settings, tenant_id) if tenant_id is not None else None
    if tenant_id is not None and not account_ids and not _tenant_row_exists(settings, tenant_id):
        raise ErasureError(f"no tenant {tenant_id!r} in the app store (check the id: 'pos-sync tenants list')")
    needles = pseudonymizer(settings).variants(value)
    report = ErasureReport()
    wh = Warehouse(settings)
    try:
        with wh.transaction():
            targets = _targets(wh, tenant_id, account_ids)
            for _ in range(MAX_ROUNDS):  # follow the identifiers found beside a match
                keys = wh.temp_keys(["v"], [(n,) for n in sorted(needles)])
                found: set[str] = set()
                for target in targets:
                    columns = target.identifying()
                    if not columns:
                        continue
                    select = ", ".join(f"cast({_q(c)} as varchar) as {_q(c)}" for c in columns)
                    for row in wh.query(f"select {select} from {target.schema}.{_q(target.table)} "
                                        f"where {_match(target, keys)}", target.scope_params):
                        found.update(str(v) for v in row.values() if v not in (None, ""))
                if found <= needles:
                    break
                needles |= found
            keys = wh.temp_keys(["v"], [(n,) for n in sorted(needles)])
            for target in targets:
                if not target.identifying():
                    continue
                before = wh.scalar(f"select count(*) from {target.schema}.{_q(target.table)} "
                                   f"where {_match(target, keys)}", target.scope_params)
                if before:
                    sets = ", ".join(f"{_q(c)} = {target.erased_value(c)}" for c in target.columns)
                    wh.execute(f"update {target.schema}.{_q(target.table)} set {sets} where {_match(target, keys)}",
                               target.scope_params)
                    report.add(report.warehouse, target.name, int(before))
            _sweep(wh, keys, report, account_ids, tenant_id)
    finally:
        wh.close()
    report.identifiers = len(needles)
    _erase_appstore_mentions(settings, needles, report)
    report.files = _remove_loaded_packages(settings)
    return report


def _sweep(wh: Warehouse, keys: str, report: ErasureReport, account_ids: list[str] | None,
           tenant_id: str | None) -> None:
    """Any other text column of the raw and canonical tables that still holds one of the values."""
    from pos_sync.providers import registry

    schemas = [s for p in registry.names() for s in _raw_schemas(wh, p)]
    if wh.table_exists(SCHEMA, "pos_transactions"):
        schemas.append(SCHEMA)
    for schema in schemas:
        for table in sorted(_tables(wh, schema)):
            if table.startswith("_dlt"):
                continue
            for column in _text_columns(wh, schema, table):
                where = f"{_q(column)} in (select v from {keys})"
                params: tuple[Any, ...] = ()
                if schema == SCHEMA and tenant_id is not None and "tenant_id" in wh.columns(schema, table):
                    where += " and tenant_id = %s"
                    params = (tenant_id,)
                elif schema != SCHEMA and account_ids is not None:
                    scope, params = _account_scope(wh, schema, table, account_ids)
                    where += f" and {scope}"
                count = wh.scalar(f"select count(*) from {schema}.{_q(table)} where {where}", params)
                if count:
                    wh.execute(f"update {schema}.{_q(table)} set {_q(column)} = null where {where}", params)
                    report.add(report.warehouse, f"{schema}.{table}", int(count))


def _mentions(document: Any, needles: set[str]) -> bool:
    text = document if isinstance(document, str) else json.dumps(document, default=str)
    return any(n in text for n in needles if len(n) >= 4)


def _erase_appstore_mentions(settings: Settings, needles: set[str], report: ErasureReport) -> None:
    from pos_sync.appstore import session_scope
    from pos_sync.appstore.models import PosEventOutbox, PosWebhook

    with session_scope(settings) as s:
        for hook in s.execute(sa.select(PosWebhook)).scalars():
            if _mentions(hook.event_data, needles):
                s.delete(hook)
                report.add(report.appstore, "pos_webhooks", 1)
        for event in s.execute(sa.select(PosEventOutbox)).scalars():
            if _mentions(event.payload, needles):
                s.delete(event)
                report.add(report.appstore, "pos_events_outbox", 1)


def _remove_loaded_packages(settings: Settings) -> int:
    """dlt's copies of loaded rows in the pipelines' working folders (kept by dlt unless
    ``LOAD__DELETE_COMPLETED_JOBS``, which the service sets: older packages may remain)."""
    from pos_sync.warehouse.pipelines import pipelines_dir

    root = pipelines_dir(settings)
    removed = 0
    if not root.exists():
        return 0
    for jobs in root.glob("*/load/loaded/*/completed_jobs"):
        removed += sum(1 for p in jobs.rglob("*") if p.is_file())
        shutil.rmtree(jobs)
    return removed


# ---------------------------------------------------------------------- one tenant
def _tenant_accounts(settings: Settings, tenant_id: str) -> list[str]:
    from pos_sync.appstore import list_accounts

    return [a.id for a in list_accounts(tenant_id, settings=settings)]


def erase_tenant(tenant_id: str, settings: Settings | None = None) -> ErasureReport:
    """Everything of ``tenant_id``: raw rows of its accounts, ``pos`` rows, app store rows."""
    from pos_sync.appstore import list_accounts
    from pos_sync.warehouse.purge import purge_account_data

    settings = settings or load_settings()
    if not tenant_id or not tenant_id.strip():
        raise ErasureError("--tenant needs a tenant id")
    accounts = list_accounts(tenant_id, settings=settings)
    report = ErasureReport()
    in_appstore = bool(accounts) or _tenant_row_exists(settings, tenant_id)
    for acc in accounts:
        result = purge_account_data(acc.id, acc.provider, list(acc.location_ids))
        for key, count in result.get("deleted_rows", {}).items():
            report.add(report.warehouse, key, int(count))
    wh = Warehouse(settings)
    try:
        with wh.transaction():
            _purge_staging(wh, {a.provider for a in accounts}, [a.id for a in accounts], report)
            canonical_rows = 0
            for table in sorted(_tables(wh, SCHEMA)):
                if "tenant_id" in wh.columns(SCHEMA, table):
                    count = int(wh.scalar(f"select count(*) from {SCHEMA}.{_q(table)} where tenant_id = %s",
                                          (tenant_id,)) or 0)
                    if count:
                        wh.execute(f"delete from {SCHEMA}.{_q(table)} where tenant_id = %s", (tenant_id,))
                        report.add(report.warehouse, f"{SCHEMA}.{table}", count)
                        canonical_rows += count
    finally:
        wh.close()
    if not in_appstore and not report.warehouse:
        raise ErasureError(f"no data of tenant {tenant_id!r} in the app store or the warehouse (check the id: "
                           "'pos-sync tenants list')")
    _erase_tenant_appstore(settings, tenant_id, [a.id for a in accounts], report)
    report.files = _remove_loaded_packages(settings)
    return report


def _purge_staging(wh: Warehouse, providers: Iterable[str], account_ids: list[str], report: ErasureReport) -> None:
    if not account_ids:
        return
    marks = ", ".join(["%s"] * len(account_ids))
    for schema in (s for provider in sorted(providers) for s in _staging_schemas(wh, provider)):
        tables = _tables(wh, schema)
        parents = sorted(t for t in tables if "__" not in t and not t.startswith("_dlt")
                         and "_pos_account_id" in wh.columns(schema, t))
        for parent in parents:
            for child in sorted(t for t in tables if t.startswith(f"{parent}__")):
                where = (f"_dlt_root_id in (select _dlt_id from {schema}.{_q(parent)} "
                         f"where _pos_account_id in ({marks}))")
                count = int(wh.scalar(f"select count(*) from {schema}.{_q(child)} where {where}", account_ids) or 0)
                if count:
                    wh.execute(f"delete from {schema}.{_q(child)} where {where}", account_ids)
                    report.add(report.warehouse, f"{schema}.{child}", count)
            where = f"_pos_account_id in ({marks})"
            count = int(wh.scalar(f"select count(*) from {schema}.{_q(parent)} where {where}", account_ids) or 0)
            if count:
                wh.execute(f"delete from {schema}.{_q(parent)} where {where}", account_ids)
                report.add(report.warehouse, f"{schema}.{parent}", count)


def _tenant_row_exists(settings: Settings, tenant_id: str) -> bool:
    from pos_sync.appstore.tenants import tenant_exists

    return bool(tenant_exists(tenant_id, settings=settings))


def _names_tenant(payload: str, tenant_id: str) -> bool:
    try:
        document = json.loads(payload)
    except ValueError:
        return False
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("tenant_id") == tenant_id:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _erase_tenant_appstore(settings: Settings, tenant_id: str, account_ids: list[str], report: ErasureReport) -> None:
    """Every app store table's rows of the tenant (by ``tenant_id`` or its accounts), children
    first; the outbox by the tenant its events name."""
    from pos_sync.appstore import session_scope
    from pos_sync.appstore.models import Base, PosEventOutbox

    with session_scope(settings) as s:
        for table in reversed(Base.metadata.sorted_tables):
            conditions = []
            if "pos_account_id" in table.c and account_ids:
                conditions.append(table.c.pos_account_id.in_(account_ids))
            if "account_id" in table.c and account_ids:
                conditions.append(table.c.account_id.in_(account_ids))
            if "tenant_id" in table.c:
                conditions.append(table.c.tenant_id == tenant_id)
            if table.name == "pos_tenants":
                conditions.append(table.c.id == tenant_id)
            if not conditions:
                continue
            count = s.execute(sa.delete(table).where(sa.or_(*conditions))).rowcount or 0
            report.add(report.appstore, table.name, int(count))
        for event in s.execute(sa.select(PosEventOutbox)).scalars():
            if _names_tenant(event.payload, tenant_id):
                s.delete(event)
                report.add(report.appstore, "pos_events_outbox", 1)
