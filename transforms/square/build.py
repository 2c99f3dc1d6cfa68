"""Square's canonical build of one account: which orders and refunds the new raw loads touched,
those objects with their payments (and their customers' profiles), normalised and handed to the
sink; the catalog and the locations when they changed."""

from __future__ import annotations

from collections.abc import Iterable

from transforms.build import BuildJob, CanonicalSink, RawRows, Row, chunks, set_based_first
from transforms.pii import normalise_email, normalise_phone
from transforms.square.normalize import (
    RAW_COLUMNS,
    SquareContext,
    is_return_order,
    normalize,
    normalize_locations,
    normalize_products,
)
from transforms.square.sales_sql import sales_sql, supported

# order child tables re-attached as lists: table -> (key in the parent dict, parent table)
ORDER_CHILDREN = {
    "orders__line_items": ("line_items", "orders"),
    "orders__line_items__modifiers": ("modifiers", "orders__line_items"),
    "orders__tenders": ("tenders", "orders"),
    "orders__returns": ("returns", "orders"),
    "orders__returns__return_line_items": ("return_line_items", "orders__returns"),
}


def changed(raw: RawRows, loads: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(order ids, refund ids) touched by ``loads``.

    A tip edit changes the payment and bumps the order; a refund adds a PaymentRefund and a
    return order, and its completion updates both — so orders, payments and refunds are all
    looked at, and the refund of a return order that changed is rebuilt too.
    """
    orders = raw.changed_ids("orders", "id", loads) | raw.changed_ids("payments", "order_id", loads)
    refunds = raw.changed_ids("refunds", "id", loads)
    if orders:
        refunds |= raw.related_ids("refunds", "id", "order_id", orders)
    return orders, refunds


def _orders(raw: RawRows, ids: Iterable[str]) -> list[Row]:
    """The orders with their child rows, only the columns the normaliser reads (and the keys that
    re-attach the children)."""
    return raw.attach("orders", raw.roots("orders", "id", ids, (*RAW_COLUMNS["orders"], "_dlt_id")), ORDER_CHILDREN,
                      RAW_COLUMNS)


def _payments(raw: RawRows, payment_ids: Iterable[str]) -> dict[str, Row]:
    """The payments the normaliser looks up (a sale's tenders', a refund's), by id, with only the
    columns it reads (payments is the widest raw table: 56 columns, timestamps among them)."""
    return {r["id"]: r for r in raw.roots("payments", "id", set(payment_ids), RAW_COLUMNS["payments"])}


def _catalog(raw: RawRows) -> list[Row]:
    rows = raw.attach("catalog", raw.account_table("catalog"), {
        "catalog__present_at_location_ids": ("present_at_location_ids", "catalog")})
    for row in rows:
        row.setdefault("present_at_location_ids", [])
    return rows


def build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None:
    catalog_rows = _catalog(raw)
    ctx = SquareContext(
        tenant_id=job.tenant_id,
        account_id=job.account_id,
        locations={r["id"]: r for r in raw.account_table("locations")},
        catalog={r["id"]: r for r in catalog_rows},
        team={r["id"]: r for r in raw.account_table("team_members")},
        customers={r["id"]: r for r in raw.account_table("customers")},
        pseudonymize=job.pseudonymizer(),
        pseudonymize_email=job.pseudonymizer(normalise_email),
        pseudonymize_phone=job.pseudonymizer(normalise_phone),
    )
    order_ids, refund_ids = changed(raw, job.loads)
    # many orders: their sales normalised in the warehouse's SQL (refunds below, in Python)
    order_ids = set_based_first(out, order_ids, lambda: supported(ctx, raw.column_types),
                                lambda: sales_sql(ctx, raw.column_types, raw.qualified, "sq"))
    for chunk in chunks(order_ids):
        sale_orders = [o for o in _orders(raw, chunk) if not is_return_order(o)]
        tender_payments = [t["payment_id"] for o in sale_orders for t in o.get("tenders") or [] if t.get("payment_id")]
        ctx.payments = _payments(raw, tender_payments)
        batch = normalize(ctx, sale_orders, [])
        # the raw rows take twice the canonical ones (≈ 120 vs 60 MiB for 10 000 orders): let them go
        # before the write, which needs memory of its own (the Arrow columns, DuckDB's insert)
        del sale_orders, tender_payments
        ctx.payments = {}
        out.write(batch)
        del batch  # (not alive through the next chunk's reads)
    for chunk in chunks(refund_ids):
        refunds = raw.roots("refunds", "id", chunk)
        return_orders = _orders(raw, {r["order_id"] for r in refunds if r.get("order_id")})
        ctx.payments = _payments(raw, [r["payment_id"] for r in refunds if r.get("payment_id")])
        batch = normalize(ctx, return_orders, refunds)
        del refunds, return_orders
        ctx.payments = {}
        out.write(batch)
        del batch
    if job.first_build or raw.table_changed("catalog", job.loads):
        out.replace_products(normalize_products(ctx, catalog_rows))
    inclusive = any(r.get("type") == "TAX" and r.get("tax_data__inclusion_type") == "INCLUSIVE" for r in catalog_rows)
    out.replace_locations(normalize_locations(ctx, lambda _loc: inclusive, job.now))
