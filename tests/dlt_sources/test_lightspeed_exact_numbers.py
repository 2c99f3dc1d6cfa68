"""Lightspeed pages parsed with orjson's binary floats give the raw tables of the ``Decimal`` parse
(``dlt_sources.common.exact_numbers``, ``arrow_nested``'s ``exact_numbers``): same tables, columns,
types and values — and where a number could lose a digit as a double, the page is parsed with
``Decimal`` as before. The cases are chosen to fail on a lossy path (a float's digits, an integer
beyond 64 bits, an exponent beyond the normal doubles) or on a path that types a column otherwise
(a float under a key that is not a money field, integers under a money key, a mixed batch)."""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest
from support.nested_tables import comparable

from dlt_sources.common import exact_numbers
from dlt_sources.common.arrow_nested import NestedTable, nested_tables
from dlt_sources.lightspeed.helpers import shape_rows
from dlt_sources.lightspeed.settings import DECIMAL_FIELDS
from dlt_sources.lightspeed.source import MAX_TABLE_NESTING, arrow_tables

ACCOUNT = "acct-1"


def sale(n: int, **money: Any) -> dict[str, Any]:
    """A sale as the X-Series API renders it (``pos_sandbox/lightspeed_render.py``), money as given."""
    line = {"id": f"li-{n}", "product_id": "p-1", "quantity": 1, "price": 1.27, "unit_price": 1.27,
            "total_price": 1.27, "discount": 0, "total_tax": 0.13, "price_set": False, "sequence": 0,
            "tax_components": [{"rate_id": "t-1", "total_tax": 0.13}]}
    out = {"id": f"sale-{n}", "outlet_id": "o-1", "invoice_number": f"260105-{n:04d}", "status": "CLOSED",
           "note": "", "total_price": 3.9, "total_tax": 0.4, "total_loyalty": 0,
           "sale_date": "2026-01-05T06:00:04+00:00", "version": 1767592804000000 + n,
           "taxes": [{"id": "t-1", "name": "IVA 10%", "rate": 0.1, "amount": 0.4}],
           "line_items": [line, {**line, "id": f"li-{n}b", "sequence": 1}],
           "payments": [{"id": f"pay-{n}", "amount": 4.3, "payment_date": "2026-01-05T06:00:04+00:00",
                         "external_attributes": []}],
           "adjustments": [], "attributes": []}
    out.update(money)
    return out


def page(sales: list[dict[str, Any]], *, raw: dict[str, str] | None = None) -> bytes:
    """The page's JSON; ``raw``: placeholder text -> the number's literal text (what json.dumps of a
    float could not write: ``4.50``, ``1e-400``, 20 digits)."""
    text = json.dumps({"data": sales, "version": {"min": 1, "max": 2}})
    for placeholder, literal in (raw or {}).items():
        text = text.replace(json.dumps(placeholder), literal)
    return text.encode()


def decimal_path(bodies: list[bytes]) -> list[NestedTable]:
    """What the source built before: ``json.loads(parse_float=Decimal)``, ``exact_decimals``, ``pa.array``."""
    rows = []
    for body in bodies:
        rows.extend(shape_rows(json.loads(body, parse_float=Decimal)["data"], ACCOUNT))
    return nested_tables(rows, "sales", max_nesting=MAX_TABLE_NESTING)


def product_path(bodies: list[bytes]) -> tuple[list[NestedTable], list[bool]]:
    """What the source builds now: each page parsed as the client does, one batch of them."""
    rows: list[Any] = []
    exact_pages = []
    for body in bodies:
        payload, exact = exact_numbers.loads(body, binary_numbers=True)
        rows.extend(shape_rows(payload["data"], ACCOUNT, exact=exact))
        exact_pages.append(exact)
    return arrow_tables(rows, "sales", binary=not any(exact_pages)), exact_pages


