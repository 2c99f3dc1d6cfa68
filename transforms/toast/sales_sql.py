"""Toast checks → canonical rows in set-based SQL (DuckDB): the same rows as
:func:`transforms.toast.normalize.normalize`, column for column, for a build of many orders (a
historical import). An order with a refunded payment (its refund rows share out quantities by
Decimal arithmetic) is left to the normaliser whole: a few per hundred.

Pure: SQL text and the small Python lookups it joins (guests pseudonymised, cashier and device
names, menu items, each distinct modifier as the normaliser's JSON) computed by the normaliser's own
functions and context. The rules are :mod:`transforms.toast.normalize`'s; what SQL adds:

* Toast's amounts are the decimal text of doubles (as the source keeps them): cast to
  ``DECIMAL(38,20)`` and rounded half-up to the cent by DuckDB's DECIMAL ``round`` — the text's own
  digits, as :func:`~transforms.money.from_major` rounds them (a double's leftover of more than 20
  decimals cut to 20 first, which never changes the cent: :func:`_money`);
* a selection's unit price is its gross over its quantity rounded half-even, in integers;
* ``source_version`` is Python's ``str`` of the UTC instant (microseconds only when not zero);
* a raw column dlt never created reads as NULL; one of another type makes :func:`supported` say no.

A test builds the same raw rows both ways and compares every canonical row.
"""

from __future__ import annotations

from collections.abc import Callable

from transforms.build import Lookup, SetBasedSales
from transforms.canonical_sql import (
    Types,
    canonical_id_sql,
    decimal_text_sql,
    json_list_sql,
    modifier_json,
    quantity_sql,
    relation,
    text_literal,
    types_match,
    unit_price_sql,
)
from transforms.money import exponent, from_major
from transforms.pii import full_name
from transforms.toast.normalize import PROVIDER, ToastContext

TSTZ = "TIMESTAMP WITH TIME ZONE"
TEXT = "VARCHAR"
COLUMNS: dict[str, dict[str, str]] = {
    "orders": {"guid": TEXT, "_pos_restaurant_guid": TEXT, "business_date": "BIGINT", "opened_date": TSTZ,
               "closed_date": TSTZ, "modified_date": TSTZ, "deleted": "BOOLEAN", "voided": "BOOLEAN",
               "display_number": TEXT, "server__guid": TEXT, "created_device__id": TEXT, "_dlt_load_id": TEXT,
               "_dlt_id": TEXT, "_pos_account_id": TEXT},
    "orders__checks": {"guid": TEXT, "display_number": TEXT, "closed_date": TSTZ, "paid_date": TSTZ,
                       "modified_date": TSTZ, "deleted": "BOOLEAN", "voided": "BOOLEAN", "payment_status": TEXT,
                       "customer__guid": TEXT, "customer__first_name": TEXT, "customer__last_name": TEXT,
                       "customer__email": TEXT, "customer__phone": TEXT, "_dlt_parent_id": TEXT,
                       "_dlt_list_idx": "BIGINT", "_dlt_id": TEXT},
    "orders__checks__selections": {"guid": TEXT, "display_name": TEXT, "item__guid": TEXT, "item_group__guid": TEXT,
                                   "quantity": TEXT, "unit_of_measure": TEXT, "pre_discount_price": TEXT,
                                   "price": TEXT, "tax": TEXT, "tax_inclusion": TEXT, "voided": "BOOLEAN",
                                   "_dlt_parent_id": TEXT, "_dlt_list_idx": "BIGINT", "_dlt_id": TEXT},
    "orders__checks__selections__modifiers": {"display_name": TEXT, "item__guid": TEXT, "price": TEXT,
                                              "quantity": TEXT, "_dlt_parent_id": TEXT, "_dlt_list_idx": "BIGINT"},
    "orders__checks__payments": {"guid": TEXT, "type": TEXT, "amount": TEXT, "tip_amount": TEXT,
                                 "payment_status": TEXT, "card_type": TEXT, "card_entry_mode": TEXT,
                                 "last4_digits": TEXT, "refund__refund_amount": TEXT, "_dlt_parent_id": TEXT,
                                 "_dlt_root_id": TEXT, "_dlt_list_idx": "BIGINT"},
    "orders__checks__applied_service_charges": {"charge_amount": TEXT, "_dlt_parent_id": TEXT},
}


