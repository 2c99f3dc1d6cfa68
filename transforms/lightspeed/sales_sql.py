"""Lightspeed X-Series sales → canonical rows in set-based SQL (DuckDB): the same rows as
:func:`transforms.lightspeed.normalize.normalize`, column for column, for a build of many sales
(a historical import) — the warehouse joins and sums them in its own threads instead of Python
reading, normalising and converting each one.

Pure: SQL text and the small Python lookups it joins (customers pseudonymised, payment methods,
a line note's modifiers: few distinct values, computed by the normaliser's own functions). The
rules are :mod:`transforms.lightspeed.normalize`'s, read there; what SQL adds:

* money is rounded half-up to the cent once, as there (DuckDB's ``round`` of a DECIMAL rounds half
  away from zero: Python's ``ROUND_HALF_UP``) — for currencies of two decimals only (every other
  build goes through the normaliser: :func:`supported`);
* a line's unit price is its gross over its quantity rounded half-even to the cent, as Python's
  ``Decimal.quantize`` does by default: in integers (``HUGEINT``), exactly;
* a raw column dlt never created (no value seen yet) reads as NULL, as a missing key does there; a
  raw column of another type than the normaliser expects makes :func:`supported` say no.

A test builds the same raw rows both ways and compares every canonical row.
"""

from __future__ import annotations

from collections.abc import Callable

from transforms.build import Lookup, SetBasedSales
from transforms.canonical_sql import (
    Types,
    canonical_id_sql,
    known_zones,
    quantity_sql,
    relation,
    text_literal,
    types_match,
    unit_price_sql,
)
from transforms.lightspeed.normalize import (
    PROVIDER,
    LightspeedContext,
    customer_name,
    note_modifiers,
    payment_method_of,
)
from transforms.money import exponent

