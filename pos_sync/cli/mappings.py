"""``pos-sync mappings``: map POS products to the bakery's own products.

``mappings suggest`` runs the matcher of :mod:`transforms.mapping` offline on two CSV files — no
app store, no network — and prints one suggestion per POS row: ``auto`` (confident: map it),
``review`` (a person chooses among the candidates) or ``none`` (nothing in the catalog is plausible).

    pos-sync mappings suggest --catalog CATALOG.csv --pos POS.csv [--threshold 0.8] [--json]

CATALOG.csv: ``bakery_product_id,name,sku,category`` (``price`` optional). POS.csv:
``provider,pos_product_id,name,sku,category`` (``price`` used when present; other columns are
ignored). UTF-8 (a byte-order mark is fine), separated by commas, semicolons or tabs. Ids are opaque
strings. ``list``, ``set``, ``auto`` and ``unmapped`` work on the tenant's mappings in the app store
(:mod:`pos_sync.cli.mapping_actions`).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from typing import Any

from pos_sync.cli import CommandError, emit_json

CATALOG_COLUMNS = ("bakery_product_id", "name", "sku", "category")
POS_COLUMNS = ("provider", "pos_product_id", "name", "sku", "category")

# --------------------------------------------------------------------------------------------
# CSV input
# --------------------------------------------------------------------------------------------


def read_table(path: str, required: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file with its line numbers, or one clear :class:`CommandError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CommandError(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise CommandError(f"{what} file {path} is a directory, not a CSV file") from None
    except PermissionError:
        raise CommandError(f"cannot read {what} file {path}: permission denied") from None
    except UnicodeDecodeError:
        raise CommandError(f"{what} file {path} is not UTF-8 text (save it as CSV UTF-8)") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise CommandError(f"{what} file {path} is empty: it needs a header line with {', '.join(required)}")
    header = next(line for line in lines if line.strip())
    delimiter = max(",;\t", key=header.count)
    reader = csv.DictReader(lines, delimiter=delimiter)
    columns = [(c or "").strip().lower() for c in reader.fieldnames or ()]
    missing = [c for c in required if c not in columns]
    if missing:
        raise CommandError(f"{what} file {path} has no column {', '.join(missing)} (needs {', '.join(required)}; "
                           f"found {', '.join(c for c in columns if c) or 'none'})")
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        values = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()}
        if any(values.values()):
            rows.append((reader.line_num, values))
    if not rows:
        raise CommandError(f"{what} file {path} has a header but no rows")
    return rows


def _price(value: str, where: str, *, strict: bool) -> float | None:
    if not value:
        return None
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        number = math.nan
    if math.isfinite(number) and number >= 0:
        return number
    if strict:
        raise CommandError(f"{where}: price {value!r} is not a number")
    return None


def read_catalog(path: str) -> list[Any]:
    from transforms.mapping import BakeryProduct

    products: list[BakeryProduct] = []
    seen: dict[str, int] = {}
    for line, row in read_table(path, CATALOG_COLUMNS, "catalog"):
        where = f"catalog file {path} line {line}"
        product_id = row["bakery_product_id"]
        if not product_id:
            raise CommandError(f"{where}: empty bakery_product_id")
        if product_id in seen:
            raise CommandError(f"{where}: bakery_product_id {product_id!r} already on line {seen[product_id]}")
        seen[product_id] = line
        products.append(BakeryProduct(product_id, row["name"], row["sku"] or None, row["category"] or None,
                                      _price(row.get("price", ""), where, strict=True)))
    return products


def read_pos(path: str) -> list[Any]:
    from transforms.mapping import PosProduct

    items: list[PosProduct] = []
    for line, row in read_table(path, POS_COLUMNS, "POS"):
        if not row["pos_product_id"]:
            raise CommandError(f"POS file {path} line {line}: empty pos_product_id")
        items.append(PosProduct(row["provider"], row["pos_product_id"], row["name"], row["sku"] or None,
                                row["category"] or None, _price(row.get("price", ""), "", strict=False)))
    return items


def read_synonyms(path: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for _, row in read_table(path, ("canonical", "variant"), "synonyms"):
        if row["canonical"] and row["variant"]:
            groups.setdefault(row["canonical"], []).append(row["variant"])
    return groups


# --------------------------------------------------------------------------------------------
# suggest
# --------------------------------------------------------------------------------------------


def suggestion_json(s: Any) -> dict[str, Any]:
    return {"provider": s.provider, "pos_product_id": s.pos_product_id, "decision": s.decision,
            "bakery_product_id": s.bakery_product_id, "confidence": s.confidence,
            "candidates": [{"bakery_product_id": pid, "score": score} for pid, score in s.candidates]}


def _suggest(args: argparse.Namespace) -> int:
    from transforms.mapping import suggest

    if not math.isfinite(args.threshold) or args.threshold < 0:
        raise CommandError(f"--threshold must be a number from 0 to 1 (above 1: suggestions only), got {args.threshold}")
    catalog = read_catalog(args.catalog)
    pos = read_pos(args.pos)
    synonyms = read_synonyms(args.synonyms) if args.synonyms else None
    suggestions = suggest(pos, catalog, threshold=args.threshold, synonyms=synonyms, enabled=not args.no_auto)
    if args.json:
        emit_json({"suggestions": [suggestion_json(s) for s in suggestions]})
        return 0
    names = {p.bakery_product_id: p.name for p in catalog}
    for item, s in zip(pos, suggestions, strict=True):
        if s.decision == "auto":
            target = repr(names[s.bakery_product_id or ""])
        elif s.decision == "review":
            target = " | ".join(repr(names[pid]) for pid, _ in s.candidates) + f"  ({s.reason})"
        else:
            target = "-"
        print(f"{s.decision:6}  {s.confidence:5.3f}  {item.provider}:{item.pos_product_id}  {item.name!r} → {target}")
    counts = {d: sum(s.decision == d for s in suggestions) for d in ("auto", "review", "none")}
    print(f"{len(suggestions)} POS products: {counts['auto']} auto, {counts['review']} to review, "
          f"{counts['none']} with no counterpart")
    return 0


def _register_suggest(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = actions.add_parser(
        "suggest", help="suggest mappings from two CSV files (offline: no app store, no network)",
        description="Match every POS product of POS.csv against the bakery catalog CATALOG.csv and print one "
                    "suggestion per POS row: auto (map it), review (choose among the candidates) or none.")
    parser.add_argument("--catalog", required=True, metavar="CATALOG.csv",
                        help="the bakery's products: bakery_product_id,name,sku,category[,price]")
    parser.add_argument("--pos", required=True, metavar="POS.csv",
                        help="the tills' products: provider,pos_product_id,name,sku,category[,price]")
    parser.add_argument("--threshold", type=float, default=0.8,
                        help="calibrated confidence needed to auto-map (default 0.8; above 1: suggestions only)")
    parser.add_argument("--no-auto", action="store_true", help="suggestions only: every match goes to review")
    parser.add_argument("--synonyms", metavar="SYNONYMS.csv",
                        help="the tenant's own synonyms, canonical,variant per row (added to the built-in es/en/ca "
                             "bakery vocabulary)")
    parser.add_argument("--json", action="store_true",
                        help='print {"suggestions": [{provider, pos_product_id, decision, bakery_product_id, '
                             'confidence, candidates: [{bakery_product_id, score}]}]}')
    parser.set_defaults(func=_suggest)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    mappings = subparsers.add_parser(
        "mappings", help="map POS products to the bakery's own products",
        description="Product mapping: which bakery product each POS product is.")
    actions = mappings.add_subparsers(dest="mappings_command", metavar="ACTION", required=True)
    _register_suggest(actions)
    from pos_sync.cli import mapping_actions

    mapping_actions.register(actions)
