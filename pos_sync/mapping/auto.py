"""Auto-mapping one tenant: its POS products (as ``pos_product_stats`` publishes them, one per
provider and POS product) that have no manual or rejected mapping, matched against its active
catalog by :func:`transforms.mapping.suggest`. With ``enabled`` the confident matches
(``decision == "auto"``, calibrated confidence at least ``threshold``) are written as ``auto``
mappings (a restatement of their rows is requested); otherwise nothing is written and every
suggestion is returned. Manual mappings always win and rejected products stay rejected; an
existing auto mapping is replaced only by another confident match."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pos_sync.appstore import catalog, mappings, product_stats
from pos_sync.appstore.db import session_scope
from pos_sync.settings import Settings


@dataclass
class AutoMapReport:
    enabled: bool
    threshold: float
    candidates: int  # POS products considered (no manual or rejected mapping)
    mapped: list[dict[str, Any]] = field(default_factory=list)  # the auto mappings written (or due, when disabled)
    suggestions: list[dict[str, Any]] = field(default_factory=list)  # every suggestion, best candidates first

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "threshold": self.threshold, "total_candidates": self.candidates,
                "products_mapped": len(self.mapped) if self.enabled else 0,
                "remaining_unmapped": self.candidates - (len(self.mapped) if self.enabled else 0),
                "mapped": self.mapped, "suggestions": self.suggestions}


def auto_map(tenant_id: str, settings: Settings, *, enabled: bool | None = None, threshold: float | None = None,
             actor: str | None = None) -> AutoMapReport:
    from transforms.mapping import BakeryProduct, PosProduct, suggest

    enabled = settings.auto_mapping_enabled if enabled is None else enabled
    threshold = settings.auto_mapping_threshold if threshold is None else threshold
    with session_scope(settings) as s:
        products = [BakeryProduct(p.bakery_product_id, p.name, p.sku, p.category)
                    for p in catalog.list_products(tenant_id, active_only=True, session=s)]
        decided = {(m.provider, m.pos_product_id) for m in mappings.list_mappings(tenant_id, session=s)
                   if m.status in (mappings.MANUAL, mappings.REJECTED)}
        pos: dict[tuple[str, str], PosProduct] = {}
        for stat in product_stats.product_stats(tenant_id, session=s):
            key = (stat.provider, stat.pos_product_id)
            if key not in decided and key not in pos:
                pos[key] = PosProduct(stat.provider, stat.pos_product_id, stat.name or "", stat.sku, stat.category)
        items = list(pos.values())
        report = AutoMapReport(enabled, threshold, len(items))
        if not items or not products:
            return report
        suggestions = suggest(items, products, threshold=threshold)
        confident = [(sg.provider, sg.pos_product_id, sg.bakery_product_id, sg.confidence)
                     for sg in suggestions if sg.decision == "auto" and sg.bakery_product_id]
        report.suggestions = [
            {"provider": sg.provider, "pos_product_id": sg.pos_product_id, "name": pos[(sg.provider, sg.pos_product_id)].name,
             "decision": sg.decision, "bakery_product_id": sg.bakery_product_id, "confidence": round(sg.confidence, 4),
             "reason": sg.reason, "candidates": [{"bakery_product_id": c, "score": round(sc, 4)} for c, sc in sg.candidates]}
            for sg in suggestions]
        if enabled:
            written = mappings.apply_auto(tenant_id, confident, actor=actor, session=s)  # type: ignore[arg-type]
            report.mapped = [m.to_dict() for m in written]
        else:
            report.mapped = [{"provider": p, "pos_product_id": i, "bakery_product_id": b, "confidence": round(c, 4)}
                             for p, i, b, c in confident]
        return report