def supported(ctx: ToastContext, types: Types) -> bool:
    """Whether the SQL gives exactly the normaliser's rows here: every restaurant's currency has two
    decimals and each raw column it reads is absent or of the type it was written for."""
    return all(exponent(ctx.currency(guid)) == 2 for guid in ctx.restaurants) and types_match(COLUMNS, types)


def _money(expr: str) -> str:
    """:func:`~transforms.money.from_major` of a text column (None or '' → 0.00), half up. A plain
    decimal text of more than 20 decimals (the source's text of a double's leftover, e.g.
    ``1.4210854715202004E-14`` as ``0.000000000000014210854715202004``) is cut to 20 decimals, not
    rounded: cutting digits beyond the 20th never moves a value across a half-cent (a multiple of
    0.005 has 3 decimals), where DuckDB's rounding cast to 20 decimals could (…0049999…9 → …005),
    so the result is the normaliser's. Any other text of more than 20 decimals (an exponent after
    them) fails the build rather than be rounded twice."""
    return (f"(CASE WHEN regexp_full_match({expr}, '[-+]?[0-9]*\\.[0-9]{{21,}}') "
            f"THEN round(regexp_replace({expr}, '(\\.[0-9]{{20}})[0-9]+$', '\\1')::DECIMAL(38,20), 2) "
            f"WHEN regexp_matches({expr}, '\\.[0-9]{{21,}}') "
            f"THEN error('an amount of more than 20 decimals: ' || {expr}) "
            f"ELSE coalesce(round(nullif({expr}, '')::DECIMAL(38,20), 2), 0) END)")


