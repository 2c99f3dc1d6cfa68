"""The Lightspeed R-Series dlt source against the emulator on loopback, into DuckDB: every sale
once with its lines and payments, a quiet sync asks once per stream and shop and loads nothing,
a clock advance loads exactly what changed, the leaky bucket is never overrun, rotated refresh
tokens are saved at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import http_log as requests_log
from support.destination import data_row_counts, query
from support.sources import FAST_RETRIES, local_pipeline, run_checked
from support.worlds import sandbox_world

from dlt_sources.common import TokenSet
from dlt_sources.lightspeed_r import lightspeed_r_source, lightspeed_r_tokens, token_account_id
from dlt_sources.lightspeed_r.helpers import as_list, regular
from pos_sandbox.ledger import compute_truth
from pos_sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, Any]]:
    world = sandbox_world(40, "lightspeed_r", days=4, scale="tiny")
    world_end = world.now
    world.set_now(world_end - timedelta(days=1))
    with SandboxServer(world, bucket=(12, 40.0), access_token_ttl_seconds=3600) as server:
        creds = next(iter(server.credentials.values()))
        yield {"world": world, "server": server, "creds": creds, "end": world_end,
               "base": server.provider_url("lightspeed_r"),
               "emulator": next(r.app.state.lightspeed_r for r in server.app.routes  # type: ignore[attr-defined]
                                if getattr(r, "path", "") == "/lightspeed_r")}


def test_rows_are_made_regular() -> None:
    sale = {"saleID": "7", "completed": "false", "calcTotal": "12.50",
            "SaleLines": {"SaleLine": {"saleLineID": "1", "unitQuantity": "-0.532", "tax": "true"}},
            "SalePayments": None}
    out = regular(sale)
    assert out["completed"] is False and str(out["calcTotal"]) == "12.50"
    assert out["SaleLines"] == [{"saleLineID": "1", "unitQuantity": out["SaleLines"][0]["unitQuantity"], "tax": True}]
    assert str(out["SaleLines"][0]["unitQuantity"]) == "-0.532" and out["SalePayments"] == []
    assert as_list({"SaleLine": [{"a": 1}, {"a": 2}]}, "SaleLine") == [{"a": 1}, {"a": 2}]


def test_sync_quiet_sync_and_clock_advance(env: dict[str, Any], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    world, creds = env["world"], env["creds"]
    log = requests_log.record_requests(monkeypatch, requests_log.HttpLog())
    saved: list[TokenSet] = []
    # an expired access token: the first request refreshes, and the rotated refresh token is saved
    tokens = lightspeed_r_tokens(TokenSet("stale-access", creds.refresh_token), base_url=env["base"],
                                 client_id=creds.client_id, client_secret=creds.client_secret,
                                 on_refresh=saved.append)
    account = token_account_id(env["base"], tokens)
    assert account == creds.account_id and len(saved) == 1 and saved[0].refresh_token != creds.refresh_token
    pipeline = local_pipeline(tmp_path, "lsr_test", "raw_lightspeed_r")

    def run() -> dict[str, int]:
        run_checked(pipeline, lightspeed_r_source(tokens, account, ["1"], base_url=env["base"],
                                                  retry_policy=FAST_RETRIES))
        return data_row_counts(pipeline)

    first = run()
    truth = compute_truth(world)
    objects = next(o for o in truth["objects"] if o["provider"] == "lightspeed_r" and o["location_id"] == "1")
    assert first["sales"] == objects["sales"]
    assert query(pipeline, "select count(*) from sales")[0][0] == objects["sales"]
    lines = query(pipeline, "select count(*) from sales__sale_lines where item_id <> '0'")[0][0]
    assert lines >= objects["line_items"]  # sold lines plus the returns' negative lines
    archived = query(pipeline, "select count(*) from sales__sale_payments where archived")[0][0]
    assert archived > 0
    returns = query(pipeline, "select distinct s.sale_id, s._parent_sale_id from sales s join sales__sale_lines l "
                              "on l._dlt_root_id = s._dlt_id where l.parent_sale_line_id <> '0'")
    sale_ids = {r[0] for r in query(pipeline, "select sale_id from sales")}
    assert returns and all(parent in sale_ids and parent != sale for sale, parent in returns)
    created = [it for it in world.items[account] if it.created_at <= world.now]
    assert query(pipeline, "select count(*) from items")[0][0] == len(created)

    lookups = [s for s in log.sent if s.path.endswith("/SaleLine.json")]
    assert len(lookups) == 1 and lookups[0].params["saleLineID"].startswith("IN,[")  # all returns at once
    log.sent.clear()
    quiet = run()
    assert quiet == {}
    per_path = Counter(s.path.rsplit("/", 1)[1] for s in log.sent if "/API/V3/" in s.path)
    assert per_path == Counter({f"{name}.json": 1 for name in (
        "Shop", "Register", "Employee", "PaymentType", "TaxCategory", "Category", "Item", "Sale")})
    assert all("offset" not in s.params for s in log.sent)

    before = {r[0]: r[1] for r in query(pipeline, "select sale_id, time_stamp from sales")}
    world.set_now(env["end"])
    try:
        advanced = run()
        after = {r[0]: r[1] for r in query(pipeline, "select sale_id, time_stamp from sales")}
        changed = {k for k, v in after.items() if before.get(k) != v}
        assert changed and advanced["sales"] == len(changed)
        expected = next(o for o in compute_truth(world)["objects"]
                        if o["provider"] == "lightspeed_r" and o["location_id"] == "1")["sales"]
        assert len(after) == expected
    finally:
        world.set_now(env["end"] - timedelta(days=1))
    stats = env["emulator"]
    assert stats.bucket.rejected == 0 and stats.bucket.max_level <= stats.bucket.size
    assert tokens.tokens.refresh_token == saved[-1].refresh_token


def test_faults_retries_and_expired_tokens_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    from pos_sandbox.faults import FaultPlan

    world = sandbox_world(42, "lightspeed_r", days=3, scale="tiny")
    plan = FaultPlan.parse("429:0.08,500:0.04,503:0.04,slow:0.02,expire:0.05,seed=5,retry_after=0.05,slow_ms=50")
    with SandboxServer(world, faults=plan) as server:
        creds = next(iter(server.credentials.values()))
        base = server.provider_url("lightspeed_r")
        saved: list[TokenSet] = []
        tokens = lightspeed_r_tokens(TokenSet(creds.access_token, creds.refresh_token), base_url=base,
                                     client_id=creds.client_id, client_secret=creds.client_secret,
                                     on_refresh=saved.append)
        pipeline = local_pipeline(tmp_path, "lsr_faults", "raw_lightspeed_r")
        for _ in range(2):
            run_checked(pipeline, lightspeed_r_source(tokens, creds.account_id, [], base_url=base,
                                                      retry_policy=FAST_RETRIES))
        assert plan.injected["429"] and plan.injected["expire"] and saved, "429s, expired tokens (refreshed)"
    objects = next(o for o in compute_truth(world)["objects"] if o["provider"] == "lightspeed_r" and o["location_id"])
    [(total, distinct)] = query(pipeline, "select count(*), count(distinct sale_id) from sales")
    assert total == distinct == objects["sales"]
    [(lines, distinct_lines)] = query(pipeline, "select count(*), count(distinct sale_line_id) from sales__sale_lines")
    assert lines == distinct_lines


def test_two_accounts_with_the_same_ids_keep_their_own_rows(env: dict[str, Any], tmp_path: Path) -> None:
    """R-Series numbers its objects per account (sale 1, shop 1 in every account) and every account
    of the provider loads into one ``raw_lightspeed_r`` dataset: the merge keys carry the account,
    or a second account's sale 1 replaced the first's (both cursors moved on: lost for good)."""
    creds = env["creds"]
    # the manifest's access token (the module's other tests rotate its refresh token, not this)
    tokens = lightspeed_r_tokens(TokenSet(creds.access_token), base_url=env["base"],
                                 client_id=creds.client_id, client_secret=creds.client_secret)
    r_account = token_account_id(env["base"], tokens)
    counts = {}
    for tenant_account in ("acct-a", "acct-b"):  # the same store's ids, as two accounts' would be
        pipeline = local_pipeline(tmp_path, f"lsr_{tenant_account.replace('-', '_')}", "raw_lightspeed_r")
        run_checked(pipeline, lightspeed_r_source(tokens, r_account, ["1"], base_url=env["base"],
                                                  account_id=tenant_account, retry_policy=FAST_RETRIES))
        counts[tenant_account] = query(pipeline, "select _pos_account_id, count(*) from sales group by 1 order by 1")
    assert counts["acct-b"] == [("acct-a", counts["acct-a"][0][1]), ("acct-b", counts["acct-a"][0][1])]
    shops = query(pipeline, "select _pos_account_id, shop_id from shops order by 1")
    assert shops == [("acct-a", "1"), ("acct-b", "1")]


def test_a_shop_enabled_later_gets_its_shop_and_registers(tmp_path: Path) -> None:
    """Shops and registers are read whole and the unwanted shops' rows dropped after the mark moved:
    a shop enabled later (or every shop) read them again, or its shop and registers never came."""
    world = sandbox_world(40, "lightspeed_r", days=1, scale="chain")  # an account of two shops
    with SandboxServer(world, access_token_ttl_seconds=3600) as server:
        creds = next(iter(server.credentials.values()))
        base = server.provider_url("lightspeed_r")
        tokens = lightspeed_r_tokens(TokenSet(creds.access_token), base_url=base, client_id=creds.client_id,
                                     client_secret=creds.client_secret)
        account = token_account_id(base, tokens)
        pipeline = local_pipeline(tmp_path, "lsr_shops", "raw_lightspeed_r")

        def run(shops: list[str]) -> None:
            run_checked(pipeline, lightspeed_r_source(tokens, account, shops, base_url=base,
                                                      retry_policy=FAST_RETRIES).with_resources("shops", "registers"))

        run(["1"])
        assert [r[0] for r in query(pipeline, "select shop_id from shops")] == ["1"]
        assert {r[0] for r in query(pipeline, "select shop_id from registers")} == {"1"}
        run([])  # every shop
        assert sorted(r[0] for r in query(pipeline, "select shop_id from shops")) == ["1", "2"]
        assert {r[0] for r in query(pipeline, "select shop_id from registers")} == {"1", "2"}
