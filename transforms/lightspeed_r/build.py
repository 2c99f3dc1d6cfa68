"""Lightspeed R-Series' canonical build of one account: the sales the new raw loads touched (sale
lines and payments re-attached) over the account's items, categories, payment types, employees,
registers and shops; the items when they changed; the shops."""

from __future__ import annotations

from datetime import UTC, datetime

from transforms.build import BuildJob, CanonicalSink, RawRows, Row, chunks
from transforms.lightspeed_r.normalize import (
    RContext,
    normalize,
    normalize_locations,
    normalize_products,
    row_ids,
)

SALE_CHILDREN = {
    "sales__sale_lines": ("sale_lines", "sales"),
    "sales__sale_payments": ("sale_payments", "sales"),
}


def build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None:
    items = raw.attach("items", raw.account_table("items"), {"items__prices": ("prices", "items")})

    def by(table: str, key: str) -> dict[str, Row]:
        return {str(r[key]): r for r in raw.account_table(table)}

    ctx = RContext(
        tenant_id=job.tenant_id, account_id=job.account_id, shops=by("shops", "shop_id"),
        items={str(r["item_id"]): r for r in items}, categories=by("categories", "category_id"),
        payment_types=by("payment_types", "payment_type_id"), employees=by("employees", "employee_id"),
        registers=by("registers", "register_id"), pseudonymize=job.pseudonymizer(),
    )
    if job.first_build or raw.table_changed("items", job.loads):  # prices are merged with their item
        out.replace_products(normalize_products(ctx, items))
    sale_ids = raw.changed_ids("sales", "sale_id", job.loads)
    if sale_ids:  # a line is named as its item was when sold (versions recorded so far)
        for v in sorted(out.product_versions(job.tenant_id), key=lambda v: v["version"]):
            ctx.versions.setdefault(v["pos_item_id"], []).append(v)
    for chunk in chunks(sale_ids):
        sales = raw.attach("sales", raw.roots("sales", "sale_id", chunk), SALE_CHILDREN)
        out.write(normalize(ctx, sales), row_ids(ctx, sales))
    out.replace_locations(normalize_locations(ctx, job.now or datetime.now(UTC)))
