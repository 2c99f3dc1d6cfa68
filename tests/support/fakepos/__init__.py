"""FakePOS: a fourth provider that exists only in the tests — its API, world and ground truth,
its dlt source, its canonical builder and its registry description, all in this one package.

``registry.register(fakepos.SPEC)`` is the one line that adds it to pos-sync (see
``tests/pos_dagster/test_fourth_provider.py``)."""

from __future__ import annotations

from typing import Any

from dlt_sources.common.auth import TokenProvider
from pos_sync.providers import ProviderSpec, SourceRequest, TokenRequest
from support.fakepos.build import build
from support.fakepos.source import fakepos_source


def tokens(req: TokenRequest) -> TokenProvider:
    return TokenProvider.static(req.creds.access_token or "", provider="FakePOS")


def build_source(req: SourceRequest) -> Any:
    return fakepos_source(req.token_provider, req.creds.base_url or "", req.creds.account_id, req.initial_start)


SPEC = ProviderSpec(
    name="fakepos",
    label="FakePOS",
    resources=("shops", "sales"),
    transaction_tables=("sales",),
    build_source=build_source,
    tokens=tokens,
    credential_kind="oauth",
    reauth_status="reauth_required",
    default_base_url=None,
    canonical=build,
    canonical_inputs={"pos_transactions": ("sales", "shops"), "pos_transaction_items": ("sales",),
                      "pos_tenders": ("sales",), "pos_products": ("sales",), "pos_locations": ("shops",)},
    descriptions={"raw": "Incremental FakePOS sync of one account: shops and sales (with lines)."},
)
