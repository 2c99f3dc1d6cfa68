"""dlt_sources.common.pseudonymise with transforms.pii's keyed hash: dict rows, Arrow tables, the
map step a dlt source gets, and agreement with the canonical normalisers (no double hashing)."""

from __future__ import annotations

import dlt
import pyarrow as pa

from dlt_sources.common.arrow import to_arrow
from dlt_sources.common.pseudonymise import (
    pii_columns,
    pseudonymise_resources,
    pseudonymise_rows,
    pseudonymise_table,
)
from dlt_sources.lightspeed.settings import PII_FIELDS as LIGHTSPEED_PII
from dlt_sources.square.settings import PII_FIELDS as SQUARE_PII
from dlt_sources.toast.settings import PII_FIELDS as TOAST_PII
from transforms.pii import Pseudonymizer, is_pseudonym, make_pseudonymizer, normalise_email, normalise_phone

KEY = b"test-key"
P = Pseudonymizer(KEY)


def toast_order() -> dict:
    return {"guid": "o1", "checks": [
        {"guid": "c1", "tabName": "Ana", "customer": {"guid": "cust-1", "entityType": "Customer", "firstName": "Ana",
                                                      "lastName": "García", "phone": "+34 600 111 222",
                                                      "email": " Ana@Example.com"}},
        {"guid": "c2"}]}


def test_dict_rows_hash_the_named_paths_through_lists_and_leave_the_rest() -> None:
    [row] = pseudonymise_rows([toast_order()], TOAST_PII["orders"], P)
    customer = row["checks"][0]["customer"]
    assert customer["guid"] == make_pseudonymizer(KEY)("cust-1")
    assert customer["email"] == make_pseudonymizer(KEY, normalise=normalise_email)("ana@example.com")
    assert customer["phone"] == make_pseudonymizer(KEY, normalise=normalise_phone)("+34600111222")
    assert all(is_pseudonym(customer[k]) for k in ("firstName", "lastName"))
    assert is_pseudonym(row["checks"][0]["tabName"])
    assert customer["entityType"] == "Customer" and row["guid"] == "o1" and row["checks"][1] == {"guid": "c2"}


def test_hashing_twice_changes_nothing_and_the_canonical_hash_agrees() -> None:
    once = pseudonymise_rows([toast_order()], TOAST_PII["orders"], P)
    twice = pseudonymise_rows([toast_order()], TOAST_PII["orders"], P)
    twice = pseudonymise_rows(twice, TOAST_PII["orders"], P)
    assert once == twice
    email = once[0]["checks"][0]["customer"]["email"]
    # the canonical normaliser applied to the raw pseudonym returns it as it is
    assert make_pseudonymizer(KEY, normalise=normalise_email)(email) == email
    assert make_pseudonymizer(KEY, keep_clear=True)(email) == email


def test_subtrees_hash_every_text_leaf() -> None:
    payment = {"id": "p1", "amount_money": {"amount": 250, "currency": "EUR"},
               "billing_address": {"address_line_1": "Calle Mayor 1", "locality": "Madrid", "postal_code": "28013"},
               "card_details": {"card": {"cardholder_name": "ANA GARCIA", "last_4": "1111"}}}
    [row] = pseudonymise_rows([payment], SQUARE_PII["payments"], P)
    assert all(is_pseudonym(v) for v in row["billing_address"].values())
    assert is_pseudonym(row["card_details"]["card"]["cardholder_name"])
    assert row["card_details"]["card"]["last_4"] == "1111" and row["amount_money"] == {"amount": 250, "currency": "EUR"}


def test_arrow_tables_are_hashed_column_wise_like_the_dict_rows() -> None:
    rows = [{"id": f"p{i}", "customer_id": None if i % 3 == 0 else f"C{i % 4}",
             "billing_address": {"locality": "Madrid"},
             "card_details": {"card": {"cardholder_name": "ANA" if i % 2 else None, "last_4": "1111"}}}
            for i in range(12)]
    table = to_arrow(rows)
    hashed = pseudonymise_table(table, SQUARE_PII["payments"], P)
    expected = pseudonymise_rows([dict(r, card_details={"card": dict(r["card_details"]["card"])},
                                       billing_address=dict(r["billing_address"])) for r in rows],
                                 SQUARE_PII["payments"], P)
    assert hashed.column("customer_id").to_pylist() == [r["customer_id"] for r in expected]
    assert hashed.column("card_details__card__cardholder_name").to_pylist() == [
        r["card_details"]["card"]["cardholder_name"] for r in expected]
    assert hashed.column("billing_address__locality").to_pylist() == [P("Madrid", "text")] * 12
    assert hashed.column("card_details__card__last_4") == table.column("card_details__card__last_4")
    assert hashed.schema == table.schema
    # a record batch is hashed the same way; an empty one passes through
    from dlt_sources.common.pseudonymise import _Rules

    rules = _Rules(SQUARE_PII["payments"], P)
    batch = rules(table.to_batches()[0])
    assert batch.column("customer_id").to_pylist() == hashed.column("customer_id").to_pylist()[:batch.num_rows]
    empty = table.slice(0, 0).combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    assert rules(empty[0]).num_rows == 0


def test_a_dlt_resource_gets_the_step_and_none_adds_nothing() -> None:
    @dlt.resource(name="users")
    def users():
        yield [{"id": "u1", "display_name": "María López", "email": "maria@x.example", "username": "maria"}]

    @dlt.resource(name="payments")
    def payments():
        yield pa.table({"id": ["p1", "p2"], "customer_id": ["C1", "C1"]})

    [res] = pseudonymise_resources([users()], LIGHTSPEED_PII, P)
    [row] = list(res)
    assert row["display_name"] == "María López" and is_pseudonym(row["email"]) and is_pseudonym(row["username"])
    [clear] = pseudonymise_resources([users()], LIGHTSPEED_PII, None)
    assert list(clear)[0]["email"] == "maria@x.example"
    [res] = pseudonymise_resources([payments()], SQUARE_PII, P)
    [table] = list(res)
    assert table.column("customer_id").to_pylist() == [P("C1")] * 2


def test_pii_columns_name_the_warehouse_tables_and_columns() -> None:
    toast = pii_columns("orders", TOAST_PII["orders"])
    assert toast["orders__checks"]["customer__email"] == "email"
    assert toast["orders__checks"]["tab_name"] == "name"
    assert toast["orders"]["delivery_info"] == "text"
    square = pii_columns("orders", SQUARE_PII["orders"])
    assert square["orders__tenders"]["customer_id"] == "id"
    assert square["orders__fulfillments"]["pickup_details__recipient__email_address"] == "email"
