"""``dlt_sources.common.arrow``: flat Arrow tables built from API objects, and what dlt makes of them."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import dlt
import pyarrow as pa
import pytest

from dlt_sources.common.arrow import arrow_batches, prepare_arrow_resources, to_arrow

PAYMENTS = [
    {"id": "p1", "created_at": "2026-03-29T00:59:59.123Z", "amount_money": {"amount": 1250, "currency": "EUR"},
     "card_details": {"card": {"card_brand": "VISA", "exp_month": 7},
                      "card_payment_timeline": {"captured_at": "2026-03-29T01:00:00.5Z"}},
     "processing_fee": [{"amount_money": {"amount": 31, "currency": "EUR"}, "type": "INITIAL"}],
     "tip_money": None, "refund_ids": []},
    {"id": "p2", "created_at": "2026-03-29T03:00:00+02:00", "amount_money": {"amount": 99, "currency": "EUR"},
     "cash_details": {"buyer_supplied_money": {"amount": 100, "currency": "EUR"}}, "receipt_number": "0002"},
]
COLUMNS = {"json_columns": ("processing_fee", "refund_ids"), "not_null": ("id",),
           "timestamp_columns": ("created_at", "card_details__card_payment_timeline__captured_at")}


def test_nested_objects_become_double_underscore_columns_with_exact_types() -> None:
    table = to_arrow(PAYMENTS, **COLUMNS)
    types = {f.name: f.type for f in table.schema}
    assert types["amount_money__amount"] == pa.int64()  # money stays integer minor units
    assert types["card_details__card__exp_month"] == pa.int64()
    assert types["created_at"] == pa.timestamp("us", tz="UTC")
    assert types["card_details__card_payment_timeline__captured_at"] == pa.timestamp("us", tz="UTC")
    assert "tip_money" not in types  # None in every row: no column (dlt keeps the table's own)
    assert not table.schema.field("id").nullable and table.schema.field("receipt_number").nullable
    rows = table.to_pylist()
    assert rows[0]["created_at"] == datetime(2026, 3, 29, 0, 59, 59, 123000, tzinfo=UTC)
    assert rows[1]["created_at"] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # offsets honoured
    assert rows[0]["card_details__card_payment_timeline__captured_at"].microsecond == 500000
    assert rows[1]["cash_details__buyer_supplied_money__amount"] == 100 and rows[0]["cash_details__buyer_supplied_money__amount"] is None
    assert json.loads(rows[0]["processing_fee"]) == PAYMENTS[0]["processing_fee"]
    assert rows[0]["refund_ids"] == "[]" and rows[1]["refund_ids"] is None


def test_nanosecond_timestamps_are_truncated_and_naive_ones_fail_loudly() -> None:
    table = to_arrow([{"id": "a", "t": "2026-01-01T10:00:00.123456789Z"}], timestamp_columns=("t",))
    assert table.to_pylist()[0]["t"] == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    with pytest.raises(pa.ArrowInvalid, match="2026-01-01T10:00:00"):
        to_arrow([{"id": "a", "t": "2026-01-01T10:00:00"}], timestamp_columns=("t",))


def test_arrow_batches_regroup_pages_without_losing_or_reordering_rows() -> None:
    pages = [[{"id": f"{p}-{i}", "n": i} for i in range(3)] for p in range(5)]
    tables = list(arrow_batches(pages, 4))
    assert [t.num_rows for t in tables] == [6, 6, 3]
    assert [r["id"] for t in tables for r in t.to_pylist()] == [r["id"] for page in pages for r in page]
    assert list(arrow_batches([], 4)) == []


def test_dlt_loads_arrow_rows_like_dict_rows_with_its_own_columns(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Same rows as dicts (dlt's normaliser) and as Arrow (this module): same columns and values,
    both with ``_dlt_load_id``/``_dlt_id``, and no per-item hint warning for the Arrow resource."""
    prepare_arrow_resources(["arrow_payments"])
    hints = {"processing_fee": {"data_type": "json"}, "refund_ids": {"data_type": "json"}}

    @dlt.resource(name="arrow_payments", primary_key="id", write_disposition="merge", columns=hints)
    def as_arrow():  # type: ignore[no-untyped-def]
        yield from arrow_batches([PAYMENTS[:1], PAYMENTS[1:]], 1, **COLUMNS)

    @dlt.resource(name="dict_payments", primary_key="id", write_disposition="merge", columns=hints)
    def as_dicts():  # type: ignore[no-untyped-def]
        yield PAYMENTS

    pipeline = dlt.pipeline("arrow_vs_dicts", destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
                            pipelines_dir=str(tmp_path / "p"), dataset_name="raw")
    with caplog.at_level(logging.WARNING, logger="dlt"):
        pipeline.run([as_arrow(), as_dicts()], loader_file_format="parquet").raise_on_failed_jobs()
    assert not [r for r in caplog.records if "arrow schema" in r.getMessage()]
    with pipeline.sql_client() as client:
        def table(name: str) -> tuple[dict[str, str], list[dict[str, object]]]:
            types = dict(client.execute_sql("select column_name, data_type from information_schema.columns "
                                            f"where table_schema = 'raw' and table_name = '{name}'"))
            cols = sorted(c for c in types if c not in ("_dlt_id", "_dlt_load_id"))
            rows = [dict(zip(cols, r, strict=True)) for r in client.execute_sql(f"select {', '.join(cols)} from {name} order by id")]
            nulls = client.execute_sql(f"select count(*) from {name} where _dlt_id is null or _dlt_load_id is null")
            assert nulls[0][0] == 0
            return types, rows
        arrow_types, arrow_rows = table("arrow_payments")
        dict_types, dict_rows = table("dict_payments")
        dict_tables = {t for (t,) in client.execute_sql("select table_name from information_schema.tables "
                                                        "where table_schema = 'raw'")}
    assert arrow_types == dict_types
    assert arrow_rows == dict_rows
    assert not {t for t in dict_tables if t.startswith(("arrow_payments__", "dict_payments__"))}


def test_the_hint_warning_is_muted_only_for_registered_resources() -> None:
    prepare_arrow_resources(["muted"])
    dlt_logger = logging.getLogger("dlt")
    records = []
    for resource in ("muted", "other"):
        record = logging.LogRecord("dlt", logging.WARNING, __file__, 1,
                                   f"In resource: {resource}, when merging arrow schema with dlt schema, several "
                                   "column hints were different.", None, None)
        records.append(all(f.filter(record) for f in dlt_logger.filters))
    assert records == [False, True]
