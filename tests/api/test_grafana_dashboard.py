"""``deploy/grafana/pos-sync.json``: valid dashboard JSON whose every query (panels and template
variables) reads only metrics that ``/metrics`` exposes, and that shows each of the spec's five."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from api_support import Api
from metrics_support import exposed_names, promql_metric_names
from prometheus_client.parser import text_string_to_metric_families

from pos_sync.metrics import spec

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "pos-sync.json"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in _panels(dashboard["panels"]):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"${variable['name']}", query["query"] if isinstance(query, dict) else query


def test_the_extractor_finds_exactly_the_metrics_of_a_query() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, route) (max without (instance) (rate(http_seconds_bucket'
            '{route=~"/a|b", status_code!="5xx"}[$__rate_interval] offset 5m)))) / on (route) group_left (x) '
            'sum(up{job="api"} or vector(0)) and bool errors_total > 2')
    assert promql_metric_names(expr) == {"http_seconds_bucket", "up", "errors_total"}
    assert promql_metric_names("label_values(pos_accounts_total, tenant_id)") == {"pos_accounts_total"}


def test_every_panel_reads_metrics_that_metrics_exposes(sqlite_api: Api) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    response = sqlite_api.client.get("/metrics")  # no credentials, no sync yet: names only
    assert response.status_code == 200
    exposed = exposed_names({f.name: f for f in text_string_to_metric_families(response.text)})

    used: set[str] = set()
    for title, expr in _queries(dashboard):
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert expr.count("(") == expr.count(")"), f"{title}: unbalanced {expr!r}"
        assert names <= exposed, f"{title}: {sorted(names - exposed)} are not exposed by /metrics"
        used |= names
    assert {f.name for f in spec.SPEC_FAMILIES if f.type != "histogram"} <= used
    assert "pos_sync_duration_seconds_bucket" in used
    assert {"pos_webhooks_received_total", "pos_api_request_duration_seconds_bucket"} <= used
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))  # Grafana needs unique panel ids
