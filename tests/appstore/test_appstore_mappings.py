"""The mapping repositories and their CLI: the catalog import (upsert, line-numbered errors), the
published POS products with pos.mapping_needed (once per set of new unmapped products, only when
alerting is on), restate requests for every account of the tenant's provider and no other
tenant's, and ``pos-sync mappings set|list|unmapped|auto``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pos_sync.appstore import add_account, catalog, dispose_engines, mappings
from pos_sync.appstore.db import session_scope
from pos_sync.appstore.models import PosEventOutbox
from pos_sync.appstore.product_stats import publish_product_stats, unmapped_products
from pos_sync.appstore.sync_requests import pending_sync_requests
from pos_sync.cli import main


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "postgres":
        monkeypatch.setenv("POS_DATABASE_URL", str(request.getfixturevalue("pg_url")))
    return str(request.param)


def account(tenant: str, merchant: str, provider: str = "square") -> str:
    extra = {"client_id": "cid", "client_secret": "cs"} if provider == "toast" else {}
    return add_account(tenant_id=tenant, provider=provider, merchant_id=merchant, access_token="t", **extra)


def stat(pid: str, name: str, cents: int, tx: int = 2) -> dict[str, Any]:
    return {"pos_product_id": pid, "name": name, "currency": "EUR", "revenue_cents_7d": cents,
            "revenue_cents_30d": cents * 3, "transactions_7d": tx, "transactions_30d": tx * 3,
            "last_seen": date(2026, 3, 1)}


def mapping_events() -> list[dict[str, Any]]:
    with session_scope() as s:
        return [json.loads(e.payload, parse_float=Decimal) for e in s.query(PosEventOutbox).order_by(PosEventOutbox.id)
                if e.routing_key == "pos.mapping_needed"]


def test_publishing_alerts_once_per_new_unmapped_products(backend: str) -> None:
    acc = account("T1", "M1")
    first = publish_product_stats(acc, [stat("A", "Croissant", 1000, 5), stat("B", "Pan", 250)])
    assert (first.products, first.unmapped, first.new_unmapped) == (2, 2, ["A", "B"]) and first.event_id
    [event] = mapping_events()
    assert event["unmapped_products_count"] == 2 and event["unmapped_revenue_euros"] == Decimal("12.50")
    assert event["sample_unmapped_products"][0] == {"pos_product_name": "Croissant", "transaction_count": 15}
    again = publish_product_stats(acc, [stat("A", "Croissant", 1100, 5), stat("B", "Pan", 250)])
    assert again.new_unmapped == [] and again.event_id is None and len(mapping_events()) == 1
    catalog.upsert_products("T1", [{"bakery_product_id": "BP-C", "name": "Croissant"}])
    mappings.set_mapping("T1", "square", "C", "BP-C")  # mapped before it is ever seen: never alerted
    third = publish_product_stats(acc, [stat("A", "Croissant", 1, 1), stat("B", "Pan", 1), stat("C", "Croissant", 1),
                                        stat("D", "Café", 1)])
    assert third.new_unmapped == ["D"] and len(mapping_events()) == 2
    quiet = publish_product_stats(acc, [stat("E", "Té", 1)], alert=False)
    assert quiet.new_unmapped == ["E"] and quiet.event_id is None and len(mapping_events()) == 2


def test_a_mapping_change_asks_every_account_of_the_tenants_provider_only(backend: str) -> None:
    a1, a2 = account("T1", "M1"), account("T1", "M2")
    toast = account("T1", "R1", "toast")
    other = account("T2", "M9")
    catalog.upsert_products("T1", [{"bakery_product_id": "BP-1", "name": "Croissant"}])
    with pytest.raises(Exception, match="no bakery product 'BP-1'"):
        mappings.set_mapping("T2", "square", "V1", "BP-1")  # another tenant's catalog
    info, changed = mappings.set_mapping("T1", "square", "V1", "BP-1", actor="someone")
    assert changed and info.created_by == "someone"
    restates = {r.account_id: r.pos_product_ids for r in pending_sync_requests() if r.kind == "restate"}
    assert restates == {a1: ("V1",), a2: ("V1",)} and toast not in restates and other not in restates
    same, changed = mappings.set_mapping("T1", "square", "V1", "BP-1")
    assert not changed and same.id == info.id
    assert mappings.mapping_targets("T1", "square") == {"V1": "BP-1"} and mappings.mapping_targets("T2", "square") == {}
    with pytest.raises(mappings.MappingNotFound):
        mappings.delete_mapping("T2", info.id)
    with pytest.raises(Exception, match="has 1 POS product"):
        catalog.delete_product("T1", "BP-1")
    written = mappings.apply_auto("T1", [("square", "V1", "BP-1", 0.99), ("square", "V2", "BP-1", 0.91)])
    assert [m.pos_product_id for m in written] == ["V2"]  # the manual V1 is never overwritten


def test_cli_products_import_and_mappings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    acc = account("T1", "M1")
    bad = tmp_path / "bad.csv"
    bad.write_text("bakery_product_id,name,sku,category\nBP-1,Croissant,,\nBP-1,Otro,,\n", encoding="utf-8")
    assert main(["products", "import", str(bad), "--tenant", "T1"]) == 1
    assert "line 3: bakery_product_id 'BP-1' already on line 2" in capsys.readouterr().err
    assert catalog.list_products("T1") == []  # nothing written
    good = tmp_path / "catalog.csv"
    good.write_text("bakery_product_id;name;sku;category\nBP-1;Croissant;CRO;Bollería\nBP-2;Baguette;;Pan\n",
                    encoding="utf-8")
    assert main(["products", "import", str(good), "--tenant", "T1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"tenant_id": "T1", "created": 2, "updated": 0}
    assert main(["products", "import", str(good), "--tenant", "T1"]) == 0
    assert "0 new, 2 updated" in capsys.readouterr().out

    publish_product_stats(acc, [stat("V-CRO", "Croissant", 900), stat("V-BAG", "Baguette", 100),
                                stat("V-X", "Bolsa", 10)])
    assert main(["mappings", "set", "--tenant", "T1", "--provider", "square", "--pos-product-id", "V-BAG",
                 "--bakery-product-id", "NOPE"]) == 1
    assert "no bakery product 'NOPE'" in capsys.readouterr().err
    assert main(["mappings", "set", "--tenant", "T1", "--provider", "square", "--pos-product-id", "V-X",
                 "--reject"]) == 0
    capsys.readouterr()
    assert main(["mappings", "auto", "--tenant", "T1", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["products_mapped"] == 0 and {m["pos_product_id"] for m in dry["mapped"]} == {"V-CRO", "V-BAG"}
    assert main(["mappings", "auto", "--tenant", "T1"]) == 0
    capsys.readouterr()
    assert main(["mappings", "list", "--tenant", "T1", "--json"]) == 0
    listed = {m["pos_product_id"]: m["status"] for m in json.loads(capsys.readouterr().out)["mappings"]}
    assert listed == {"V-CRO": "auto", "V-BAG": "auto", "V-X": "rejected"}
    assert main(["mappings", "unmapped", "--tenant", "T1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"unmapped": []}
    assert unmapped_products("T2") == []