MONEY_IN = "DECIMAL(38,9)"  # how dlt loads Lightspeed's amounts (exact decimals)
TSTZ = "TIMESTAMP WITH TIME ZONE"
# raw columns the SQL reads, with the types it was written for
COLUMNS: dict[str, dict[str, str]] = {
    "sales": {"id": "VARCHAR", "outlet_id": "VARCHAR", "register_id": "VARCHAR", "user_id": "VARCHAR",
              "customer_id": "VARCHAR", "status": "VARCHAR", "return_for": "VARCHAR", "sale_date": TSTZ,
              "created_at": TSTZ, "updated_at": TSTZ, "deleted_at": TSTZ, "version": "BIGINT",
              "invoice_number": "VARCHAR", "receipt_number": "VARCHAR", "total_price": MONEY_IN,
              "total_tax": MONEY_IN, "_dlt_load_id": "VARCHAR", "_dlt_id": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "sales__line_items": {"id": "VARCHAR", "product_id": "VARCHAR", "quantity": MONEY_IN, "status": "VARCHAR",
                          "tax_id": "VARCHAR", "total_price": MONEY_IN, "total_tax": MONEY_IN,
                          "total_discount": MONEY_IN, "note": "VARCHAR", "_dlt_parent_id": "VARCHAR",
                          "_dlt_list_idx": "BIGINT"},
    "sales__payments": {"id": "VARCHAR", "amount": MONEY_IN, "retailer_payment_type_id": "VARCHAR",
                        "name": "VARCHAR", "_dlt_parent_id": "VARCHAR", "_dlt_list_idx": "BIGINT"},
    "sales__adjustments": {"type": "VARCHAR", "adjustment_type": "VARCHAR", "value": MONEY_IN,
                           "_dlt_parent_id": "VARCHAR"},
    "outlets": {"id": "VARCHAR", "currency": "VARCHAR", "time_zone": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "taxes": {"id": "VARCHAR", "_dlt_id": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "taxes__rates": {"rate": MONEY_IN, "_dlt_parent_id": "VARCHAR", "_dlt_list_idx": "BIGINT"},
    "products": {"id": "VARCHAR", "name": "VARCHAR", "variant_name": "VARCHAR", "sku": "VARCHAR",
                 "type__name": "VARCHAR", "variant_parent_id": "VARCHAR", "updated_at": TSTZ,
                 "_pos_account_id": "VARCHAR"},
    "users": {"id": "VARCHAR", "display_name": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "registers": {"id": "VARCHAR", "name": "VARCHAR", "_pos_account_id": "VARCHAR"},
}


def supported(ctx: LightspeedContext, types: Types) -> bool:
    """Whether the SQL gives exactly the normaliser's rows here: every outlet's currency has two
    decimals, and each raw column it reads is absent or of the type it was written for
    (``types(table)``: the raw table's columns and types, {} when it does not exist)."""
    return (all(exponent(ctx.currency(outlet)) == 2 for outlet in ctx.outlets) and types_match(COLUMNS, types)
            and known_zones((o.get("time_zone") or "UTC") for o in ctx.outlets.values()))


def _signed(expr: str) -> str:
    return f"(CASE WHEN s.is_return THEN -({expr}) ELSE ({expr}) END)"


def sales_sql(ctx: LightspeedContext, types: Types, name: Callable[[str], str],
              prefix: str) -> SetBasedSales:
    """The set-based build of the sales whose ids are in the key table ``{keys}`` (column ``id``):
    intermediate tables named with ``prefix``; ``types``/``name``: the raw tables' columns and
    qualified names."""
    def raw(table: str) -> str:
        return relation(COLUMNS, table, types, name)

    tenant, account = text_literal(ctx.tenant_id), text_literal(ctx.account_id)
    provider = text_literal(PROVIDER)
    sale, line, customers, methods, notes = (f"{prefix}_{n}" for n in ("sale", "line", "customer", "method", "note"))
    sale_id = canonical_id_sql(tenant, provider, "'sale'", "s.id")
    return_id = canonical_id_sql(tenant, provider, "'return'", "s.id")
    prepare = (
        f"""CREATE OR REPLACE TEMP TABLE {sale} AS
        SELECT s._dlt_id AS dlt_id, s.id, coalesce(s.outlet_id, '') AS outlet, s.status, s.user_id,
               s.register_id, s.customer_id, s.return_for, s.total_price, s.total_tax, s.version,
               s.updated_at, s._dlt_load_id, s.receipt_number, s.invoice_number,
               coalesce(s.return_for, '') <> '' AS is_return,
               coalesce(s.sale_date, s.created_at) AS sold_at,
               coalesce(nullif(o.currency, ''), 'EUR') AS currency,
               coalesce(nullif(o.time_zone, ''), 'UTC') AS tz
        FROM {raw("sales")} s JOIN {{keys}} k ON s.id = k.id
        LEFT JOIN (SELECT * FROM {raw("outlets")} WHERE _pos_account_id = {account}) o ON o.id = s.outlet_id
        WHERE s._pos_account_id = {account} AND s.deleted_at IS NULL""",
        f"""CREATE OR REPLACE TEMP TABLE {sale} AS
        SELECT s.*, CASE WHEN is_return THEN {return_id} ELSE {sale_id} END AS tx_id,
               CASE WHEN is_return THEN 'refund' WHEN status = 'VOIDED' THEN 'void' ELSE 'sale' END AS kind,
               CASE WHEN is_return THEN (CASE status WHEN 'CLOSED' THEN 'completed' WHEN 'VOIDED' THEN 'failed'
                                          ELSE 'pending' END)
                    ELSE (CASE status WHEN 'CLOSED' THEN 'completed' WHEN 'VOIDED' THEN 'voided'
                          ELSE 'pending' END) END AS tx_status,
               timezone(tz, sold_at)::DATE AS business_date
        FROM {sale} s""",
        f"""CREATE OR REPLACE TEMP TABLE {line} AS
        WITH rates AS (
            SELECT t.id, coalesce((SELECT r.rate FROM {raw("taxes__rates")} r WHERE r._dlt_parent_id = t._dlt_id
                                   ORDER BY r._dlt_list_idx LIMIT 1), 0) AS rate
            FROM {raw("taxes")} t WHERE t._pos_account_id = {account}),
        kept AS (
            SELECT s.dlt_id, s.tx_id, s.outlet, s.business_date, s.kind, s.currency, s.sold_at, l.*,
                   row_number() OVER (PARTITION BY s.dlt_id ORDER BY l._dlt_list_idx) - 1 AS n,
                   round({_signed("coalesce(l.total_price, 0) + coalesce(l.total_tax, 0)")}, 2) AS net,
                   round({_signed("coalesce(l.total_tax, 0)")}, 2) AS tax,
                   round({_signed("coalesce(l.total_discount, 0) * (1 + coalesce(r.rate, 0))")}, 2) AS discount,
                   {quantity_sql(_signed("coalesce(l.quantity, 0)"))} AS qty
            FROM {sale} s JOIN {raw("sales__line_items")} l ON l._dlt_parent_id = s.dlt_id
            LEFT JOIN rates r ON r.id = l.tax_id
            WHERE l.status IS DISTINCT FROM 'VOIDED')
        SELECT *, net + discount AS gross FROM kept""",
    )
    # the product as sold: the raw product unless it changed after the sale; then the version
    # recorded as valid at the sale (the first by version), else the raw product again
    version = f"""(SELECT {{'name': v.name, 'variation_name': v.variation_name, 'sku': v.sku,
                            'category': v.category, 'parent': v.pos_parent_item_id}}
                   FROM pos.pos_products v
                   WHERE v.tenant_id = {tenant} AND v.pos_provider = {provider} AND v.pos_item_id = l.product_id
                     AND v.valid_from IS NOT NULL AND v.valid_from <= l.sold_at
                     AND (v.valid_to IS NULL OR l.sold_at < v.valid_to)
                   ORDER BY v.version LIMIT 1)"""
    as_sold = f"""CASE WHEN l.sold_at IS NOT NULL AND p.updated_at IS NOT NULL AND p.updated_at > l.sold_at
                  THEN {version} END"""
    items = f"""
        SELECT {canonical_id_sql("x.tx_id", "'line'", "coalesce(nullif(x.id, ''), x.n::VARCHAR)")} AS id,
               x.tx_id AS transaction_id, {tenant} AS tenant_id, {account} AS pos_account_id,
               {provider} AS pos_provider, x.outlet AS location_id, x.business_date, x.kind AS transaction_type,
               x.n + 1 AS line_number, x.id AS pos_line_id, x.product_id AS pos_item_id,
               CASE WHEN x.v IS NULL THEN x.variant_parent_id ELSE x.v.parent END AS pos_parent_item_id,
               coalesce(nullif(CASE WHEN x.v IS NULL THEN x.name ELSE x.v.name END, ''), '(unknown product)')
                 AS product_name,
               CASE WHEN x.v IS NULL THEN x.variant_name ELSE x.v.variation_name END AS variation_name,
               nullif(CASE WHEN x.v IS NULL THEN x.sku ELSE x.v.sku END, '') AS product_sku,
               CASE WHEN x.v IS NULL THEN x.type__name ELSE x.v.category END AS category,
               x.qty AS quantity, NULL::VARCHAR AS unit,
               {unit_price_sql("x.gross", "x.qty")} AS unit_price,
               x.gross AS gross_amount, x.discount AS discount_amount, x.tax AS tax_amount, x.net AS line_total,
               x.currency, m.modifiers, NULL::VARCHAR AS mapped_product_id, false AS is_mapped
        FROM (SELECT l.*, p.variant_parent_id, p.name, p.variant_name, p.sku, p.type__name, {as_sold} AS v
              FROM {line} l
              LEFT JOIN (SELECT * FROM {raw("products")} WHERE _pos_account_id = {account}) p ON p.id = l.product_id
             ) x
        LEFT JOIN {notes} m ON m.note = x.note"""
    payments = f"""(SELECT p.*, row_number() OVER (PARTITION BY p._dlt_parent_id ORDER BY p._dlt_list_idx) - 1 AS n
                    FROM {raw("sales__payments")} p JOIN {sale} s ON p._dlt_parent_id = s.dlt_id)"""
    tenders = f"""
        SELECT {canonical_id_sql("s.tx_id", "'tender'", "coalesce(nullif(p.id, ''), p.n::VARCHAR)")} AS id,
               s.tx_id AS transaction_id, {tenant} AS tenant_id, {provider} AS pos_provider, p.id AS pos_tender_id,
               m.method, NULL::VARCHAR AS card_brand, NULL::VARCHAR AS card_last_four, NULL::VARCHAR AS entry_method,
               coalesce(round(p.amount, 2), 0) AS amount, 0 AS tip_amount, s.currency, 'completed' AS status
        FROM {payments} p JOIN {sale} s ON p._dlt_parent_id = s.dlt_id
        LEFT JOIN {methods} m ON m.payment_type_id IS NOT DISTINCT FROM p.retailer_payment_type_id
                             AND m.name IS NOT DISTINCT FROM p.name
        WHERE NOT s.is_return"""

    def adjustment(kind: str) -> str:
        return f"""coalesce((SELECT round({_signed("coalesce(sum(coalesce(a.value, 0)), 0)")}, 2)
                              FROM {raw("sales__adjustments")} a
                              WHERE a._dlt_parent_id = s.dlt_id
                                AND coalesce(nullif(a.type, ''), a.adjustment_type) = '{kind}'), 0)"""

    transactions = f"""
        SELECT s.tx_id AS id, {tenant} AS tenant_id, {account} AS pos_account_id, {provider} AS pos_provider,
               s.outlet AS location_id, s.id AS pos_transaction_id, s.kind AS transaction_type,
               s.tx_status AS status,
               CASE WHEN s.is_return THEN {canonical_id_sql(tenant, provider, "'sale'", "s.return_for")} END
                 AS refunded_transaction_id,
               s.sold_at AS transaction_date, s.business_date,
               coalesce(l.subtotal, 0) AS subtotal, coalesce(l.discount, 0) AS discount_amount,
               {adjustment("SURCHARGE")} AS service_charge_amount, coalesce(l.tax, 0) AS tax_amount,
               {adjustment("TIP")} AS tip_amount,
               round({_signed("coalesce(s.total_price, 0) + coalesce(s.total_tax, 0)")}, 2) AS total_amount,
               s.currency, coalesce(l.qty, 0) AS items_quantity,
               CASE WHEN pm.methods IS NULL THEN NULL WHEN pm.distinct_methods = 1 THEN pm.method ELSE 'split' END
                 AS payment_method,
               NULL::VARCHAR AS card_brand, NULL::VARCHAR AS card_last_four, s.user_id AS cashier_id, u.display_name AS cashier_name,
               s.register_id AS device_id, r.name AS device_name,
               coalesce(nullif(s.receipt_number, ''), s.invoice_number) AS receipt_number,
               c.customer_ref, c.customer_name, c.customer_email, c.customer_phone,
               CASE WHEN coalesce(s.version, 0) = 0 THEN '' ELSE s.version::VARCHAR END AS source_version,
               s.updated_at AS source_updated_at, s._dlt_load_id AS source_load_id
        FROM {sale} s
        LEFT JOIN (SELECT dlt_id, sum(gross) AS subtotal, sum(discount) AS discount, sum(tax) AS tax, sum(qty) AS qty
                   FROM {line} GROUP BY dlt_id) l ON l.dlt_id = s.dlt_id
        LEFT JOIN (SELECT p._dlt_parent_id, count(*) AS methods, count(DISTINCT m.method) AS distinct_methods,
                          min(m.method) AS method
                   FROM {payments} p
                   LEFT JOIN {methods} m ON m.payment_type_id IS NOT DISTINCT FROM p.retailer_payment_type_id
                                        AND m.name IS NOT DISTINCT FROM p.name
                   GROUP BY p._dlt_parent_id) pm ON pm._dlt_parent_id = s.dlt_id
        LEFT JOIN (SELECT * FROM {raw("users")} WHERE _pos_account_id = {account}) u ON u.id = s.user_id
        LEFT JOIN (SELECT * FROM {raw("registers")} WHERE _pos_account_id = {account}) r ON r.id = s.register_id
        LEFT JOIN {customers} c ON c.customer_id IS NOT DISTINCT FROM s.customer_id"""
    stale_ids = f"""
        SELECT {canonical_id_sql(tenant, provider, "'sale'", "k.id")} AS id FROM {{keys}} k
        UNION ALL SELECT {canonical_id_sql(tenant, provider, "'return'", "k.id")} FROM {{keys}} k"""

    def customer(key: tuple[str | None]) -> tuple[str | None, ...]:
        customer_id = key[0]
        found = ctx.customers.get(customer_id or "") or {}
        return (ctx.pseudonymize(customer_id), ctx.pseudonymize(customer_name(found)),
                ctx.pseudonymize_email(found.get("email")),
                ctx.pseudonymize_phone(found.get("phone") or found.get("mobile")))

    lookups = (
        Lookup(customers, f"SELECT DISTINCT customer_id FROM {sale}", ("customer_id",),
               ("customer_ref", "customer_name", "customer_email", "customer_phone"), customer),
        Lookup(methods, f"SELECT DISTINCT p.retailer_payment_type_id, p.name FROM {payments} p",
               ("payment_type_id", "name"), ("method",),
               lambda key: (payment_method_of(ctx, {"retailer_payment_type_id": key[0], "name": key[1]}),)),
        Lookup(notes, f"SELECT DISTINCT note FROM {line} WHERE note IS NOT NULL", ("note",), ("modifiers",),
               lambda key: (note_modifiers(key[0]),)),
    )
    return SetBasedSales(prepare=prepare, lookups=lookups, transactions=transactions, items=items,
                         tenders=tenders, stale_ids=stale_ids)
