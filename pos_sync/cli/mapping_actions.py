"""``pos-sync mappings list|set|auto|unmapped``: the tenant's mappings in the app store (the
offline ``suggest`` is in :mod:`pos_sync.cli.mappings`). The same operations as the API's
``/api/v1/pos/mappings`` routes: ``set`` and ``auto`` ask for a restatement of the changed
products' rows, which the Dagster sensor runs."""

from __future__ import annotations

import argparse

from pos_sync.cli import CommandError, emit_json

ACTOR = "cli"


def _list(args: argparse.Namespace) -> int:
    from pos_sync.appstore.mappings import list_mappings

    rows = list_mappings(args.tenant, provider=args.provider, status=args.status,
                         bakery_product_id=args.bakery_product_id)
    if args.json:
        emit_json({"mappings": [m.to_dict() for m in rows]})
        return 0
    for m in rows:
        confidence = f"  {m.confidence:.3f}" if m.confidence is not None else ""
        print(f"{m.id}  {m.provider}:{m.pos_product_id} → {m.bakery_product_id or '-'}  {m.status}{confidence}")
    print(f"{len(rows)} mappings")
    return 0


def _set(args: argparse.Namespace) -> int:
    from pos_sync.appstore.mappings import set_mapping

    status = "rejected" if args.reject else "manual"
    info, changed = set_mapping(args.tenant, args.provider, args.pos_product_id, args.bakery_product_id, status,
                                actor=ACTOR)
    if args.json:
        emit_json({**info.to_dict(), "restatement_requested": changed})
    else:
        print(f"{info.provider}:{info.pos_product_id} → {info.bakery_product_id or '-'} ({info.status})"
              + ("; its rows will be restated by the next sensor tick" if changed else "; nothing changed"))
    return 0


def _auto(args: argparse.Namespace) -> int:
    from pos_sync.mapping.auto import auto_map
    from pos_sync.settings import load_settings

    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise CommandError(f"--threshold must be from 0 to 1, got {args.threshold}")
    settings = load_settings()
    enabled = settings.auto_mapping_enabled and not args.dry_run
    report = auto_map(args.tenant, settings, enabled=enabled, threshold=args.threshold, actor=ACTOR)
    if args.json:
        emit_json(report.to_dict())
        return 0
    for s in report.suggestions:
        print(f"{s['decision']:6}  {s['confidence']:5.3f}  {s['provider']}:{s['pos_product_id']}  {s['name']!r} → "
              f"{s['bakery_product_id'] or '-'}")
    verb = "mapped" if enabled else "would map (suggestions only)"
    print(f"{report.candidates} POS products without a manual or rejected mapping: {verb} {len(report.mapped)} "
          f"at confidence ≥ {report.threshold}")
    return 0


def _unmapped(args: argparse.Namespace) -> int:
    from pos_sync.appstore.product_stats import unmapped_products

    rows = unmapped_products(args.tenant, provider=args.provider)
    if args.json:
        emit_json({"unmapped": [p.to_dict() for p in rows]})
        return 0
    for p in rows:
        print(f"{p.provider}:{p.pos_product_id}  {p.name!r}  7d {p.revenue_cents_7d / 100:.2f}  "
              f"30d {p.revenue_cents_30d / 100:.2f} {p.currency or ''}  {p.transactions_30d} transactions")
    print(f"{len(rows)} unmapped POS products (as published after the last canonical build)")
    return 0


def register(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lst = actions.add_parser("list", help="the tenant's mappings (app store)")
    lst.add_argument("--tenant", required=True)
    lst.add_argument("--provider")
    lst.add_argument("--status", choices=("manual", "auto", "rejected"))
    lst.add_argument("--bakery-product-id", dest="bakery_product_id")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_list)

    st = actions.add_parser("set", help="map one POS product by hand (manual; or --reject)",
                            description="Map a POS product to a bakery product (a manual mapping: auto-mapping never "
                                        "overwrites it), or --reject it (none of the bakery's products).")
    st.add_argument("--tenant", required=True)
    st.add_argument("--provider", required=True)
    st.add_argument("--pos-product-id", dest="pos_product_id", required=True)
    target = st.add_mutually_exclusive_group(required=True)
    target.add_argument("--bakery-product-id", dest="bakery_product_id")
    target.add_argument("--reject", action="store_true")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_set)

    auto = actions.add_parser("auto", help="auto-map the POS products without a manual or rejected mapping",
                              description="Run the matcher over the tenant's published POS products and its catalog; "
                                          "write the confident matches as auto mappings (AUTO_MAPPING_ENABLED=false "
                                          "or --dry-run: suggestions only).")
    auto.add_argument("--tenant", required=True)
    auto.add_argument("--threshold", type=float, help="default AUTO_MAPPING_CONFIDENCE_THRESHOLD (0.80)")
    auto.add_argument("--dry-run", action="store_true", help="suggestions only")
    auto.add_argument("--json", action="store_true")
    auto.set_defaults(func=_auto)

    un = actions.add_parser("unmapped", help="POS products without a mapping, with their revenue")
    un.add_argument("--tenant", required=True)
    un.add_argument("--provider")
    un.add_argument("--json", action="store_true")
    un.set_defaults(func=_unmapped)
