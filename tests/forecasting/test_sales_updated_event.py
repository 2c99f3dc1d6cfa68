"""``pos.sales_updated``: the body matches its JSON schema (the documented example too), and one
tenant and batch make one outbox row however often it is written."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from pos_sync.events import payloads

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "pos_sync" / "events" / "schemas" / "pos.sales_updated.json").read_text())
CHANGES = [{"pos_provider": "square", "location_id": "L2", "date_from": "2026-01-05", "date_to": "2026-01-09",
            "days": 3},
           {"pos_provider": "square", "location_id": "L1", "date_from": "2026-01-02", "date_to": "2026-01-07",
            "days": 6}]


def validate(body: dict) -> None:
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())


def test_body_and_documented_example_match_the_schema() -> None:
    body = payloads.sales_updated(event_id=payloads.event_id(payloads.SALES_UPDATED, "t|demand:1-2"),
                                  tenant_id="t", changes=CHANGES, batch="demand:1-2",
                                  when=datetime(2026, 1, 10, 8, 0, 1, 500, tzinfo=UTC))
    validate(body)
    assert [c["location_id"] for c in body["changes"]] == ["L1", "L2"]
    assert (body["date_from"], body["date_to"], body["timestamp"]) == ("2026-01-02", "2026-01-09",
                                                                       "2026-01-10T08:00:01Z")
    example = re.search(r'```json\n(\{"event_type": "pos_sales_updated".*?)```',
                        (ROOT / "docs" / "events.md").read_text(), re.S)
    assert example is not None
    doc = json.loads(example.group(1).replace('"…"', '"3f0c5a52-3b0e-5d4e-9f61-0a8f2d6b7e11"'))
    validate(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate({**body, "changes": []})


def test_one_event_per_tenant_and_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_HOME", str(tmp_path))
    monkeypatch.delenv("POS_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from pos_sync.appstore.db import session_scope
    from pos_sync.appstore.models import PosEventOutbox
    from pos_sync.events.emit import emit_sales_updated

    with session_scope() as session:
        first = emit_sales_updated(session, tenant_id="t", changes=CHANGES, batch="demand:1-2")
    with session_scope() as session:
        again = emit_sales_updated(session, tenant_id="t", changes=CHANGES, batch="demand:1-2")
        other = emit_sales_updated(session, tenant_id="t", changes=CHANGES, batch="demand:3-3")
    assert first is not None and again is None and other not in (None, first)
    with session_scope() as session:
        rows = [r for r in session.query(PosEventOutbox).all() if r.routing_key == "pos.sales_updated"]
    assert len(rows) == 2
