"""Benchmark: product mapping (``transforms.mapping``) against the spec's algorithm, on labelled sets.

For every labelled set in ``bench/data/mapping/`` (a catalog and POS items with their true
product, or none): precision of auto-maps, recall (right auto-maps ÷ items with a counterpart),
wrong auto-maps, the top-3 hit rate of the items with a counterpart left to review, and a
reliability table (confidence bucket → observed precision of the top candidate). **Compared with**
the service spec's algorithm measured in the same run: exact SKU, else the best
``difflib.SequenceMatcher`` ratio of the lower-cased names when > 0.80. Then speed: 10 000 POS
names × 2 000 catalog products (synthetic, from the bakery vocabulary, seed 7) with the matcher,
against the per-pair difflib loop (timed on a sample and extrapolated).

    python -m bench.mapping [--out bench/results/mapping.json]
    python -m bench.mapping --write-world        # bench/data/mapping/world_*.csv from the sandbox world
    python -m bench.mapping --write-calibration  # bench/data/mapping/calibration_*.csv (synthetic)
    python -m bench.mapping --fit                # refit the confidence model on the calibration set
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import random
import subprocess
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench._common import ROOT, emit, machine
from transforms.mapping import BakeryProduct, Matcher, PosProduct, Suggestion
from transforms.mapping.calibration import FEATURES, fit

DATA = ROOT / "bench" / "data" / "mapping"
SETS = ("world", "hard_es", "hard_en", "hard_ca", "twins_single", "holdout_es")
CATALOG_OF = {"world": "world_catalog.csv", "twins_single": "twins_single_catalog.csv"}
WORLD_SEEDS = (42, 7)
BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001)

Labelled = tuple[list[BakeryProduct], list[PosProduct], dict[str, str | None]]


# ---------------------------------------------------------------------------- synthetic sets
Structure = tuple[int, tuple[int, ...], int | None]  # base, modifiers, measure
LANGS = {"es": 0, "en": 1, "ca": 2}


def _render(vocab: dict[str, Any], s: Structure, lang: str) -> str:
    base = vocab["bases"][s[0]]
    mods = [vocab["modifiers"][m][LANGS[lang]] for m in s[1]]
    measure = vocab["measures"][s[2]][LANGS[lang]] if s[2] is not None else ""
    if lang == "en":
        text = f"{' and '.join(mods)} {base[2]}".strip()
        text = text[0].upper() + text[1:]
    else:
        words = mods[:1] + [m.split(" ", 1)[-1] if m.startswith(("de ", "d'", "con ", "amb ")) else m for m in mods[1:]]
        text = f"{base[0] if lang == 'es' else base[3]} {(' y ' if lang == 'es' else ' i ').join(words)}".strip()
    return f"{text} {measure}".strip()


def _variant(rng: random.Random, name: str) -> str:
    """One till habit: case, accents, abbreviation, typo, dropped 'de', noise."""
    kind = rng.choice(("upper", "lower", "accents", "abbrev", "typo", "typo", "de", "noise", "same"))
    words = name.split()
    long_words = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if kind == "upper":
        return name.upper()
    if kind == "lower":
        return name.lower()
    if kind == "accents":
        return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
    if kind == "abbrev" and long_words:
        i = rng.choice(long_words)
        words[i] = words[i][: rng.randint(3, 5)] + "."
    elif kind == "typo" and long_words:
        i = rng.choice(long_words)
        w, j = words[i], rng.randrange(1, len(words[i]) - 2)
        words[i] = rng.choice((w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:],
                               w[:j] + rng.choice("aeiourlns") + w[j + 1:]))
    elif kind == "de":
        words = [w for w in words if w.lower() not in ("de", "con", "d'", "y")] or words
    elif kind == "noise":
        words.append(rng.choice(("NUEVO", "*", "(ud)", "unidad", "1u", "nou")))
    return " ".join(words)


def synthetic_set(*, seed: int, n_catalog: int, n_pos: int) -> tuple[
        list[BakeryProduct], list[PosProduct], dict[str, str | None], dict[str, str]]:
    """A catalog of Spanish product names built from ``vocabulary.json`` and POS names derived from
    it (es 70 %, en 15 %, ca 15 %; till habits; SKUs on some), 15 % of them with no counterpart
    (5 % unrelated items, 10 % products the catalog does not sell). Reproducible from ``seed``."""
    vocab = json.loads((DATA / "vocabulary.json").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    n_bases, n_mods, n_measures = len(vocab["bases"]), len(vocab["modifiers"]), len(vocab["measures"])

    def draw() -> Structure:
        r = rng.random()
        mods = () if r < 0.1 else (rng.randrange(n_mods),) if r < 0.75 else tuple(sorted(rng.sample(range(n_mods), 2)))
        return rng.randrange(n_bases), mods, (rng.randrange(n_measures) if rng.random() < 0.2 else None)

    structures: dict[Structure, int] = {}
    while len(structures) < n_catalog:
        structures.setdefault(draw(), len(structures))
    sold = {(b, m) for b, m, _ in structures}
    catalog = [BakeryProduct(f"sp-{i:04d}", _render(vocab, s, "es"), f"SP-{i:05d}", vocab["bases"][s[0]][1],
                             round(1 + (i * 37 % 200) / 10, 2)) for s, i in structures.items()]
    keys = list(structures)
    pos: list[PosProduct] = []
    truth: dict[str, str | None] = {}
    kinds: dict[str, str] = {}
    for k in range(n_pos):
        pid = f"p{k:05d}"
        lang = rng.choices(("es", "en", "ca"), (70, 15, 15))[0]
        r = rng.random()
        sku: str | None = None
        price: float | None = None
        if r < 0.05:
            name, cat, kinds[pid], truth[pid] = rng.choice(vocab["unrelated"]), None, "unrelated", None
        else:
            if r < 0.15:
                s = draw()
                while not s[1] or (s[0], s[1]) in sold:
                    s = draw()
                kinds[pid], truth[pid] = "absent", None
            else:
                s = rng.choice(keys)
                product = catalog[structures[s]]
                kinds[pid], truth[pid] = "variant", product.bakery_product_id
                if s[1] and rng.random() < 0.3 and sum(b == s[0] for b, _ in sold) == 1:
                    s = (s[0], (), s[2])  # a generic name: no other product of the catalog is plainer
                    kinds[pid] = "generic"
                roll = rng.random()
                if roll < 0.3:
                    sku = rng.choice((product.sku or "", (product.sku or "").lower().replace("-", " "),
                                      (product.sku or "").replace("-", "").replace("SP", "SP-0")))
                elif roll < 0.31:
                    sku = rng.choice(catalog).sku
                    kinds[pid] = "sku-conflict" if sku != product.sku else kinds[pid]
                price = product.price if rng.random() < 0.6 else None
            name = _render(vocab, s, lang)
            category = vocab["bases"][s[0]][1]
            cat = category if lang == "es" else vocab["categories"][category][lang]
            for _ in range(rng.choice((0, 1, 1, 2))):
                name = _variant(rng, name)
        if rng.random() < 0.05:
            sku = str(rng.randrange(10**7, 10**8))
        provider = {"es": rng.choice(("square", "lightspeed")), "en": "toast", "ca": "lightspeed"}[lang]
        pos.append(PosProduct(provider, pid, name, sku, cat if rng.random() < 0.9 else None, price))
    return catalog, pos, truth, kinds


# ---------------------------------------------------------------------------- labelled sets
def read_set(name: str) -> Labelled:
    """A labelled set: its catalog, its POS items, and each item's true product (None: no counterpart)."""
    with open(DATA / CATALOG_OF.get(name, "hard_catalog.csv"), newline="", encoding="utf-8") as fh:
        catalog = [BakeryProduct(r["bakery_product_id"], r["name"], r.get("sku") or None, r.get("category") or None,
                                 float(r["price"]) if r.get("price") else None) for r in csv.DictReader(fh)]
    pos_file = "world_pos.csv" if name == "world" else f"{name}.csv"
    with open(DATA / pos_file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pos = [PosProduct(r["provider"], r["pos_product_id"], r["name"], r.get("sku") or None, r.get("category") or None,
                      float(r["price"]) if r.get("price") else None) for r in rows]
    truth = {r["pos_product_id"]: (r["true_bakery_product_id"] or None) for r in rows}
    return catalog, pos, truth


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_world() -> None:
    """The sandbox world's true mapping: every name each POS item had (renames included), for the
    benchmark world (seed 42, chain, 90 days from 2026-01-05) and a second seed (7)."""
    from datetime import date

    from pos_sandbox.world import World

    catalog_rows: list[list[Any]] = []
    pos_rows: list[list[Any]] = []
    for seed in WORLD_SEEDS:
        world = World(seed=seed, start=date(2026, 1, 5), days=90, scale="chain")
        if not catalog_rows:
            catalog_rows = [[p.sku, p.name, p.sku, p.category, f"{p.price_cents / 100:.2f}"] for p in world.products]
        for account in world.accounts:
            for item in world.items[account.account_id]:
                product = world.product_by_id[item.product_id]
                seen: set[tuple[str, str | None]] = set()
                for k, state in enumerate(item.history):
                    if (state.name, state.sku) in seen:
                        continue
                    seen.add((state.name, state.sku))
                    pos_rows.append([account.provider, f"{seed}:{item.item_id}" + (f"@{k}" if k else ""), state.name,
                                     state.sku or "", item.category_name, f"{state.price_cents / 100:.2f}",
                                     product.sku, "world"])
    write_csv(DATA / "world_catalog.csv", ("bakery_product_id", "name", "sku", "category", "price"), catalog_rows)
    write_csv(DATA / "world_pos.csv", ("provider", "pos_product_id", "name", "sku", "category", "price",
                                       "true_bakery_product_id", "kind"), pos_rows)


def write_calibration() -> None:
    catalog, pos, truth, kinds = synthetic_set(seed=2024, n_catalog=400, n_pos=3000)
    write_csv(DATA / "calibration_catalog.csv", ("bakery_product_id", "name", "sku", "category", "price"),
              [[p.bakery_product_id, p.name, p.sku or "", p.category or "", p.price or ""] for p in catalog])
    write_csv(DATA / "calibration_pos.csv", ("provider", "pos_product_id", "name", "sku", "category", "price",
                                             "true_bakery_product_id", "kind"),
              [[p.provider, p.pos_product_id, p.name, p.sku or "", p.category or "", p.price or "",
                truth[p.pos_product_id] or "", kinds[p.pos_product_id]] for p in pos])


def read_calibration() -> Labelled:
    CATALOG_OF["calibration"] = "calibration_catalog.csv"
    with open(DATA / "calibration_catalog.csv", newline="", encoding="utf-8") as fh:
        catalog = [BakeryProduct(r["bakery_product_id"], r["name"], r["sku"] or None, r["category"] or None,
                                 float(r["price"]) if r["price"] else None) for r in csv.DictReader(fh)]
    with open(DATA / "calibration_pos.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pos = [PosProduct(r["provider"], r["pos_product_id"], r["name"], r["sku"] or None, r["category"] or None,
                      float(r["price"]) if r["price"] else None) for r in rows]
    return catalog, pos, {r["pos_product_id"]: r["true_bakery_product_id"] or None for r in rows}


