"""``pos-sync demo --json`` (one run serves every assertion: the demo is the suite's most expensive
command) links, syncs and reconciles all four accounts (Square, Toast, Lightspeed X- and R-Series) to the cent; it prints one JSON document
whose world parameters reproduce the ledger with ``pos-sync sandbox truth`` and whose raw counts
equal the ledger's objects; it names a demo tenant's API key that works; afterwards ``pos-sync
accounts list --json`` shows the linked accounts, and no token text appears on stdout or stderr.
A sale made in the sandbox after the import arrives through a signed webhook: the demo says how
long after the till rang it landed, its row is in ``pos.pos_transactions`` once with the till's
total, and the reconciliation (whose ledger counts it) still holds to the cent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.destination import open_warehouse


def test_demo_json_matches_truth_and_accounts_list_leaks_no_token(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from pos_sync import appstore
    from pos_sync.cli import main
    from pos_sync.settings import load_settings

    monkeypatch.delenv("POS_NOW", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "pos-home" / "dagster"))  # undone after the test
    try:
        assert main(["demo", "--days", "2", "--scale", "tiny", "--json"]) == 0
        demo_out, demo_err = capsys.readouterr()
        doc = json.loads(demo_out)  # exactly one JSON document on stdout
        assert doc["pos_home"] == str(load_settings().pos_home)
        assert (doc["days"], doc["scale"]) == (2, "tiny") and isinstance(doc["seed"], int) and doc["start"]
        assert sorted(a["provider"] for a in doc["accounts"]) == ["lightspeed", "lightspeed_r", "square", "toast"]
        assert {a["status"] for a in doc["accounts"]} == {"success"}
        assert {"toast", "lightspeed", "lightspeed_r", "square"} <= set(doc["raw_row_counts"])
        canonical = doc["canonical"]
        assert canonical["verdict"] == "reconciled" and canonical["problems"] == [], canonical["problems"][:5]
        assert canonical["days_compared"] >= 2 and all(loc["reconciled"] for loc in canonical["locations"])
        assert {loc["provider"] for loc in canonical["locations"]} == {"square", "toast", "lightspeed", "lightspeed_r"}
        assert sum(loc["sales_count"] for loc in canonical["locations"]) > 0
        webhook = doc["webhook"]  # the live sale, by webhook
        assert webhook["status"] == "landed" and webhook["events_acknowledged"] >= 2, webhook
        assert [r["status"] for r in webhook["runs"]] == ["success"]  # one targeted sync
        assert 0 < webhook["delivered_after_seconds"] <= webhook["landed_after_seconds"] < 60
        assert re.search(rf"^webhook: sale {re.escape(webhook['sale_id'])} landed in pos\.pos_transactions "
                         rf"\d+\.\d s after the till rang it", demo_err, re.M), demo_err[-2000:]
        with open_warehouse() as wh:
            rows = wh.query("select status, total_amount, pos_provider from pos.pos_transactions "
                            "where pos_transaction_id = %s", [webhook["sale_id"]])
        assert [(r["status"], r["pos_provider"]) for r in rows] == [("completed", "square")]
        assert round(float(rows[0]["total_amount"]) * 100) == webhook["total_cents"]
        [account] = [a for a in doc["accounts"] if a["provider"] == "square"]
        assert account["sync_type"] == "historical"
        api = doc["api"]  # the demo tenant's key, and how to start the API on this POS_HOME
        assert appstore.AppStore(load_settings()).authenticate(api["api_key"]) == doc["tenant_id"]
        assert api["serve_command"].endswith("pos-sync api serve") and str(load_settings().pos_home) in api["serve_command"]

        assert main(["sandbox", "truth", "--seed", str(doc["seed"]), "--start", doc["start"], "--days",
                     str(doc["days"]), "--scale", doc["scale"], "--providers", ",".join(doc["providers"]),
                     "--json"]) == 0
        truth = json.loads(capsys.readouterr().out)
        square = [o for o in truth["objects"] if o["provider"] == "square" and o["location_id"] is not None]
        raw = doc["raw_row_counts"]["square"]
        # `sandbox truth` replays the world without the live sale: one order and its tenders more
        assert raw["payments"] == sum(o["payments"] for o in square) + len(webhook["tender_ids"])
        assert raw.get("refunds", 0) == sum(o["refunds"] for o in square)
        assert raw["orders"] == sum(o["orders"] for o in square) + 1
        assert raw["orders__line_items"] > sum(o["line_items"] for o in square)
        [merchant] = [o for o in truth["objects"] if o["provider"] == "square" and o["location_id"] is None]
        assert raw["team_members"] == merchant["team_members"]
        assert raw["locations"] == len(square)

        assert main(["accounts", "list", "--json"]) == 0
        list_out, list_err = capsys.readouterr()
        accounts = json.loads(list_out)
        [listed] = [a for a in accounts if a["provider"] == "square"]
        assert listed["id"] == account["account_id"] and listed["tenant_id"] == truth["world"]["tenant_id"]
        assert sorted(listed["location_ids"]) == sorted(o["location_id"] for o in square)
        assert listed["status"] == "active" and listed["last_sync_at"]

        square_creds = appstore.account_credentials(listed["id"])
        assert square_creds.access_token and square_creds.refresh_token and square_creds.client_secret
        secrets = set()
        for acc in accounts:  # every linked account (Square, and Toast / Lightspeed where the demo links them)
            creds = appstore.account_credentials(acc["id"])
            secrets |= {v for v in (creds.access_token, creds.refresh_token, creds.client_secret,
                                    creds.webhook_signature_key) if v and len(v) >= 8}
        for text in (demo_out, demo_err, list_out, list_err):
            for secret in secrets:
                assert secret not in text
    finally:
        appstore.dispose_engines()