def column(tables: list[NestedTable], table: str, name: str) -> list[Any]:
    return next(t for t in tables if t.name == table).table.column(name).to_pylist()


# ---------------------------------------------------------------------- the body check
@pytest.mark.parametrize(("body", "safe"), [
    (b'{"a": 4.30435, "version": 1767592804000000, "b": [-0.5, 200, 1e-7, 12345678901234.5]}', True),
    (b'{"a": 123456789012345678}', True),  # 18 digits: an int64, which orjson keeps an int
    (b'{"a": 0.1000000000000000055511151231257827}', False),  # a double's exact value: 0.1 as a float
    (b'{"a": 1234567890123.456}', False),  # 16 digits
    (b'{"a": -12345678901234567.5}', False),
    (b'{"a": 1234567890123456e-3}', False),  # a 16-digit mantissa with an exponent
    (b'{"a": 1234567890123456789}', False),  # 19 digits
    (b'{"a": 18446744073709551616}', False),  # beyond 64 bits: orjson makes it a float
    (b'{"a": 1e-400}', False),  # orjson: 0.0
    (b'{"a": [1.234567e-320, 1]}', False),  # a subnormal double: fewer than 15 digits survive
    (b'{"a": "x1234567890123456.7"}', False),  # text: refused only to be safe
    (b'{"a": "9da2826f-99e7-452e-85f7-7d2306f5ccbc", "b": "5e-123"}', True),  # ids and text, no number
])
def test_the_body_check_refuses_every_number_a_double_could_change(body: bytes, safe: bool) -> None:
    assert exact_numbers.binary_numbers_are_exact(body) is safe
    payload, exact = exact_numbers.loads(body, binary_numbers=True)
    assert exact is not safe
    expected = json.loads(body, parse_float=Decimal)
    got = exact_numbers.exact_numbers_of(payload, frozenset({"a", "b"}))
    assert _values(got) == _values(exact_numbers.exact_numbers_of(expected, frozenset({"a", "b"})))


def _values(value: Any) -> Any:
    """Numbers compared by value and kind (Decimal vs int), as the Arrow types see them."""
    if isinstance(value, dict):
        return {k: _values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_values(v) for v in value]
    return (type(value).__name__, value)


def test_a_lossy_parse_would_change_these_numbers() -> None:
    """The refused bodies are not refused in vain: orjson's floats of them are other values."""
    for literal in (b"0.1000000000000000055511151231257827", b"1.0000000000000001", b"-12345678901234567.5",
                    b"18446744073709551617", b"1e-400", b"1.234567e-320"):
        assert Decimal(repr(orjson.loads(literal))) != Decimal(literal.decode())


def test_decimals_of_up_to_15_digits_survive_the_binary_parse() -> None:
    rng = random.Random(18)
    texts = []
    for _ in range(20000):
        digits = rng.randint(1, 15)
        scale = rng.randint(1, min(digits, 9))
        mantissa = str(rng.randrange(10 ** (digits - 1), 10 ** digits))
        zeros = "0" * rng.randint(0, 15 - digits - (scale == digits))  # 4.50: the value is kept, not the scale
        texts.append(("-" if rng.random() < 0.3 else "") + f"{mantissa[:-scale] or '0'}.{mantissa[-scale:]}{zeros}")
    texts += ["0.1", "0.2", "0.3", "4.30435", "99999999999999.9", "0.000000001", "99999.99999", "1e-7", "2.5E+3",
              "0.0", "-0.0", "1.5e-30"]
    body = ("[" + ",".join(texts) + "]").encode()
    assert exact_numbers.binary_numbers_are_exact(body)
    floats = orjson.loads(body)
    assert [Decimal(repr(x)) for x in floats] == [Decimal(t) for t in texts]


