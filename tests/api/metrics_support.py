"""Scraping ``/metrics`` the way Prometheus does, parsed with prometheus_client's own parser, and
what the app store says the numbers should be (computed from its rows, not from the totals)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
Labels = frozenset[tuple[str, str]]


@contextmanager
def served_api() -> Iterator[str]:
    """``pos-sync api serve --port 0`` in its own process, on this test's environment."""
    proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "api", "serve", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert first, proc.stderr.read()  # type: ignore[union-attr]
        yield json.loads(first)["url"]
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def scrape(url: str) -> tuple[str, dict[str, Metric]]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text, {family.name: family for family in text_string_to_metric_families(response.text)}


def values(families: dict[str, Metric], family: str, sample: str | None = None) -> dict[Labels, float]:
    """``{labels: value}`` of one family's samples named ``sample`` (default: the family's own)."""
    if family not in families:
        return {}
    name = sample or {"counter": f"{family}_total"}.get(families[family].type, family)
    return {frozenset(s.labels.items()): s.value for s in families[family].samples if s.name == name}


def labels(**given: str) -> Labels:
    return frozenset(given.items())


def expected_from_logs(rows: list[tuple[str, str, str, str | None, float | None, int]],
                       buckets: tuple[float, ...]) -> dict[str, dict[Labels, float]]:
    """The counters and the histogram as the closed sync logs ``(tenant, provider, status,
    error_type, duration, processed)`` add up to."""
    out: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
    for tenant, provider, status, error_type, duration, processed in rows:
        if status == "in_progress":
            continue
        key = labels(tenant_id=tenant, pos_provider=provider)
        out["synced"][key] += processed
        out["count"][key] += 1
        out["sum"][key] += duration or 0.0
        for bound in buckets:
            out["bucket"][key | {("le", str(float(bound)))}] += (duration or 0.0) <= bound
        out["bucket"][key | {("le", "+Inf")}] += 1
        if status in {"failed", "partial"}:
            out["errors"][key | {("error_type", error_type or "unknown")}] += 1
    return {name: dict(series) for name, series in out.items()}


# ---------------------------------------------------------------------- PromQL: which metrics a query reads
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*")  # 0.95, 1e3, 5m
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "atan2", "inf", "nan"}
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([^,()]+)\s*,\s*\w+\s*\)\s*$")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or Grafana's ``label_values(metric, label)``) reads:
    identifiers left once strings, label matchers, ranges, grouping clauses, Grafana variables,
    numbers and durations, function calls and keywords are taken out."""
    if match := _LABEL_VALUES.match(expr):
        expr = match.group(1)
    text = _NUMBER.sub(" ", _VARIABLE.sub(" ", _STRING.sub('""', expr)))
    text = _GROUPING.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", text)))
    names = set()
    for token in _IDENT.finditer(text):
        following = text[token.end():].lstrip()
        if following.startswith("(") or token.group().lower() in _KEYWORDS:
            continue
        names.add(token.group())
    return names


def exposed_names(families: dict[str, Metric]) -> set[str]:
    """Every series name ``/metrics`` exposes, with the suffixes of its family's type."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",),
                "stateset": ("",), "unknown": ("",), "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
    return {f"{name}{suffix}" for name, family in families.items() for suffix in suffixes[family.type]}
