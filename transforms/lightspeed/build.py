"""Lightspeed X-Series' canonical build of one store: the sales the new raw loads touched (line
items, payments, adjustments re-attached) over the store's products, taxes, payment types,
users, registers and customers; the products when they changed; the outlets."""

from __future__ import annotations

from datetime import UTC, datetime

from transforms.build import BuildJob, CanonicalSink, RawRows, chunks, set_based_first
from transforms.lightspeed.normalize import (
    RAW_COLUMNS,
    LightspeedContext,
    normalize,
    normalize_locations,
    normalize_products,
    row_ids,
)
from transforms.lightspeed.sales_sql import sales_sql, supported
from transforms.pii import normalise_email, normalise_phone

SALE_CHILDREN = {
    "sales__line_items": ("line_items", "sales"),
    "sales__payments": ("payments", "sales"),
    "sales__adjustments": ("adjustments", "sales"),
}


def build(raw: RawRows, out: CanonicalSink, job: BuildJob) -> None:
    taxes = raw.attach("taxes", raw.account_table("taxes"), {"taxes__rates": ("rates", "taxes")})
    products = raw.account_table("products")
    ctx = LightspeedContext(
        tenant_id=job.tenant_id, account_id=job.account_id,
        outlets={r["id"]: r for r in raw.account_table("outlets")},
        tax_rates={t["id"]: (t.get("rates") or [{}])[0].get("rate") or 0 for t in taxes},
        products={r["id"]: r for r in products},
        payment_types={r["id"]: r for r in raw.account_table("payment_types")},
        users={r["id"]: r for r in raw.account_table("users")},
        registers={r["id"]: r for r in raw.account_table("registers")},
        customers={r["id"]: r for r in raw.account_table("customers")},
        pseudonymize=job.pseudonymizer(),
        pseudonymize_email=job.pseudonymizer(normalise_email),
        pseudonymize_phone=job.pseudonymizer(normalise_phone),
    )
    if job.first_build or raw.table_changed("products", job.loads):
        out.replace_products(normalize_products(ctx, products))
    # many sales: normalised in the warehouse's SQL (which reads the product versions itself)
    sale_ids = set_based_first(out, raw.changed_ids("sales", "id", job.loads), lambda: supported(ctx, raw.column_types),
                               lambda: sales_sql(ctx, raw.column_types, raw.qualified, "ls"))
    if sale_ids:  # a line is named as its product was when sold (versions recorded so far)
        for v in sorted(out.product_versions(job.tenant_id), key=lambda v: v["version"]):
            ctx.versions.setdefault(v["pos_item_id"], []).append(v)
    for chunk in chunks(sale_ids):
        # only the columns the normaliser reads (and the keys that re-attach the children)
        sales = raw.attach("sales", raw.roots("sales", "id", chunk, (*RAW_COLUMNS["sales"], "_dlt_id")),
                           SALE_CHILDREN, RAW_COLUMNS)
        out.write(normalize(ctx, sales), row_ids(ctx, sales))  # a soft-deleted sale's rows disappear
    out.replace_locations(normalize_locations(ctx, job.now or datetime.now(UTC)))