def refit() -> dict[str, Any]:
    catalog, pos, truth = read_calibration()
    matcher = Matcher(catalog)
    rows = [(a.features, a.ranked[0].index is not None
             and matcher.index.entries[a.ranked[0].index].product.bakery_product_id == truth[a.pos.pos_product_id])
            for a in matcher.assess(pos) if a.features is not None]
    coefficients = fit(rows)
    return {"rows": len(rows), "right": sum(ok for _, ok in rows),
            "coefficients": dict(zip(("intercept", *FEATURES), coefficients, strict=True)),
            "paste_into_calibration_py": repr(coefficients)}


# ---------------------------------------------------------------------------- the spec's algorithm
def spec_baseline(catalog: Sequence[BakeryProduct], pos: Sequence[PosProduct]) -> list[Suggestion]:
    """Exact SKU, else the best difflib ratio of the lower-cased names, mapped when > 0.80."""
    by_sku = {p.sku: p for p in catalog if p.sku}
    names = [(p.bakery_product_id, p.name.lower()) for p in catalog]
    out = []
    for item in pos:
        scored = sorted(((difflib.SequenceMatcher(None, item.name.lower(), name).ratio(), pid) for pid, name in names),
                        key=lambda t: (-t[0], t[1]))
        candidates = tuple((pid, round(r, 3)) for r, pid in scored[:3])
        hit = by_sku.get(item.sku) if item.sku else None
        if hit is not None:
            out.append(Suggestion(item.provider, item.pos_product_id, "auto", hit.bakery_product_id, 1.0,
                                  ((hit.bakery_product_id, 1.0), *candidates[:2]), "sku"))
        elif scored and scored[0][0] > 0.80:
            out.append(Suggestion(item.provider, item.pos_product_id, "auto", scored[0][1], scored[0][0], candidates,
                                  "name"))
        else:
            out.append(Suggestion(item.provider, item.pos_product_id, "review", None,
                                  scored[0][0] if scored else 0.0, candidates, "low-confidence"))
    return out


