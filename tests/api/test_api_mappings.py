"""The catalog, mapping and unmapped-revenue routes: tenant-scoped, read from the app store (the
POS products as the product_stats asset publishes them), a mapping change asks for a
restatement, auto-mapping never overwrites a manual mapping and leaves rejected ones alone."""

from __future__ import annotations

from datetime import date
from typing import Any

from api_support import Api, add_account

from pos_sync.appstore.product_stats import publish_product_stats


def stat(pid: str, name: str, r7: int, r30: int, tx: int = 3, sku: str | None = None) -> dict[str, Any]:
    return {"pos_product_id": pid, "name": name, "sku": sku, "category": "Bollería", "currency": "EUR",
            "revenue_cents_7d": r7, "revenue_cents_30d": r30, "transactions_7d": tx, "transactions_30d": tx * 4,
            "last_seen": date(2026, 3, 4)}


def seed(api: Api) -> str:
    account_id = add_account(api)
    api.post("/api/v1/pos/products", json={"products": [
        {"bakery_product_id": "BP-CRO", "name": "Croissant", "sku": "CRO-1", "category": "Viennoiserie"},
        {"bakery_product_id": "BP-BAG", "name": "Baguette tradición", "category": "Pan"},
        {"bakery_product_id": "BP-ENS", "name": "Ensaimada"}]}).raise_for_status()
    publish_product_stats(account_id, [stat("V-CRO", "Croissant", 9000, 30000, sku="CRO-1"),
                                       stat("V-BAG", "Baguette tradicion", 500, 2000),
                                       stat("V-GIFT", "Tarjeta regalo", 500, 500)], settings=api.store.settings)
    return account_id


def restate_requests(api: Api, account_id: str) -> list[Any]:
    from pos_sync.appstore.sync_requests import pending_sync_requests

    return [r for r in pending_sync_requests(settings=api.store.settings)
            if r.account_id == account_id and r.kind == "restate"]


def test_catalog_crud_and_category_mappings(api: Api) -> None:
    assert api.post("/api/v1/pos/products", json={"products": [
        {"bakery_product_id": "BP-1", "name": "Croissant"}]}).json() == {"created": 1, "updated": 0}
    put = api.put("/api/v1/pos/products/BP-1", json={"name": "Croissant de mantequilla", "sku": "C1"})
    assert put.status_code == 200 and put.json()["name"] == "Croissant de mantequilla"
    assert [p["bakery_product_id"] for p in api.get("/api/v1/pos/products").json()] == ["BP-1"]
    assert api.get("/api/v1/pos/products", key=api.other_key).json() == []  # another tenant sees nothing
    assert api.get("/api/v1/pos/products/BP-1", key=api.other_key).status_code == 404
    cat = api.put("/api/v1/pos/category-mappings", json={"provider": "square", "pos_category": "Bollería",
                                                         "bakery_category": "Viennoiserie"})
    assert cat.status_code == 200, cat.text
    assert [c["bakery_category"] for c in api.get("/api/v1/pos/category-mappings").json()] == ["Viennoiserie"]
    assert api.delete(f"/api/v1/pos/category-mappings/{cat.json()['id']}", key=api.other_key).status_code == 404
    assert api.delete("/api/v1/pos/products/BP-1").status_code == 204
    assert api.get("/api/v1/pos/products/BP-1").status_code == 404


def test_manual_mapping_requests_a_restatement_and_leaves_unmapped(sqlite_api: Api) -> None:
    api = sqlite_api
    account_id = seed(api)
    unmapped = api.get("/api/v1/pos/mappings/unmapped").json()
    assert [p["pos_product_id"] for p in unmapped] == ["V-CRO", "V-BAG", "V-GIFT"]  # highest 30-day revenue first
    assert unmapped[0]["revenue_cents_30d"] == 30000 and unmapped[0]["transactions_30d"] == 12
    bad = api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-CRO",
                                                 "bakery_product_id": "NOPE"})
    assert bad.status_code == 422 and "NOPE" in bad.json()["detail"]
    created = api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-CRO",
                                                     "bakery_product_id": "BP-CRO"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["created_by"], body["restatement_requested"]) == ("manual", "api", True)
    [request] = restate_requests(api, account_id)
    assert request.pos_product_ids == ("V-CRO",)
    assert [p["pos_product_id"] for p in api.get("/api/v1/pos/mappings/unmapped").json()] == ["V-BAG", "V-GIFT"]
    rejected = api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-GIFT",
                                                      "status": "rejected"})
    assert rejected.json()["bakery_product_id"] is None and rejected.json()["restatement_requested"] is False
    assert [p["pos_product_id"] for p in api.get("/api/v1/pos/mappings/unmapped").json()] == ["V-BAG"]
    assert api.get("/api/v1/pos/mappings", key=api.other_key).json() == []
    assert api.put(f"/api/v1/pos/mappings/{body['id']}", key=api.other_key,
                   json={"bakery_product_id": "BP-BAG"}).status_code == 404
    moved = api.put(f"/api/v1/pos/mappings/{body['id']}", json={"bakery_product_id": "BP-ENS"})
    assert moved.json()["bakery_product_id"] == "BP-ENS" and moved.json()["restatement_requested"] is True
    assert [r.pos_product_ids for r in restate_requests(api, account_id)] == [("V-CRO",), ("V-CRO",)]
    listed = api.get("/api/v1/pos/mappings", params={"status": "manual", "bakery_product_id": "BP-ENS"}).json()
    assert [m["pos_product_id"] for m in listed] == ["V-CRO"]
    assert api.delete(f"/api/v1/pos/mappings/{body['id']}").status_code == 204
    assert "V-CRO" in [p["pos_product_id"] for p in api.get("/api/v1/pos/mappings/unmapped").json()]


