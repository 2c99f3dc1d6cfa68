"""Toast's canonical build of one account: the orders the new raw loads touched (checks,
selections, modifiers, payments re-attached), normalised per check over the restaurants'
employees and devices (cashier and device names); menu items when a menu changed; the restaurants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from transforms.build import BuildJob, CanonicalSink, RawRows, chunks, set_based_first
from transforms.pii import normalise_email, normalise_phone
from transforms.toast.normalize import (
    RAW_COLUMNS,
    ToastContext,
    check_ids,
    normalize,
    normalize_locations,
    normalize_products,
    refund_ids,
)
from transforms.toast.sales_sql import sales_sql, supported

ORDER_CHILDREN = {
    "orders__checks": ("checks", "orders"),
    "orders__checks__selections": ("selections", "orders__checks"),
    "orders__checks__selections__modifiers": ("modifiers", "orders__checks__selections"),
    "orders__checks__payments": ("payments", "orders__checks"),
    "orders__checks__applied_service_charges": ("applied_service_charges", "orders__checks"),
}


def _menu_items(raw: RawRows) -> dict[str, dict[str, Any]]:
    menus = raw.attach("menus", raw.account_table("menus"), {"menus__menu_items": ("menu_items", "menus")})
    items: dict[str, dict[str, Any]] = {}
    for menu in menus:
        for item in menu.get("menu_items") or []:
            item["_restaurant_guid"] = menu.get("_pos_restaurant_guid")
            item["_seen_at"] = menu.get("last_updated")
            items[item["guid"]] = item
    return items


def build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None:
    menu_items = _menu_items(raw)
    ctx = ToastContext(
        tenant_id=job.tenant_id, account_id=job.account_id,
        restaurants={r["guid"]: r for r in raw.account_table("restaurants")}, menu_items=menu_items,
        pseudonymize=job.pseudonymizer(),
        pseudonymize_email=job.pseudonymizer(normalise_email),
        pseudonymize_phone=job.pseudonymizer(normalise_phone),
        employees={r["guid"]: r for r in raw.account_table("employees")},
        devices={r["pos_device_info__device_id"]: r for r in raw.account_table("devices")
                 if r.get("pos_device_info__device_id")},
    )
    # many orders: normalised in the warehouse's SQL, but for those with a refund (left to the normaliser)
    order_ids = set_based_first(out, raw.changed_ids("orders", "guid", job.loads), lambda: supported(ctx, raw.column_types),
                                lambda: sales_sql(ctx, raw.column_types, raw.qualified, "ts"))
    for chunk in chunks(order_ids):
        # only the columns the normaliser reads (and the keys that re-attach the children)
        orders = raw.attach("orders", raw.roots("orders", "guid", chunk, (*RAW_COLUMNS["orders"], "_dlt_id")),
                            ORDER_CHILDREN, RAW_COLUMNS)
        # every check and refund the orders may own: a deleted check or undone refund disappears
        stale = [ctx.check_id(g) for g in check_ids(orders)] + refund_ids(ctx, orders)
        out.write(normalize(ctx, orders), stale)
    if job.first_build or raw.table_changed("menus", job.loads):
        # an item no longer in any menu was archived: as of the menus' last change
        menus_updated = [i["_seen_at"] for i in menu_items.values() if i.get("_seen_at") is not None]
        out.replace_products(normalize_products(ctx, menu_items.values()), max(menus_updated, default=job.now))
    out.replace_locations(normalize_locations(ctx, job.now or datetime.now(UTC)))