# ---------------------------------------------------------------------- the tables
def test_binary_pages_give_the_tables_of_the_decimal_parse() -> None:
    sales = [sale(i) for i in range(40)]
    sales[3]["line_items"][0]["price"] = 200  # an integer under a money key: a decimal column still
    sales[5]["total_price"] = -0.0
    sales[6]["total_tax"] = 0.000000001
    sales[7]["total_price"] = "@big"  # 17 digits: this page is parsed with Decimal
    bodies = [page(sales[:7]), page(sales[7:20], raw={"@big": "99999999999.999999"}), page(sales[20:])]
    tables, exact_pages = product_path([bodies[0], bodies[2]])
    assert exact_pages == [False, False]  # the binary path was taken
    assert comparable(tables) == comparable(decimal_path([bodies[0], bodies[2]]))
    assert pa.types.is_decimal(next(t for t in tables if t.name == "sales__line_items").table.schema.field("price").type)
    mixed, exact_pages = product_path(bodies)  # one page parsed with Decimal: the batch takes that path
    assert exact_pages == [False, True, False]
    assert comparable(mixed) == comparable(decimal_path(bodies))
    assert Decimal("99999999999.999999") in column(mixed, "sales", "total_price")


@pytest.mark.parametrize("literal", [
    "4.50", "1E+2", "-0.000000001", "12345678901234.56789", "18446744073709551616", "9999999999.999999999",
])
def test_money_literals_load_exactly(literal: str) -> None:
    """Each literal as a sale's total: the tables equal the Decimal parse's, and the value is the
    literal's to the last digit (``Decimal`` of it, as ``decimal(38, 9)`` holds it)."""
    body = page([sale(1, total_price="@money"), sale(2)], raw={"@money": literal})
    tables, _ = product_path([body])
    assert comparable(tables) == comparable(decimal_path([body]))
    assert column(tables, "sales", "total_price")[0] == Decimal(literal)


def test_a_float_under_another_key_or_numbers_in_a_list_take_the_decimal_path() -> None:
    """Outside the money fields the Decimal path types what ``pa.array`` makes of Decimals and ints
    (fractions alone: decimal; mixed with integers: double), a list of numbers a child table whose
    type depends on the list's key: such a batch is built from the Decimal rows."""
    odd = sale(1, loyalty_ratio=0.25, codes=[3, 4], amounts=[1.5, 2])
    body = page([odd, sale(2, loyalty_ratio=1.75), sale(3, loyalty_ratio=2)])
    tables, exact_pages = product_path([body])
    assert exact_pages == [False]
    assert comparable(tables) == comparable(decimal_path([body]))
    fractions = page([sale(1, loyalty_ratio=0.25), sale(2, loyalty_ratio=1.75)])
    assert column(product_path([fractions])[0], "sales", "loyalty_ratio") == [Decimal("0.25"), Decimal("1.75")]


def test_binary_rows_are_not_changed_by_a_refused_batch() -> None:
    """The rows handed to the builder are the caller's (pseudonymised in place); a refused batch
    builds from converted copies, the rows stay as they were."""
    rows = shape_rows(orjson.loads(page([sale(1, loyalty_ratio=0.5)]))["data"], ACCOUNT, exact=False)
    before = copy.deepcopy(rows)
    arrow_tables(rows, "sales", binary=True)
    assert rows == before
    assert exact_numbers.exact_numbers_of(rows, DECIMAL_FIELDS)[0]["loyalty_ratio"] == Decimal("0.5")


@pytest.mark.parametrize("literal", ["0.30000000000000004", "1e-400", "1.0000000001"])
def test_money_beyond_nine_places_fails_on_both_paths(literal: str) -> None:
    """decimal(38, 9) cannot hold them: the Decimal path fails loudly, and so does this one (orjson
    would make the first 0.3, the second 0: loaded, silently wrong)."""
    body = page([sale(1, total_price="@money")], raw={"@money": literal})
    with pytest.raises(pa.ArrowInvalid):
        decimal_path([body])
    with pytest.raises(pa.ArrowInvalid):
        product_path([body])
