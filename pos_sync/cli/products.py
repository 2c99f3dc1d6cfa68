"""``pos-sync products``: the bakery's own catalog in the app store (what POS products map to).

    pos-sync products import FILE --tenant T [--json]   # CSV bakery_product_id,name,sku,category; upsert
    pos-sync products list --tenant T [--json]

The CSV is read like ``mappings suggest`` reads its catalog (UTF-8, commas, semicolons or tabs);
every problem is one line naming the file and line, and nothing is written unless every row is
good.
"""

from __future__ import annotations

import argparse

from pos_sync.cli import CommandError, emit_json
from pos_sync.cli.mappings import CATALOG_COLUMNS, read_table


def _import(args: argparse.Namespace) -> int:
    from pos_sync.appstore.catalog import upsert_products

    rows = []
    seen: dict[str, int] = {}
    for line, row in read_table(args.file, CATALOG_COLUMNS, "products"):
        where = f"products file {args.file} line {line}"
        product_id, name = row["bakery_product_id"], row["name"]
        if not product_id:
            raise CommandError(f"{where}: empty bakery_product_id")
        if not name:
            raise CommandError(f"{where}: product {product_id!r} has no name")
        if product_id in seen:
            raise CommandError(f"{where}: bakery_product_id {product_id!r} already on line {seen[product_id]}")
        for column, limit in (("bakery_product_id", 255), ("name", 255), ("sku", 100), ("category", 255)):
            if len(row[column]) > limit:
                raise CommandError(f"{where}: {column} is longer than {limit} characters")
        seen[product_id] = line
        rows.append({"bakery_product_id": product_id, "name": name, "sku": row["sku"], "category": row["category"]})
    created, updated = upsert_products(args.tenant, rows)
    if args.json:
        emit_json({"tenant_id": args.tenant, "created": created, "updated": updated})
    else:
        print(f"{len(rows)} products of tenant {args.tenant}: {created} new, {updated} updated")
    return 0


def _list(args: argparse.Namespace) -> int:
    from pos_sync.appstore.catalog import list_products

    products = list_products(args.tenant)
    if args.json:
        emit_json({"products": [p.to_dict() for p in products]})
        return 0
    for p in products:
        print(f"{p.bakery_product_id}  {p.name!r}  sku={p.sku or '-'}  category={p.category or '-'}"
              f"{'' if p.active else '  (inactive)'}")
    print(f"{len(products)} products")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    products = subparsers.add_parser("products", help="the bakery's own catalog (what POS products map to)",
                                     description="The tenant's own products in the app store.")
    actions = products.add_subparsers(dest="products_command", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="add or update products from a CSV file (upsert by bakery_product_id)",
                             description="Read FILE (bakery_product_id,name,sku,category; UTF-8, comma, semicolon or "
                                         "tab separated) and upsert every row into the tenant's catalog.")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--tenant", required=True)
    imp.add_argument("--json", action="store_true", help='print {"tenant_id", "created", "updated"}')
    imp.set_defaults(func=_import)
    lst = actions.add_parser("list", help="the tenant's products")
    lst.add_argument("--tenant", required=True)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_list)
