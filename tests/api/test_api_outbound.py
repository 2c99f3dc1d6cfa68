"""Addresses a tenant names are never where the service sends a token: ``POST /accounts`` takes a
``base_url`` only for a sandbox on this machine (a provider's address is the operator's setting),
and a Lightspeed ``domain_prefix`` only as the one DNS label it is — before either, the service
fetched ``http://169.254.169.254/latest/v2/locations`` with the given bearer token."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from api_support import Api


@pytest.fixture()
def outbound(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []

    def refuse(_session: Any, request: Any, **_kw: Any) -> Any:
        sent.append(str(request.url))
        raise requests.ConnectionError("no network in this test")

    monkeypatch.setattr(requests.Session, "send", refuse)
    return sent


@pytest.mark.parametrize("body", [
    {"provider": "square", "access_token": "x", "base_url": "http://169.254.169.254/latest"},
    {"provider": "square", "access_token": "x", "base_url": "https://internal-admin.corp:8080"},
    {"provider": "lightspeed", "access_token": "x", "refresh_token": "y", "domain_prefix": "internal-admin.corp:8080/#"},
    {"provider": "lightspeed", "access_token": "x", "refresh_token": "y", "domain_prefix": "evil.example/x?"},
])
def test_an_address_a_tenant_names_is_refused_before_any_request(api: Api, outbound: list[str],
                                                                  body: dict[str, str]) -> None:
    answer = api.post("/api/v1/pos/accounts", json=body)
    assert answer.status_code == 422, answer.text
    assert "base_url may only name a sandbox" in answer.text or "not a Lightspeed domain prefix" in answer.text
    assert outbound == []
    assert api.store.list_accounts(api.tenant) == []


def test_a_sandbox_on_this_machine_is_still_reached(api: Api, outbound: list[str]) -> None:
    answer = api.post("/api/v1/pos/accounts", json={"provider": "square", "access_token": "x",
                                                    "base_url": "http://127.0.0.1:9/square"})
    assert answer.status_code in (502, 503), answer.text  # tried (nothing listens here), not refused
    assert outbound and outbound[0].startswith("http://127.0.0.1:9/square")
