"""Square sales (orders that are not return orders) → canonical rows in set-based SQL (DuckDB): the
same rows as :func:`transforms.square.normalize.normalize_sale`, column for column, for a build of
many orders (a historical import). Refunds (PaymentRefunds and their return orders, a few per
hundred sales) stay with the normaliser.

Pure: SQL text and the small Python lookups it joins (customers pseudonymised, each distinct
modifier as the normaliser's JSON). The rules are :mod:`transforms.square.normalize`'s; what SQL adds:

* integer minor units → major units by multiplying by the currency's quantum
  (:func:`~transforms.canonical_sql.minor_units_sql`): exact, as :func:`~transforms.money.from_minor`;
* a line's modifiers are the normaliser's JSON list: each element the lookup's ``json.dumps`` of
  it, joined in list order with ``json.dumps``' own separator;
* a raw column dlt never created reads as NULL; one of another type than the SQL expects makes
  :func:`supported` say no (the normaliser runs).

A test builds the same raw rows both ways and compares every canonical row.
"""

from __future__ import annotations

from collections.abc import Callable

from transforms.build import Lookup, SetBasedSales
from transforms.canonical_sql import (
    Types,
    canonical_id_sql,
    cents_sql,
    decimal_text_sql,
    json_list_sql,
    known_zones,
    minor_units_sql,
    modifier_json,
    quantity_sql,
    relation,
    text_literal,
    types_match,
)
from transforms.money import exponent
from transforms.square.normalize import PROVIDER, SquareContext, customer_columns