def sales_sql(ctx: ToastContext, types: Types, name: Callable[[str], str], prefix: str) -> SetBasedSales:
    """The set-based build of the orders whose guids are in the key table ``{keys}`` (column ``id``),
    but those with a refunded payment (``left_out``)."""
    def raw(table: str) -> str:
        return relation(COLUMNS, table, types, name)

    tenant, account = text_literal(ctx.tenant_id), text_literal(ctx.account_id)
    provider = text_literal(PROVIDER)
    order, check, sel, pay, guests, staff, devices, items, modifiers, currencies, lowered = (
        f"{prefix}_{n}" for n in ("order", "check", "selection", "payment", "guest", "staff", "device", "item",
                                  "modifier", "currency", "lowered"))
    refunded = f"""(SELECT DISTINCT p._dlt_root_id FROM {raw("orders__checks__payments")} p
                    WHERE coalesce(p.refund__refund_amount, '') <> '')"""
    quantity = quantity_sql("coalesce(" + decimal_text_sql("nullif(s.quantity, '')") + ", 0)")
    prepare = (
        f"""CREATE OR REPLACE TEMP TABLE {order} AS
        SELECT o.*, o._dlt_id IN {refunded} AS has_refund
        FROM {raw("orders")} o JOIN {{keys}} k ON o.guid = k.id WHERE o._pos_account_id = {account}""",
        f"""CREATE OR REPLACE TEMP TABLE {check} AS
        SELECT c.*, o._dlt_id AS order_dlt_id, o._pos_restaurant_guid AS location_id, o.server__guid,
               o.created_device__id, o.display_number AS order_display_number, o.modified_date AS order_modified,
               o._dlt_load_id,
               coalesce(cur.currency, 'USD') AS currency,
               {canonical_id_sql(tenant, provider, "'check'", "c.guid")} AS tx_id,
               coalesce(o.voided, false) OR coalesce(c.voided, false) AS is_void,
               CASE WHEN is_void THEN 'void' ELSE 'sale' END AS kind,
               CASE WHEN coalesce(o.business_date, 0) = 0 THEN NULL  -- the normaliser's slices of its digits
                    ELSE make_date(substr(o.business_date::VARCHAR, 1, 4)::INTEGER,
                                   substr(o.business_date::VARCHAR, 5, 2)::INTEGER,
                                   substr(o.business_date::VARCHAR, 7, 2)::INTEGER) END AS business_date,
               coalesce(c.closed_date, c.paid_date, o.closed_date, o.opened_date) AS sold_at
        FROM {order} o JOIN {raw("orders__checks")} c ON c._dlt_parent_id = o._dlt_id
        LEFT JOIN {currencies} cur ON cur.guid = coalesce(o._pos_restaurant_guid, '')
        WHERE NOT o.has_refund AND NOT coalesce(o.deleted, false) AND NOT coalesce(c.deleted, false)""",
        f"""CREATE OR REPLACE TEMP TABLE {sel} AS
        SELECT c.tx_id, c.location_id, c.currency, c.kind, c.business_date, c._dlt_id AS check_dlt_id, s.*,
               row_number() OVER (PARTITION BY s._dlt_parent_id ORDER BY s._dlt_list_idx) - 1 AS n,
               {_money("s.pre_discount_price")} AS gross, {_money("s.price")} AS net, {_money("s.tax")} AS tax_amount,
               {quantity} AS qty,
               s.tax_inclusion IS DISTINCT FROM 'INCLUDED' AS tax_added
        FROM {check} c JOIN {raw("orders__checks__selections")} s ON s._dlt_parent_id = c._dlt_id
        WHERE NOT coalesce(s.voided, false)""",
        f"""CREATE OR REPLACE TEMP TABLE {pay} AS
        SELECT c.tx_id, c.currency, c._dlt_id AS check_dlt_id, p.*,
               row_number() OVER (PARTITION BY p._dlt_parent_id ORDER BY p._dlt_list_idx) - 1 AS n,
               CASE WHEN p.type = 'CASH' THEN 'cash'
                    WHEN p.type = 'CREDIT' THEN (CASE WHEN coalesce(p.card_entry_mode, '') IN
                         ('CONTACTLESS', 'NFC', 'APPLE_PAY', 'GOOGLE_PAY') THEN 'contactless' ELSE 'card' END)
                    ELSE 'other' END AS method
        FROM {check} c JOIN {raw("orders__checks__payments")} p ON p._dlt_parent_id = c._dlt_id
        WHERE p.payment_status IS DISTINCT FROM 'VOIDED'""",
    )
    selections = f"""(SELECT _dlt_parent_id, sum(gross) AS gross, sum(net) AS net, sum(tax_amount) AS tax,
                             sum(CASE WHEN tax_added THEN tax_amount ELSE 0 END) AS added_tax, sum(qty) AS qty
                      FROM {sel} GROUP BY _dlt_parent_id)"""
    payments = f"""(SELECT _dlt_parent_id, sum({_money("tip_amount")}) AS tip, count(DISTINCT method) AS methods,
                           min(method) AS method,
                           arg_min({{'brand': card_type, 'last_4': last4_digits}}, _dlt_list_idx)
                             FILTER (WHERE coalesce(last4_digits, '') <> '') AS card
                    FROM {pay} GROUP BY _dlt_parent_id)"""
    service = f"""(SELECT a._dlt_parent_id, sum({_money("a.charge_amount")}) AS service
                   FROM {raw("orders__checks__applied_service_charges")} a JOIN {check} c ON a._dlt_parent_id = c._dlt_id
                   GROUP BY a._dlt_parent_id)"""
    utc = "timezone('UTC', coalesce(c.modified_date, c.order_modified))"
    transactions = f"""
        SELECT c.tx_id AS id, {tenant} AS tenant_id, {account} AS pos_account_id, {provider} AS pos_provider,
               c.location_id, c.guid AS pos_transaction_id,
               c.kind AS transaction_type,
               CASE WHEN c.is_void THEN 'voided' WHEN c.payment_status IN ('PAID', 'CLOSED') THEN 'completed'
                    ELSE 'pending' END AS status,
               NULL::VARCHAR AS refunded_transaction_id, c.sold_at AS transaction_date,
               c.business_date,
               coalesce(s.gross, 0) AS subtotal, coalesce(s.gross, 0) - coalesce(s.net, 0) AS discount_amount,
               coalesce(sc.service, 0) AS service_charge_amount, coalesce(s.tax, 0) AS tax_amount,
               coalesce(p.tip, 0) AS tip_amount,
               coalesce(s.net, 0) + coalesce(sc.service, 0) + coalesce(s.added_tax, 0) + coalesce(p.tip, 0)
                 AS total_amount,
               c.currency, coalesce(s.qty, 0) AS items_quantity,
               CASE WHEN p.methods IS NULL THEN NULL WHEN p.methods = 1 THEN p.method ELSE 'split' END
                 AS payment_method,
               p.card.brand AS card_brand, p.card.last_4 AS card_last_four,
               c.server__guid AS cashier_id, st.cashier_name, c.created_device__id AS device_id, d.device_name,
               coalesce(nullif(c.display_number, ''), c.order_display_number) AS receipt_number,
               g.customer_ref, g.customer_name, g.customer_email, g.customer_phone,
               CASE WHEN {utc} IS NULL THEN ''
                    WHEN microsecond({utc}) % 1000000 = 0 THEN strftime({utc}, '%Y-%m-%d %H:%M:%S') || '+00:00'
                    ELSE strftime({utc}, '%Y-%m-%d %H:%M:%S.%f') || '+00:00' END AS source_version,
               c.order_modified AS source_updated_at, c._dlt_load_id AS source_load_id
        FROM {check} c
        LEFT JOIN {selections} s ON s._dlt_parent_id = c._dlt_id
        LEFT JOIN {payments} p ON p._dlt_parent_id = c._dlt_id
        LEFT JOIN {service} sc ON sc._dlt_parent_id = c._dlt_id
        LEFT JOIN {staff} st ON st.guid IS NOT DISTINCT FROM c.server__guid
        LEFT JOIN {devices} d ON d.device_id IS NOT DISTINCT FROM c.created_device__id
        LEFT JOIN {guests} g ON g.guid IS NOT DISTINCT FROM c.customer__guid
          AND g.first_name IS NOT DISTINCT FROM c.customer__first_name
          AND g.last_name IS NOT DISTINCT FROM c.customer__last_name
          AND g.email IS NOT DISTINCT FROM c.customer__email AND g.phone IS NOT DISTINCT FROM c.customer__phone"""
    line_modifiers = f"""(SELECT md._dlt_parent_id,
                                 {json_list_sql("lk.element", "md._dlt_list_idx")} AS modifiers
                          FROM {raw("orders__checks__selections__modifiers")} md
                          JOIN {sel} s ON md._dlt_parent_id = s._dlt_id
                          JOIN {modifiers} lk ON lk.name IS NOT DISTINCT FROM md.display_name
                            AND lk.quantity IS NOT DISTINCT FROM md.quantity
                            AND lk.price IS NOT DISTINCT FROM md.price
                            AND lk.item_guid IS NOT DISTINCT FROM md.item__guid AND lk.currency = s.currency
                          GROUP BY md._dlt_parent_id)"""
    items_sql = f"""
        SELECT {canonical_id_sql("s.tx_id", "'line'", "coalesce(nullif(s.guid, ''), s.n::VARCHAR)")} AS id,
               s.tx_id AS transaction_id, {tenant} AS tenant_id, {account} AS pos_account_id,
               {provider} AS pos_provider, s.location_id, s.business_date, s.kind AS transaction_type,
               s.n + 1 AS line_number, s.guid AS pos_line_id, s.item__guid AS pos_item_id,
               s.item_group__guid AS pos_parent_item_id,
               coalesce(nullif(s.display_name, ''), nullif(mi.name, ''), '(open item)') AS product_name,
               NULL::VARCHAR AS variation_name, nullif(mi.sku, '') AS product_sku, mi.category,
               s.qty AS quantity,
               CASE WHEN coalesce(nullif(s.unit_of_measure, ''), 'NONE') = 'NONE' THEN NULL
                    ELSE lu.lowered END AS unit,
               {unit_price_sql("s.gross", "s.qty")} AS unit_price,
               s.gross AS gross_amount, s.gross - s.net AS discount_amount, s.tax_amount,
               s.net + CASE WHEN s.tax_added THEN s.tax_amount ELSE 0 END AS line_total,
               s.currency, md.modifiers, NULL::VARCHAR AS mapped_product_id, false AS is_mapped
        FROM {sel} s
        LEFT JOIN {items} mi ON mi.guid = s.item__guid
        LEFT JOIN {lowered} lu ON lu.text = s.unit_of_measure
        LEFT JOIN {line_modifiers} md ON md._dlt_parent_id = s._dlt_id"""
    tenders = f"""
        SELECT {canonical_id_sql("p.tx_id", "'tender'", "coalesce(nullif(p.guid, ''), p.n::VARCHAR)")} AS id,
               p.tx_id AS transaction_id, {tenant} AS tenant_id, {provider} AS pos_provider, p.guid AS pos_tender_id,
               p.method, p.card_type AS card_brand, p.last4_digits AS card_last_four,
               p.card_entry_mode AS entry_method, {_money("p.amount")} AS amount,
               {_money("p.tip_amount")} AS tip_amount, p.currency,
               nullif(lw.lowered, '') AS status
        FROM {pay} p LEFT JOIN {lowered} lw ON lw.text = p.payment_status"""
    # every check and refund the orders may own (deleted checks, undone refunds disappear); not the left out
    all_checks = f"""(SELECT c.guid, c._dlt_id FROM {order} o JOIN {raw("orders__checks")} c
                      ON c._dlt_parent_id = o._dlt_id WHERE NOT o.has_refund)"""
    stale_ids = f"""
        SELECT {canonical_id_sql(tenant, provider, "'check'", "c.guid")} AS id FROM {all_checks} c
        UNION ALL
        SELECT {canonical_id_sql(tenant, provider, "'refund'", "p.guid")} FROM {all_checks} c
        JOIN {raw("orders__checks__payments")} p ON p._dlt_parent_id = c._dlt_id"""

    def guest(key: tuple[str | None, ...]) -> tuple[str | None, ...]:
        guid, first, last, email, phone = key
        return (ctx.pseudonymize(guid), ctx.pseudonymize(full_name(first, last)), ctx.pseudonymize_email(email),
                ctx.pseudonymize_phone(phone))

    def modifier(key: tuple[str | None, ...]) -> tuple[str]:
        display_name, qty, price, item_guid, currency = key
        return (modifier_json(display_name, qty, str(from_major(price, currency or "USD")), item_guid),)

    def menu_item(key: tuple[str | None, ...]) -> tuple[str | None, ...]:
        item = ctx.menu_items.get(key[0] or "") or {}
        return item.get("name"), item.get("sku"), item.get("sales_category__name")

    lookups = (
        Lookup(guests, f"""SELECT DISTINCT customer__guid, customer__first_name, customer__last_name, customer__email,
                                  customer__phone FROM {check}""",
               ("guid", "first_name", "last_name", "email", "phone"),
               ("customer_ref", "customer_name", "customer_email", "customer_phone"), guest),
        Lookup(staff, f"SELECT DISTINCT server__guid FROM {check}", ("guid",), ("cashier_name",),
               lambda key: (ctx.cashier_name(key[0]),)),
        Lookup(devices, f"SELECT DISTINCT created_device__id FROM {check}", ("device_id",), ("device_name",),
               lambda key: (ctx.device_name(key[0]),)),
        Lookup(items, f"SELECT DISTINCT item__guid FROM {sel} WHERE item__guid IS NOT NULL", ("guid",),
               ("name", "sku", "category"), menu_item),
        Lookup(modifiers, f"""SELECT DISTINCT md.display_name, md.quantity, md.price, md.item__guid, s.currency
                              FROM {raw("orders__checks__selections__modifiers")} md
                              JOIN {sel} s ON md._dlt_parent_id = s._dlt_id""",
               ("name", "quantity", "price", "item_guid", "currency"), ("element",), modifier),
        # Python's lower() (DuckDB's differs beyond ASCII: 'İ', final sigma)
        Lookup(lowered, f"""SELECT DISTINCT text FROM (SELECT unit_of_measure AS text FROM {sel}
                                                    UNION SELECT payment_status FROM {pay}) WHERE text IS NOT NULL""",
               ("text",), ("lowered",), lambda key: (key[0].lower(),)),
    )
    currency_rows = f"""CREATE OR REPLACE TEMP TABLE {currencies} AS SELECT * FROM (VALUES {", ".join(
        f"({text_literal(guid)}, {text_literal(ctx.currency(guid))})" for guid in ctx.restaurants) or "(NULL, NULL)"})
        AS r(guid, currency)"""
    return SetBasedSales(prepare=(currency_rows, *prepare), lookups=lookups, transactions=transactions,
                         items=items_sql, tenders=tenders, stale_ids=stale_ids,
                         left_out=f"SELECT guid AS id FROM {order} WHERE has_refund")
