"""A Lightspeed R-Series account linked through the real API: the consent page on the emulator's
``/auth/oauth/authorize``, the code exchanged at ``/auth/oauth/token``, the account read from
``Account.json`` and its shops discovered; a denied consent links nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth_support import Linking, linking_env


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Linking]:
    with linking_env(monkeypatch, providers=("lightspeed_r",)) as linking:
        yield linking


def test_an_r_series_account_links_through_the_consent_page(env: Linking) -> None:
    consent = env.authorize("lightspeed_r")
    assert urlsplit(consent).path.endswith("/auth/oauth/authorize")
    with env.client() as c:
        denied = c.get(env.consent(consent, "deny"))
    assert denied.status_code == 400 and env.store.list_accounts(env.tenant) == []

    callback = env.consent(env.authorize("lightspeed_r"))
    with env.client() as c:
        landed = c.get(callback)
    assert landed.status_code == 302, landed.text
    account_id = parse_qs(urlsplit(landed.headers["location"]).query)["account_id"][0]
    account = env.store.get_account(account_id, tenant_id=env.tenant)
    cred = env.cred("lightspeed_r")
    assert (account.provider, account.merchant_id, account.status) == ("lightspeed_r", cred["account_id"], "active")
    assert account.location_ids == ["1"] and account.locations[0].timezone == "Europe/Madrid"
    creds = env.store.account_credentials(account_id)
    assert creds.access_token and creds.refresh_token and creds.token_expires_at is not None
    [request] = env.store.latest_sync_requests(account_id, env.tenant)
    assert (request.kind, request.status) == ("sync", "pending")