# ---------------------------------------------------------------------------- metrics
def metrics(suggestions: Sequence[Suggestion], truth: dict[str, str | None],
            names: dict[str, str] | None = None) -> dict[str, Any]:
    with_counterpart = [s for s in suggestions if truth[s.pos_product_id]]
    auto = [s for s in suggestions if s.decision == "auto"]
    right = [s for s in auto if s.bakery_product_id == truth[s.pos_product_id]]
    wrong = [s for s in auto if s.bakery_product_id != truth[s.pos_product_id]]
    left = [s for s in with_counterpart if s.decision != "auto"]
    in_top3 = [s for s in left if truth[s.pos_product_id] in {c for c, _ in s.candidates}]
    no_counterpart = [s for s in suggestions if not truth[s.pos_product_id]]
    table = []
    for lo, hi in zip(BUCKETS, BUCKETS[1:], strict=False):
        inside = [s for s in suggestions if lo <= s.confidence < hi and s.candidates]
        if inside:
            ok = sum(s.candidates[0][0] == truth[s.pos_product_id] for s in inside)
            table.append({"confidence": f"[{lo:.2f}, {min(hi, 1.0):.2f}{')' if hi < 1 else ']'}", "n": len(inside),
                          "mean_confidence": round(sum(s.confidence for s in inside) / len(inside), 3),
                          "observed_precision": round(ok / len(inside), 3)})
    ece = sum(row["n"] * abs(row["mean_confidence"] - row["observed_precision"]) for row in table) / max(
        1, sum(row["n"] for row in table))
    label = (lambda pid: names.get(pid, pid)) if names else (lambda pid: pid)
    return {
        "items": len(suggestions), "with_counterpart": len(with_counterpart), "no_counterpart": len(no_counterpart),
        "auto": len(auto), "precision": round(len(right) / len(auto), 4) if auto else None,
        "recall": round(len(right) / len(with_counterpart), 4) if with_counterpart else None,
        "wrong_auto": len(wrong),
        "left_to_review_with_counterpart": len(left),
        "review_top3_hit_rate": round(len(in_top3) / len(left), 4) if left else None,
        "no_counterpart_decided_none": sum(s.decision == "none" for s in no_counterpart),
        "expected_calibration_error": round(ece, 4),
        "reliability": table,
        "wrong_auto_examples": [f"{s.pos_product_id}: → {label(s.bakery_product_id or '')} "
                                f"(truth {label(truth[s.pos_product_id] or 'none')})" for s in wrong[:10]],
    }