def test_auto_map_never_overwrites_manual_and_keeps_rejected(sqlite_api: Api, monkeypatch: Any) -> None:
    api = sqlite_api
    seed(api)
    api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-BAG",
                                           "bakery_product_id": "BP-ENS"}).raise_for_status()  # a person's choice
    api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-GIFT",
                                           "status": "rejected"}).raise_for_status()
    dry = api.post("/api/v1/pos/mappings/auto-map", json={"dry_run": True}).json()
    assert dry["enabled"] is False and dry["products_mapped"] == 0 and dry["total_candidates"] == 1
    assert [m["bakery_product_id"] for m in dry["mapped"]] == ["BP-CRO"]
    assert api.get("/api/v1/pos/mappings", params={"status": "auto"}).json() == []  # nothing written
    done = api.post("/api/v1/pos/mappings/auto-map").json()
    assert done["products_mapped"] == 1
    mapped = {m["pos_product_id"]: (m["status"], m["bakery_product_id"]) for m in api.get("/api/v1/pos/mappings").json()}
    assert mapped == {"V-CRO": ("auto", "BP-CRO"), "V-BAG": ("manual", "BP-ENS"), "V-GIFT": ("rejected", None)}
    assert api.post("/api/v1/pos/mappings/auto-map").json()["products_mapped"] == 1  # idempotent: same mapping
    assert api.get("/api/v1/pos/mappings", params={"status": "auto"}).json()[0]["confidence"] >= 0.8


def test_auto_mapping_disabled_gives_suggestions_only(sqlite_api: Api, monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from pos_sync.api.app import create_app

    api = sqlite_api
    seed(api)
    monkeypatch.setenv("AUTO_MAPPING_ENABLED", "false")
    with TestClient(create_app()) as client:
        body = client.post("/api/v1/pos/mappings/auto-map", headers=api.headers()).json()
    assert body["enabled"] is False and body["products_mapped"] == 0 and body["mapped"]
    assert api.get("/api/v1/pos/mappings").json() == []


def test_unmapped_revenue_per_account(sqlite_api: Api) -> None:
    api = sqlite_api
    account_id = seed(api)
    body = api.get("/api/v1/pos/analytics/unmapped-revenue").json()
    assert body["warn_share"] == 0.05
    [acc] = body["accounts"]
    assert (acc["account_id"], acc["revenue_cents_7d"], acc["unmapped_revenue_cents_7d"]) == (account_id, 10000, 10000)
    api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-CRO",
                                           "bakery_product_id": "BP-CRO"}).raise_for_status()
    [acc] = api.get("/api/v1/pos/analytics/unmapped-revenue").json()["accounts"]
    assert (acc["unmapped_revenue_cents_7d"], acc["unmapped_products"], acc["unmapped_share_7d"]) == (1000, 2, 0.1)
    assert api.get("/api/v1/pos/analytics/unmapped-revenue", key=api.other_key).json()["accounts"] == []
    # /metrics counts the published POS products without a mapping (rejected ones are decided)
    api.post("/api/v1/pos/mappings", json={"provider": "square", "pos_product_id": "V-GIFT",
                                           "status": "rejected"}).raise_for_status()
    series = f'pos_unmapped_products_total{{pos_account_id="{account_id}",tenant_id="{api.tenant}"}}'
    assert f"{series} 1.0" in api.client.get("/metrics").text