TSTZ = "TIMESTAMP WITH TIME ZONE"
MONEY_IN = "BIGINT"  # Square's amounts: integer minor units
COLUMNS: dict[str, dict[str, str]] = {
    "orders": {"id": "VARCHAR", "location_id": "VARCHAR", "state": "VARCHAR", "version": "BIGINT",
               "customer_id": "VARCHAR", "closed_at": TSTZ, "updated_at": TSTZ, "created_at": TSTZ,
               "total_money__currency": "VARCHAR", "total_money__amount": MONEY_IN,
               "total_discount_money__amount": MONEY_IN, "total_service_charge_money__amount": MONEY_IN,
               "total_tax_money__amount": MONEY_IN, "total_tip_money__amount": MONEY_IN,
               "_dlt_load_id": "VARCHAR", "_dlt_id": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "orders__line_items": {"uid": "VARCHAR", "catalog_object_id": "VARCHAR", "name": "VARCHAR",
                           "variation_name": "VARCHAR", "quantity": "VARCHAR",
                           "quantity_unit__measurement_unit__weight_unit": "VARCHAR",
                           "base_price_money__amount": MONEY_IN, "total_discount_money__amount": MONEY_IN,
                           "total_tax_money__amount": MONEY_IN, "total_money__amount": MONEY_IN,
                           "gross_sales_money__amount": MONEY_IN, "_dlt_parent_id": "VARCHAR",
                           "_dlt_list_idx": "BIGINT", "_dlt_id": "VARCHAR"},
    "orders__line_items__modifiers": {"name": "VARCHAR", "quantity": "VARCHAR", "base_price_money__amount": MONEY_IN,
                                      "catalog_object_id": "VARCHAR", "_dlt_parent_id": "VARCHAR",
                                      "_dlt_list_idx": "BIGINT"},
    "orders__tenders": {"id": "VARCHAR", "type": "VARCHAR", "payment_id": "VARCHAR", "amount_money__amount": MONEY_IN,
                        "tip_money__amount": MONEY_IN, "card_details__card__card_brand": "VARCHAR",
                        "card_details__card__last_4": "VARCHAR", "card_details__entry_method": "VARCHAR",
                        "card_details__status": "VARCHAR", "_dlt_parent_id": "VARCHAR", "_dlt_list_idx": "BIGINT"},
    "orders__returns": {"_dlt_parent_id": "VARCHAR"},
    "payments": {"id": "VARCHAR", "team_member_id": "VARCHAR", "device_details__device_id": "VARCHAR",
                 "device_details__device_name": "VARCHAR", "receipt_number": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "locations": {"id": "VARCHAR", "timezone": "VARCHAR", "currency": "VARCHAR", "_pos_account_id": "VARCHAR"},
    "catalog": {"id": "VARCHAR", "item_variation_data__item_id": "VARCHAR", "item_variation_data__sku": "VARCHAR",
                "item_data__reporting_category__id": "VARCHAR", "category_data__name": "VARCHAR",
                "_pos_account_id": "VARCHAR"},
    "team_members": {"id": "VARCHAR", "given_name": "VARCHAR", "family_name": "VARCHAR", "_pos_account_id": "VARCHAR"},
}


def supported(ctx: SquareContext, types: Types) -> bool:
    """Whether the SQL gives exactly the normaliser's rows here: every location's currency has two
    decimals and each raw column it reads is absent or of the type it was written for."""
    return (all(exponent(ctx.currency(loc)) == 2 for loc in ctx.locations) and types_match(COLUMNS, types)
            and known_zones((loc.get("timezone") or "UTC") for loc in ctx.locations.values()))


def _method(t: str) -> str:
    """A tender's method (:func:`transforms.square.normalize._tender_method`) of tender alias ``t``."""
    return f"""(CASE WHEN {t}.type = 'CASH' THEN 'cash' WHEN {t}.type = 'WALLET' THEN 'mobile'
                     WHEN {t}.type IN ('CARD', 'THIRD_PARTY_CARD', 'SQUARE_GIFT_CARD') THEN
                       (CASE WHEN {t}.card_details__entry_method = 'CONTACTLESS' THEN 'contactless' ELSE 'card' END)
                     ELSE 'other' END)"""


def sales_sql(ctx: SquareContext, types: Types, name: Callable[[str], str], prefix: str) -> SetBasedSales:
    """The set-based build of the sale orders whose ids are in the key table ``{keys}`` (column
    ``id``; return orders among them are left out, as the normaliser's refunds carry them)."""
    def raw(table: str) -> str:
        return relation(COLUMNS, table, types, name)

    def account_rows(table: str) -> str:
        return f"(SELECT * FROM {raw(table)} WHERE _pos_account_id = {account})"

    tenant, account = text_literal(ctx.tenant_id), text_literal(ctx.account_id)
    provider = text_literal(PROVIDER)
    sale, line, tender, customers, modifiers, lowered = (
        f"{prefix}_{n}" for n in ("sale", "line", "tender", "customer", "modifier", "lowered"))

    def money(expr: str, currency: str = "s.currency") -> str:
        quantum = f"(CASE {minor_units_sql(currency)} WHEN 0 THEN 1.000 WHEN 3 THEN 0.001 ELSE 0.010 END)"
        return cents_sql(f"(coalesce({expr}, 0)::DECIMAL(38,0) * {quantum})")

    quantity = quantity_sql("coalesce(" + decimal_text_sql("nullif(l.quantity, '')") + ", 0)")
    prepare = (
        f"""CREATE OR REPLACE TEMP TABLE {sale} AS
        SELECT o.*, {canonical_id_sql(tenant, provider, "'order'", "o.id")} AS tx_id,
               coalesce(nullif(o.total_money__currency, ''), nullif(l.currency, ''), 'USD') AS currency,
               coalesce(nullif(l.timezone, ''), 'UTC') AS tz,
               coalesce(o.closed_at, o.updated_at, o.created_at) AS sold_at,
               CASE o.state WHEN 'CANCELED' THEN 'void' ELSE 'sale' END AS kind,
               CASE o.state WHEN 'COMPLETED' THEN 'completed' WHEN 'CANCELED' THEN 'voided' ELSE 'pending' END
                 AS tx_status
        FROM {raw("orders")} o JOIN {{keys}} k ON o.id = k.id
        LEFT JOIN {account_rows("locations")} l ON l.id = o.location_id
        WHERE o._pos_account_id = {account}
          AND NOT EXISTS (SELECT 1 FROM {raw("orders__returns")} r WHERE r._dlt_parent_id = o._dlt_id)""",
        f"""CREATE OR REPLACE TEMP TABLE {sale} AS
        SELECT *, timezone(tz, sold_at)::DATE AS business_date FROM {sale}""",
        f"""CREATE OR REPLACE TEMP TABLE {line} AS
        SELECT s.tx_id, s.location_id, s.business_date, s.kind, s.currency, s._dlt_id AS order_dlt_id, l.*,
               row_number() OVER (PARTITION BY l._dlt_parent_id ORDER BY l._dlt_list_idx) - 1 AS n,
               {quantity} AS qty
        FROM {sale} s JOIN {raw("orders__line_items")} l ON l._dlt_parent_id = s._dlt_id""",
        f"""CREATE OR REPLACE TEMP TABLE {tender} AS
        SELECT s.tx_id, s.currency, t.*,
               row_number() OVER (PARTITION BY t._dlt_parent_id ORDER BY t._dlt_list_idx) - 1 AS n,
               {_method("t")} AS method
        FROM {sale} s JOIN {raw("orders__tenders")} t ON t._dlt_parent_id = s._dlt_id""",
    )
    # the sale's payment: the first of its tenders' payments loaded; its card: the first tender with a brand
    payment = f"""(SELECT t._dlt_parent_id, arg_min(p.id, t._dlt_list_idx) AS payment_id
                   FROM {tender} t JOIN {account_rows("payments")} p ON p.id = t.payment_id
                   GROUP BY t._dlt_parent_id)"""
    card = f"""(SELECT _dlt_parent_id, arg_min({{'brand': card_details__card__card_brand,
                                                 'last_4': card_details__card__last_4}}, _dlt_list_idx) AS card
                FROM {tender} WHERE coalesce(card_details__card__card_brand, '') <> '' GROUP BY _dlt_parent_id)"""
    methods = f"""(SELECT _dlt_parent_id, count(DISTINCT method) AS methods, min(method) AS method
                   FROM {tender} GROUP BY _dlt_parent_id)"""
    lines = f"""(SELECT _dlt_parent_id, sum({money("gross_sales_money__amount", "currency")}) AS subtotal,
                        sum(qty) AS qty FROM {line} GROUP BY _dlt_parent_id)"""
    transactions = f"""
        SELECT s.tx_id AS id, {tenant} AS tenant_id, {account} AS pos_account_id, {provider} AS pos_provider,
               s.location_id, s.id AS pos_transaction_id, s.kind AS transaction_type, s.tx_status AS status,
               NULL::VARCHAR AS refunded_transaction_id, s.sold_at AS transaction_date, s.business_date,
               coalesce(l.subtotal, 0) AS subtotal, {money("s.total_discount_money__amount")} AS discount_amount,
               {money("s.total_service_charge_money__amount")} AS service_charge_amount,
               {money("s.total_tax_money__amount")} AS tax_amount, {money("s.total_tip_money__amount")} AS tip_amount,
               {money("s.total_money__amount")} AS total_amount, s.currency, coalesce(l.qty, 0) AS items_quantity,
               CASE WHEN m.methods IS NULL THEN NULL WHEN m.methods = 1 THEN m.method ELSE 'split' END
                 AS payment_method,
               c.card.brand AS card_brand, c.card.last_4 AS card_last_four,
               p.team_member_id AS cashier_id,
               nullif(concat_ws(' ', nullif(tm.given_name, ''), nullif(tm.family_name, '')), '') AS cashier_name,
               p.device_details__device_id AS device_id, p.device_details__device_name AS device_name,
               p.receipt_number, cu.customer_ref, cu.customer_name, cu.customer_email, cu.customer_phone,
               CASE WHEN coalesce(s.version, 0) = 0 THEN '' ELSE s.version::VARCHAR END AS source_version,
               s.updated_at AS source_updated_at, s._dlt_load_id AS source_load_id
        FROM {sale} s
        LEFT JOIN {lines} l ON l._dlt_parent_id = s._dlt_id
        LEFT JOIN {methods} m ON m._dlt_parent_id = s._dlt_id
        LEFT JOIN {card} c ON c._dlt_parent_id = s._dlt_id
        LEFT JOIN {payment} pay ON pay._dlt_parent_id = s._dlt_id
        LEFT JOIN {account_rows("payments")} p ON p.id = pay.payment_id
        LEFT JOIN {account_rows("team_members")} tm ON tm.id = p.team_member_id
        LEFT JOIN {customers} cu ON cu.customer_id IS NOT DISTINCT FROM s.customer_id"""
    line_modifiers = f"""(SELECT md._dlt_parent_id,
                                 {json_list_sql("lk.element", "md._dlt_list_idx")} AS modifiers
                          FROM {raw("orders__line_items__modifiers")} md
                          JOIN {line} l ON md._dlt_parent_id = l._dlt_id
                          JOIN {modifiers} lk ON lk.name IS NOT DISTINCT FROM md.name
                            AND lk.quantity IS NOT DISTINCT FROM md.quantity
                            AND lk.amount IS NOT DISTINCT FROM md.base_price_money__amount::VARCHAR
                            AND lk.catalog_object_id IS NOT DISTINCT FROM md.catalog_object_id
                            AND lk.currency = l.currency
                          GROUP BY md._dlt_parent_id)"""
    items = f"""
        SELECT {canonical_id_sql("l.tx_id", "'line'", "coalesce(nullif(l.uid, ''), l.n::VARCHAR)")} AS id,
               l.tx_id AS transaction_id, {tenant} AS tenant_id, {account} AS pos_account_id,
               {provider} AS pos_provider, l.location_id, l.business_date, l.kind AS transaction_type,
               l.n + 1 AS line_number, l.uid AS pos_line_id, l.catalog_object_id AS pos_item_id,
               CASE WHEN v.id IS NOT NULL THEN v.item_variation_data__item_id END AS pos_parent_item_id,
               coalesce(nullif(l.name, ''), '(custom amount)') AS product_name, l.variation_name,
               CASE WHEN v.id IS NOT NULL THEN v.item_variation_data__sku END AS product_sku,
               CASE WHEN v.id IS NOT NULL THEN cat.category_data__name END AS category,
               l.qty AS quantity,
               CASE l.quantity_unit__measurement_unit__weight_unit WHEN 'METRIC_KILOGRAM' THEN 'kg'
                    WHEN 'METRIC_GRAM' THEN 'g' WHEN 'IMPERIAL_POUND' THEN 'lb'
                    ELSE l.quantity_unit__measurement_unit__weight_unit END AS unit,
               {money("l.base_price_money__amount", "l.currency")} AS unit_price,
               {money("l.gross_sales_money__amount", "l.currency")} AS gross_amount,
               {money("l.total_discount_money__amount", "l.currency")} AS discount_amount,
               {money("l.total_tax_money__amount", "l.currency")} AS tax_amount,
               {money("l.total_money__amount", "l.currency")} AS line_total,
               l.currency, md.modifiers, NULL::VARCHAR AS mapped_product_id, false AS is_mapped
        FROM {line} l
        LEFT JOIN {account_rows("catalog")} v ON v.id = l.catalog_object_id
        LEFT JOIN {account_rows("catalog")} it ON it.id = v.item_variation_data__item_id
        LEFT JOIN {account_rows("catalog")} cat ON cat.id = it.item_data__reporting_category__id
        LEFT JOIN {line_modifiers} md ON md._dlt_parent_id = l._dlt_id"""
    tenders = f"""
        SELECT {canonical_id_sql("t.tx_id", "'tender'", "coalesce(nullif(t.id, ''), t.n::VARCHAR)")} AS id,
               t.tx_id AS transaction_id, {tenant} AS tenant_id, {provider} AS pos_provider, t.id AS pos_tender_id,
               t.method, t.card_details__card__card_brand AS card_brand, t.card_details__card__last_4 AS card_last_four,
               t.card_details__entry_method AS entry_method,
               {money("t.amount_money__amount", "t.currency")} - {money("t.tip_money__amount", "t.currency")} AS amount,
               {money("t.tip_money__amount", "t.currency")} AS tip_amount, t.currency,
               CASE WHEN coalesce(t.card_details__status, '') = '' THEN 'captured' ELSE lw.lowered END AS status
        FROM {tender} t LEFT JOIN {lowered} lw ON lw.text = t.card_details__status"""

    def modifier(key: tuple[str | None, ...]) -> tuple[str]:
        name, qty, amount, object_id, currency = key
        return (modifier_json(name, qty, str(ctx.money(currency or "")(None if amount is None else int(amount))),
                              object_id),)

    lookups = (
        Lookup(customers, f"SELECT DISTINCT customer_id FROM {sale}", ("customer_id",),
               ("customer_ref", "customer_name", "customer_email", "customer_phone"),
               lambda key: tuple(customer_columns(ctx, key[0]).values())),
        Lookup(modifiers, f"""SELECT DISTINCT md.name, md.quantity, md.base_price_money__amount::VARCHAR,
                                     md.catalog_object_id, l.currency
                              FROM {raw("orders__line_items__modifiers")} md JOIN {line} l
                                ON md._dlt_parent_id = l._dlt_id""",
               ("name", "quantity", "amount", "catalog_object_id", "currency"), ("element",), modifier),
        # Python's lower() (DuckDB's differs beyond ASCII: 'İ', final sigma)
        Lookup(lowered, f"SELECT DISTINCT card_details__status FROM {tender} WHERE card_details__status IS NOT NULL",
               ("text",), ("lowered",), lambda key: (key[0].lower(),)),
    )
    return SetBasedSales(prepare=prepare, lookups=lookups, transactions=transactions, items=items, tenders=tenders,
                         stale_ids=f"SELECT tx_id AS id FROM {sale}")