def evaluate(name: str, pooled: dict[str, list[Any]]) -> dict[str, Any]:
    catalog, pos, truth = read_set(name)
    names = {p.bakery_product_id: p.name for p in catalog}
    t0 = time.perf_counter()
    matcher = Matcher(catalog)
    ours = [matcher.decide(a) for a in matcher.assess(pos)]
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec = spec_baseline(catalog, pos)
    spec_s = time.perf_counter() - t0
    for who, suggestions in (("ours", ours), ("spec", spec)):  # pooled: ids made unique per set
        pooled[who].extend(replace(s, pos_product_id=f"{name}/{s.pos_product_id}") for s in suggestions)
    pooled["truth"].extend((f"{name}/{k}", v) for k, v in truth.items())
    return {"catalog": len(catalog), "ours": metrics(ours, truth, names) | {"seconds": round(ours_s, 3)},
            "spec": metrics(spec, truth, names) | {"seconds": round(spec_s, 3)}}


def speed(n_pos: int = 10_000, n_catalog: int = 2_000, sample: int = 40, runs: int = 5) -> dict[str, Any]:
    """``suggest()`` end to end (catalog preparation included) on the synthetic set, ``runs`` times:
    wall and CPU seconds of each run (the machine may be shared: the load is recorded)."""
    import os

    from transforms.mapping import suggest

    catalog, pos, truth, _ = synthetic_set(seed=7, n_catalog=n_catalog, n_pos=n_pos)
    load_before = os.getloadavg()[0]
    walls, cpus = [], []
    result: list[Suggestion] = []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = suggest(pos, catalog)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    load_after = os.getloadavg()[0]
    t0 = time.perf_counter()
    spec_baseline(catalog, pos[:sample])
    per_item = (time.perf_counter() - t0) / sample
    best = min(walls)
    return {
        "pos_products": len(pos), "bakery_products": len(catalog),
        "distinct_pos_names": len({p.name for p in pos}),
        "ours_wall_seconds": [round(r, 3) for r in walls], "ours_cpu_seconds": [round(r, 3) for r in cpus],
        "ours_best_wall_seconds": round(best, 3), "goal_under_1s": best < 1.0,
        "load_average_1m_before": round(load_before, 2), "load_average_1m_after": round(load_after, 2),
        "spec_seconds_extrapolated": round(per_item * len(pos), 1),
        "spec_measured_on": f"{sample} POS items × {len(catalog)} products ({sample * len(catalog)} difflib ratios), "
                            f"extrapolated linearly to {len(pos)} POS items",
        "speedup": round(per_item * len(pos) / best),
        "ours_on_this_synthetic_set": {k: v for k, v in metrics(result, truth).items()
                                       if k in ("auto", "precision", "recall", "wrong_auto", "review_top3_hit_rate")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="also write the JSON document to this file")
    parser.add_argument("--write-world", action="store_true")
    parser.add_argument("--write-calibration", action="store_true")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="only the speed figures (a fresh process)")
    args = parser.parse_args()
    if args.speed_only:
        print(json.dumps(speed()))
        return
    if args.write_world or args.write_calibration:
        if args.write_world:
            write_world()
        if args.write_calibration:
            write_calibration()
        return
    if args.fit:
        emit(refit(), args.out)
        return
    pooled: dict[str, list[Any]] = {"ours": [], "spec": [], "truth": []}
    sets = {name: evaluate(name, pooled) for name in SETS}
    truth = dict(pooled["truth"])
    doc: dict[str, Any] = {"benchmark": "mapping", "machine": machine(), "sets": sets,
                           "all_held_out_sets": {who: {k: v for k, v in metrics(pooled[who], truth).items()
                                                       if k != "wrong_auto_examples"} for who in ("ours", "spec")}}
    if not args.no_speed:  # in a process of its own: no objects left from the sets above
        out = subprocess.run([sys.executable, "-m", "bench.mapping", "--speed-only"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
        doc["speed"] = json.loads(out.stdout.strip().splitlines()[-1])
    emit(doc, args.out)


if __name__ == "__main__":
    sys.exit(main())
