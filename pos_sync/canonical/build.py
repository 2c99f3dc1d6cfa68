"""Incremental canonical build of one account.

Processes only raw loads it has not seen (dlt load ids recorded in ``pos.transform_loads``):
finds the objects those loads touched, rebuilds exactly their canonical rows (deterministic ids:
re-running replaces, never duplicates), recomputes ``daily_product_sales`` for the affected
(location, business date) pairs only, and records the loads — all in one transaction, so a crash
leaves the canonical tables as they were and the loads unprocessed. Cost grows with new data,
not with history.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pos_sync.canonical.raw_io import RawReader
from pos_sync.canonical.square_io import SquareRaw
from pos_sync.settings import Settings, load_settings
from pos_sync.warehouse.sql import Warehouse
from transforms import lightspeed as lightspeed_transform
from transforms import square as square_transform
from transforms import toast as toast_transform
from transforms.canonical import (
    DAILY_PRODUCT_SALES,
    POS_LOCATIONS,
    POS_PRODUCTS,
    POS_TENDERS,
    POS_TRANSACTION_ITEMS,
    POS_TRANSACTIONS,
    SCHEMA,
    TRANSFORM_LOADS,
    CanonicalBatch,
    canonical_id,
)
from transforms.pii import make_pseudonymizer

CHUNK = 20_000  # objects normalised per batch (bounded memory on first builds)


@dataclass
class BuildResult:
    account_id: str
    provider: str
    loads: int = 0
    transactions: int = 0
    items: int = 0
    tenders: int = 0
    products: int = 0
    days_recomputed: int = 0
    seconds: float = 0.0
    affected_days: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "affected_days"}


def pii_key(settings: Settings) -> bytes:
    """``POS_PII_KEY``, else a key generated once into ``$POS_HOME/pii.key`` (mode 0600)."""
    if settings.pii_key:
        return settings.pii_key.encode()
    path = settings.pos_home / "pii.key"
    if not path.exists():
        settings.pos_home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or []


def write_batch(wh: Warehouse, batch: CanonicalBatch, stale_ids: Iterable[str] = ()) -> set[tuple[str, str, str, date]]:
    """Replace the batch's transactions (and their items/tenders) and delete ``stale_ids`` (rows
    whose source object no longer yields one, e.g. a deleted Toast check); returns the affected
    days."""
    ids = sorted({(t["id"],) for t in batch.transactions} | {(i,) for i in stale_ids})
    if not ids:
        return set()
    tmp = wh.temp_keys(["id"], ids)
    before = wh.query(
        f"select t.tenant_id, t.pos_provider, t.location_id, t.business_date from {SCHEMA}.pos_transactions t "
        f"join {tmp} k on t.id = k.id")
    days = {(r["tenant_id"], r["pos_provider"], r["location_id"], r["business_date"]) for r in before}
    wh.delete_by_keys(POS_TRANSACTIONS, ["id"], ids)
    wh.delete_by_keys(POS_TRANSACTION_ITEMS, ["transaction_id"], ids)
    wh.delete_by_keys(POS_TENDERS, ["transaction_id"], ids)
    wh.insert_rows(POS_TRANSACTIONS, batch.transactions)
    wh.insert_rows(POS_TRANSACTION_ITEMS, batch.items)
    wh.insert_rows(POS_TENDERS, batch.tenders)
    days |= {(t["tenant_id"], t["pos_provider"], t["location_id"], t["business_date"])
             for t in batch.transactions if t["business_date"] is not None}
    return days


def recompute_daily_product_sales(wh: Warehouse, days: set[tuple[str, str, str, date]]) -> int:
    if not days:
        return 0
    keys = sorted(days, key=lambda d: (d[0], d[1], d[2], d[3]))
    wh.delete_by_keys(DAILY_PRODUCT_SALES, ["tenant_id", "pos_provider", "location_id", "business_date"], keys)
    tmp = wh.temp_keys(["tenant_id", "pos_provider", "location_id", "business_date"], keys)
    cols = ", ".join(f'"{c}"' for c in DAILY_PRODUCT_SALES.column_names)
    sale = "t.transaction_type = 'sale'"
    refund = "t.transaction_type = 'refund'"
    wh.execute(f"""
        INSERT INTO {SCHEMA}.daily_product_sales ({cols})
        SELECT i.tenant_id, i.pos_provider, i.location_id, i.business_date,
               coalesce(i.pos_item_id, '(custom)'), max(i.product_name), max(i.mapped_product_id), max(i.currency),
               coalesce(sum(CASE WHEN {sale} THEN i.quantity END), 0),
               coalesce(sum(CASE WHEN {refund} THEN i.quantity END), 0),
               coalesce(sum(CASE WHEN {sale} THEN i.gross_amount END), 0),
               coalesce(sum(CASE WHEN {sale} THEN i.discount_amount END), 0),
               coalesce(sum(CASE WHEN {refund} THEN i.line_total END), 0),
               coalesce(sum(CASE WHEN {sale} THEN i.line_total ELSE -i.line_total END), 0),
               count(DISTINCT CASE WHEN {sale} THEN i.transaction_id END)
        FROM {SCHEMA}.pos_transaction_items i
        JOIN {SCHEMA}.pos_transactions t ON t.id = i.transaction_id
        JOIN {tmp} k ON k.tenant_id = i.tenant_id AND k.pos_provider = i.pos_provider
                    AND k.location_id = i.location_id AND k.business_date = i.business_date
        WHERE t.status = 'completed' AND t.transaction_type IN ('sale', 'refund')
        GROUP BY i.tenant_id, i.pos_provider, i.location_id, i.business_date, coalesce(i.pos_item_id, '(custom)')
    """)
    return len(keys)


def _square(wh: Warehouse, settings: Settings, tenant_id: str, account_id: str, loads: list[str],
            first_build: bool, result: BuildResult) -> set[tuple[str, str, str, date]]:
    raw = SquareRaw(wh, account_id)
    locations = {r["id"]: r for r in raw.account_table("locations")}
    catalog_rows = raw.account_table("catalog")
    ctx = square_transform.SquareContext(
        tenant_id=tenant_id,
        account_id=account_id,
        locations=locations,
        catalog={r["id"]: r for r in catalog_rows},
        team={r["id"]: r for r in raw.account_table("team_members")},
        pseudonymize=make_pseudonymizer(pii_key(settings), keep_clear=settings.store_customer_pii),
    )
    order_ids, refund_ids = raw.changed(loads)
    days: set[tuple[str, str, str, date]] = set()
    for chunk in _chunks(sorted(order_ids), CHUNK):
        orders = raw.orders(chunk)
        sale_orders = [o for o in orders if not square_transform.is_return_order(o)]
        tender_payments = [t["payment_id"] for o in sale_orders for t in o.get("tenders") or [] if t.get("payment_id")]
        ctx.payments = raw.payments_for([o["id"] for o in sale_orders], tender_payments)
        batch = square_transform.normalize(ctx, sale_orders, [])
        days |= write_batch(wh, batch)
        result.transactions += len(batch.transactions)
        result.items += len(batch.items)
        result.tenders += len(batch.tenders)
    for chunk in _chunks(sorted(refund_ids), CHUNK):
        refunds = raw.refunds(chunk)
        return_orders = raw.orders({r["order_id"] for r in refunds if r.get("order_id")})
        ctx.payments = raw.payments_for([], [r["payment_id"] for r in refunds if r.get("payment_id")])
        batch = square_transform.normalize(ctx, return_orders, refunds)
        days |= write_batch(wh, batch)
        result.transactions += len(batch.transactions)
        result.items += len(batch.items)
    if first_build or raw.catalog_changed(loads):
        result.products = _replace_products(wh, account_id, "square",
                                            square_transform.normalize_products(ctx, catalog_rows))
    inclusive = any(r.get("type") == "TAX" and r.get("tax_data__inclusion_type") == "INCLUSIVE" for r in catalog_rows)
    _replace_locations(wh, square_transform.normalize_locations(ctx, lambda _loc: inclusive))
    return days


TOAST_ORDER_CHILDREN = {
    "orders__checks": ("checks", "orders"),
    "orders__checks__selections": ("selections", "orders__checks"),
    "orders__checks__selections__modifiers": ("modifiers", "orders__checks__selections"),
    "orders__checks__payments": ("payments", "orders__checks"),
    "orders__checks__applied_service_charges": ("applied_service_charges", "orders__checks"),
}


def _replace_products(wh: Warehouse, account_id: str, provider: str, products: list[dict[str, Any]]) -> int:
    """Replace the account's POS products, keeping when each was first seen.

    A product is the tenant's (its key has no account): one an earlier account of the same store
    wrote (the store was re-linked under a new id) is taken over, not duplicated."""
    keys = sorted({(p["tenant_id"], p["pos_provider"], p["pos_item_id"]) for p in products})
    existing: dict[str, Any] = {}
    if keys:
        tmp = wh.temp_keys(["tenant_id", "pos_provider", "pos_item_id"], keys)
        existing = {r["pos_item_id"]: r["first_seen_at"] for r in wh.query(
            f"select p.pos_item_id, p.first_seen_at from {SCHEMA}.pos_products p join {tmp} k "
            f"on p.tenant_id = k.tenant_id and p.pos_provider = k.pos_provider and p.pos_item_id = k.pos_item_id")}
    for p in products:
        seen = existing.get(p["pos_item_id"])
        if seen is not None:
            p["first_seen_at"] = min(seen, p["first_seen_at"] or seen)
    wh.delete_by_keys(POS_PRODUCTS, ["pos_account_id", "pos_provider"], [(account_id, provider)])
    wh.delete_by_keys(POS_PRODUCTS, ["tenant_id", "pos_provider", "pos_item_id"], keys)
    return wh.insert_rows(POS_PRODUCTS, products)


def _replace_locations(wh: Warehouse, rows: list[dict[str, Any]]) -> None:
    wh.delete_by_keys(POS_LOCATIONS, ["tenant_id", "pos_provider", "location_id"],
                      [(r["tenant_id"], r["pos_provider"], r["location_id"]) for r in rows])
    wh.insert_rows(POS_LOCATIONS, rows)


def _toast(wh: Warehouse, settings: Settings, tenant_id: str, account_id: str, loads: list[str],
           first_build: bool, result: BuildResult) -> set[tuple[str, str, str, date]]:
    from transforms.pii import normalise_email, normalise_phone

    raw = RawReader(wh, "toast", account_id)
    key = pii_key(settings)
    clear = settings.store_customer_pii
    restaurants = {r["guid"]: r for r in raw.account_table("restaurants")}
    menus = raw.attach("menus", raw.account_table("menus"), {"menus__menu_items": ("menu_items", "menus")})
    menu_items: dict[str, dict[str, Any]] = {}
    for menu in menus:
        for item in menu.get("menu_items") or []:
            item["_restaurant_guid"] = menu.get("_pos_restaurant_guid")
            item["_seen_at"] = menu.get("last_updated")
            menu_items[item["guid"]] = item
    ctx = toast_transform.ToastContext(
        tenant_id=tenant_id, account_id=account_id, restaurants=restaurants, menu_items=menu_items,
        pseudonymize=make_pseudonymizer(key, keep_clear=clear),
        pseudonymize_email=make_pseudonymizer(key, keep_clear=clear, normalise=normalise_email),
        pseudonymize_phone=make_pseudonymizer(key, keep_clear=clear, normalise=normalise_phone),
        keep_names=clear,
    )
    days: set[tuple[str, str, str, date]] = set()
    for chunk in _chunks(sorted(raw.changed_ids("orders", "guid", loads)), CHUNK):
        orders = raw.attach("orders", raw.roots("orders", "guid", chunk), TOAST_ORDER_CHILDREN)
        batch = toast_transform.normalize(ctx, orders)
        stale = [ctx.check_id(g) for g in toast_transform.check_ids(orders)]
        stale += [canonical_id(tenant_id, "toast", "refund", p["guid"])
                  for o in orders for c in o.get("checks") or [] for p in c.get("payments") or []]
        days |= write_batch(wh, batch, stale)
        result.transactions += len(batch.transactions)
        result.items += len(batch.items)
        result.tenders += len(batch.tenders)
    if first_build or raw.table_changed("menus", loads):
        result.products = _replace_products(wh, account_id, "toast",
                                            toast_transform.normalize_products(ctx, menu_items.values()))
    _replace_locations(wh, [
        {"tenant_id": tenant_id, "pos_account_id": account_id, "pos_provider": "toast", "location_id": guid,
         "name": r.get("general__location_name") or r.get("general__name"), "timezone": r.get("general__time_zone"),
         "currency": r.get("general__currency_code"), "prices_include_tax": False,
         "country": r.get("location__country"), "updated_at": datetime.now(UTC)}
        for guid, r in restaurants.items()
    ])
    return days


LIGHTSPEED_SALE_CHILDREN = {
    "sales__line_items": ("line_items", "sales"),
    "sales__payments": ("payments", "sales"),
    "sales__adjustments": ("adjustments", "sales"),
}


def _lightspeed(wh: Warehouse, settings: Settings, tenant_id: str, account_id: str, loads: list[str],
                first_build: bool, result: BuildResult) -> set[tuple[str, str, str, date]]:
    raw = RawReader(wh, "lightspeed", account_id)
    taxes = raw.attach("taxes", raw.account_table("taxes"), {"taxes__rates": ("rates", "taxes")})
    products = raw.account_table("products")
    ctx = lightspeed_transform.LightspeedContext(
        tenant_id=tenant_id, account_id=account_id,
        outlets={r["id"]: r for r in raw.account_table("outlets")},
        tax_rates={t["id"]: (t.get("rates") or [{}])[0].get("rate") or 0 for t in taxes},
        products={r["id"]: r for r in products},
        payment_types={r["id"]: r for r in raw.account_table("payment_types")},
        users={r["id"]: r for r in raw.account_table("users")},
        registers={r["id"]: r for r in raw.account_table("registers")},
        pseudonymize=make_pseudonymizer(pii_key(settings), keep_clear=settings.store_customer_pii),
    )
    days: set[tuple[str, str, str, date]] = set()
    for chunk in _chunks(sorted(raw.changed_ids("sales", "id", loads)), CHUNK):
        sales = raw.attach("sales", raw.roots("sales", "id", chunk), LIGHTSPEED_SALE_CHILDREN)
        batch = lightspeed_transform.normalize(ctx, sales)
        days |= write_batch(wh, batch, lightspeed_transform.row_ids(ctx, sales))
        result.transactions += len(batch.transactions)
        result.items += len(batch.items)
        result.tenders += len(batch.tenders)
    if first_build or raw.table_changed("products", loads):
        result.products = _replace_products(wh, account_id, "lightspeed",
                                            lightspeed_transform.normalize_products(ctx, products))
    _replace_locations(wh, [
        {"tenant_id": tenant_id, "pos_account_id": account_id, "pos_provider": "lightspeed", "location_id": oid,
         "name": o.get("name"), "timezone": o.get("time_zone"), "currency": o.get("currency"),
         "prices_include_tax": (o.get("display_prices") or "inclusive") != "exclusive",
         "country": o.get("physical_country_id"), "updated_at": datetime.now(UTC)}
        for oid, o in ctx.outlets.items()
    ])
    return days


BUILDERS = {"square": _square, "toast": _toast, "lightspeed": _lightspeed}


def unprocessed_loads(wh: Warehouse, provider: str, processed: set[str]) -> list[str]:
    """Completed loads of ``raw_<provider>`` this account's build has not processed yet. Loads of
    other accounts sharing the dataset are included: they touch none of this account's rows and
    are simply recorded as processed."""
    dataset = f"raw_{provider}"
    if not wh.table_exists(dataset, "_dlt_loads"):
        return []
    rows = wh.query(f"select load_id from {dataset}._dlt_loads where status = 0 order by load_id")
    return [r["load_id"] for r in rows if r["load_id"] not in processed]


def build_account(account_id: str, provider: str, tenant_id: str, settings: Settings | None = None) -> BuildResult:
    """Process every raw load of ``provider`` this account's canonical build has not seen yet."""
    settings = settings or load_settings()
    started = time.monotonic()
    result = BuildResult(account_id=account_id, provider=provider)
    builder = BUILDERS.get(provider)
    if builder is None:
        raise ValueError(f"no canonical build for provider {provider!r} yet")
    wh = Warehouse(settings)
    try:
        wh.ensure_schema()
        processed = {r["load_id"] for r in wh.query(
            f"select load_id from {SCHEMA}.transform_loads where pos_account_id = %s and pos_provider = %s",
            (account_id, provider))}
        raw_loads = unprocessed_loads(wh, provider, processed)
        if not raw_loads:
            result.seconds = round(time.monotonic() - started, 3)
            return result
        with wh.transaction():
            days = builder(wh, settings, tenant_id, account_id, raw_loads, not processed, result)
            result.days_recomputed = recompute_daily_product_sales(wh, days)
            now = datetime.now(UTC)
            wh.insert_rows(TRANSFORM_LOADS, [
                {"pos_account_id": account_id, "pos_provider": provider, "load_id": load_id, "processed_at": now,
                 "transactions": result.transactions}
                for load_id in raw_loads
            ])
        result.loads = len(raw_loads)
        result.affected_days = sorted((d[2], str(d[3])) for d in days)
    finally:
        wh.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result
