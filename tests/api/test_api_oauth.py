"""OAuth linking through the real API and the emulators' consent pages (httpx, redirects followed
by hand): Square and Lightspeed code flows and Toast's partner connection link an account with
its locations and queue its first sync; a reused, expired, forged or other provider's state, a
denied consent and a provider that is down each end on a page that says so, with nothing linked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oauth_support import Linking, linking_env


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Linking]:
    with linking_env(monkeypatch) as linking:
        yield linking


def _linked(env: Linking, callback: str) -> str:
    with env.client() as c:
        landed = c.get(callback)
        assert landed.status_code == 302, landed.text
        done = c.get(landed.headers["location"])
        unsigned = c.get(landed.headers["location"].split("&link=", 1)[0])  # the page needs the callback's proof
    assert done.status_code == 200 and 'id="connected"' in done.text, done.text
    assert unsigned.status_code == 422 and "connected" not in unsigned.text.lower()
    return parse_qs(urlsplit(landed.headers["location"]).query)["account_id"][0]


@pytest.mark.parametrize("provider", ["square", "lightspeed"])
def test_a_merchant_links_through_the_consent_page(env: Linking, provider: str) -> None:
    consent = env.authorize(provider)
    assert urlsplit(consent).netloc == urlsplit(env.cred(provider)["base_url"]).netloc
    state = parse_qs(urlsplit(consent).query)["state"][0]
    if provider == "lightspeed":  # X-Series grants only what the consent asks: every scope the source reads
        from dlt_sources.lightspeed.settings import SCOPES_BY_PATH
        assert set(parse_qs(urlsplit(consent).query)["scope"][0].split()) == set(SCOPES_BY_PATH.values())
    else:  # Square: every read scope the source needs, the customers' too
        from dlt_sources.square.settings import SCOPES_BY_PATH as SQUARE_SCOPES
        asked = set(parse_qs(urlsplit(consent).query)["scope"][0].split())
        assert asked == set(SQUARE_SCOPES.values()) and "CUSTOMERS_READ" in asked
    callback = env.consent(consent)
    account_id = _linked(env, callback)
    account = env.store.get_account(account_id, tenant_id=env.tenant)
    assert account.provider == provider and account.status == "active"
    assert sorted(account.location_ids) == sorted(env.cred(provider)["location_ids"])
    creds = env.store.account_credentials(account_id)
    assert creds.access_token and creds.refresh_token  # stored (encrypted) — and never shown
    [request] = env.store.latest_sync_requests(account_id, env.tenant)
    assert (request.kind, request.status) == ("sync", "pending")  # its first sync is queued

    with env.client() as c:  # the same callback again: the state was single-use
        again = c.get(callback)
    assert again.status_code == 400 and "already used" in again.text
    assert len(env.store.list_accounts(env.tenant)) == 1
    assert state not in str(env.store.list_accounts(env.tenant))


def test_toast_links_through_the_partner_connection(env: Linking) -> None:
    with env.client() as c:
        link = parse_qs(urlsplit(env.connect_link()).query)["link"][0]
        form = c.get(f"{env.api_url}/api/v1/pos/oauth/toast/authorize", params={"link": link})
        assert form.status_code == 200 and "restaurant_guid" in form.text
        state = form.text.split('name="state" value="', 1)[1].split('"', 1)[0]
        guid = env.cred("toast")["location_ids"][0]
        landed = c.get(f"{env.api_url}/api/v1/pos/oauth/toast/callback", params={"state": state,
                                                                                "restaurant_guid": guid})
    assert landed.status_code == 302, landed.text
    account_id = parse_qs(urlsplit(landed.headers["location"]).query)["account_id"][0]
    assert env.store.get_account(account_id).location_ids == [guid]


def test_bad_states_denials_and_provider_failures_link_nothing(env: Linking) -> None:
    from pos_sync.appstore.models import utcnow
    from pos_sync.appstore.oauth_states import issue_state

    callback = f"{env.api_url}/api/v1/pos/oauth/square/callback"
    with env.client() as c:
        denied = c.get(env.consent(env.authorize("square"), decision="deny"))
        assert denied.status_code == 400 and "not granted" in denied.text
        expired = issue_state(env.tenant, "square", callback, now=utcnow() - timedelta(minutes=11))
        response = c.get(callback, params={"state": expired, "code": "x"})
        assert response.status_code == 400 and "expired" in response.text
        lightspeeds = issue_state(env.tenant, "lightspeed", callback)
        assert c.get(callback, params={"state": lightspeeds, "code": "x"}).status_code == 400
        assert c.get(callback, params={"state": "forged", "code": "x"}).status_code == 400
        forged_link = c.get(f"{env.api_url}/api/v1/pos/oauth/square/authorize", params={"link": "not.a.link"})
        assert forged_link.status_code == 401
        # the merchant approved, then the provider went down before the code was exchanged
        approved = env.consent(env.authorize("square"))
        env.server.stop()
        down = c.get(approved)
        assert down.status_code == 502 and "Could not connect Square" in down.text and "Traceback" not in down.text
    assert env.store.list_accounts(env.tenant) == []


def test_accounts_created_with_credentials_and_reconnected(env: Linking) -> None:
    """POST /accounts with credentials in hand (a Toast machine client; a Square token), checked with
    the provider like the CLI's ``accounts add``; reconnect renews the tokens, or says the merchant
    must consent again (with the link) when the provider refuses."""
    headers = {"Authorization": f"Bearer {env.key}"}
    toast, square = env.cred("toast"), env.cred("square")
    with env.client() as c:
        created = c.post(f"{env.api_url}/api/v1/pos/accounts", headers=headers, json={
            "provider": "toast", "client_id": toast["client_id"], "client_secret": toast["client_secret"],
            "restaurant_guids": toast["location_ids"], "base_url": toast["base_url"], "historical_days": 5})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["location_ids"] == toast["location_ids"] and toast["client_secret"] not in created.text
        assert [r.kind for r in env.store.latest_sync_requests(body["id"], env.tenant)] == ["sync"]
        wrong = c.post(f"{env.api_url}/api/v1/pos/accounts", headers=headers, json={
            "provider": "toast", "client_id": toast["client_id"], "client_secret": "wrong",
            "restaurant_guids": toast["location_ids"], "base_url": toast["base_url"]})
        assert wrong.status_code == 502 and "refused" in wrong.json()["detail"]

        sq = c.post(f"{env.api_url}/api/v1/pos/accounts", headers=headers, json={
            "provider": "square", "access_token": square["access_token"], "refresh_token": square["refresh_token"],
            "base_url": square["base_url"]}).json()
        renewed = c.post(f"{env.api_url}/api/v1/pos/accounts/{sq['id']}/reconnect", headers=headers)
        assert renewed.status_code == 200 and renewed.json()["status"] == "active", renewed.text
        assert env.store.account_credentials(sq["id"]).access_token != square["access_token"]  # a fresh token
        # the grant is revoked at Square: the merchant must consent again, and is told where
        revoked = httpx.post(f"{square['base_url']}/oauth2/revoke", headers={"Authorization": f"Client {square['client_secret']}"},
                             json={"client_id": square["client_id"], "merchant_id": square["account_id"]})
        assert revoked.status_code == 200, revoked.text
        refused = c.post(f"{env.api_url}/api/v1/pos/accounts/{sq['id']}/reconnect", headers=headers)
        assert refused.status_code == 409, refused.text
        assert "/api/v1/pos/oauth/square/authorize?link=" in refused.json()["authorize_url"]
        assert env.store.get_account(sq["id"]).status == "disconnected"


def test_a_callbacks_domain_prefix_never_chooses_where_squares_code_goes(env: Linking) -> None:
    """Square's code goes to Square's token endpoint, whatever the callback's query adds: a
    ``domain_prefix`` there used to switch the token URL to Lightspeed's store template, so a tenant
    could send the app's client secret to a host of its choosing (``evil.example/x?``)."""
    callback = env.consent(env.authorize("square")) + "&domain_prefix=evil.example%2Fx%3F"
    account_id = _linked(env, callback)
    assert env.store.get_account(account_id).provider == "square"


def test_a_lightspeed_domain_prefix_is_one_dns_label() -> None:
    """The store URL a Lightspeed code (and the app's client secret) is sent to is built from the
    callback's ``domain_prefix``: anything but one DNS label would name another host."""
    from dlt_sources.lightspeed.helpers import store_base_url
    from pos_sync.providers.lightspeed.oauth import store_url
    from pos_sync.providers.linking import LinkError
    from pos_sync.settings import load_settings

    assert store_base_url("sanbartolo-3") == "https://sanbartolo-3.retail.lightspeed.app"
    for bad in ("evil.example/x?", "evil.example#", "a.b", "-x", "x-", "x" * 64, "a b", "user@evil"):
        with pytest.raises(ValueError, match="not a Lightspeed domain prefix"):
            store_base_url(bad)
    with pytest.raises(LinkError, match="named no store: not a Lightspeed domain prefix"):
        store_url({"domain_prefix": "evil.example/x?"}, load_settings())


def test_a_toast_restaurant_another_organisation_linked_is_not_linked_again(env: Linking) -> None:
    """Toast's partner client sees every restaurant that connected it, and the connect form sends a
    GUID: it proves no ownership, so one tenant could link (and sync) another tenant's restaurant."""
    guid = env.cred("toast")["location_ids"][0]

    def connect(key: str) -> httpx.Response:
        with env.client() as c:
            made = c.post(f"{env.api_url}/api/v1/pos/oauth/links", headers={"Authorization": f"Bearer {key}"})
            link = parse_qs(urlsplit(made.json()["url"]).query)["link"][0]
            form = c.get(f"{env.api_url}/api/v1/pos/oauth/toast/authorize", params={"link": link})
            state = form.text.split('name="state" value="', 1)[1].split('"', 1)[0]
            return c.get(f"{env.api_url}/api/v1/pos/oauth/toast/callback",
                         params={"state": state, "restaurant_guid": guid})

    assert connect(env.key).status_code == 302  # the first organisation links it
    other, other_key = env.store.create_tenant("Horno del Otro Lado")
    refused = connect(other_key)
    assert refused.status_code == 409 and "connected to another organisation" in refused.text
    assert env.store.list_accounts(other) == []
    assert connect(env.key).status_code == 302  # its own organisation may connect it again


def test_connecting_a_second_toast_restaurant_adds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant's Toast account is the partner client's (its merchant id); each connect names one
    restaurant: the second one used to replace the first, whose syncs then stopped."""
    with linking_env(monkeypatch, ("toast",), scale="chain") as env:  # a group of two restaurants
        first, second = env.cred("toast")["location_ids"][:2]

        def connect(guid: str) -> str:
            with env.client() as c:
                link = parse_qs(urlsplit(env.connect_link()).query)["link"][0]
                form = c.get(f"{env.api_url}/api/v1/pos/oauth/toast/authorize", params={"link": link})
                state = form.text.split('name="state" value="', 1)[1].split('"', 1)[0]
                landed = c.get(f"{env.api_url}/api/v1/pos/oauth/toast/callback",
                               params={"state": state, "restaurant_guid": guid})
            assert landed.status_code == 302, landed.text
            return parse_qs(urlsplit(landed.headers["location"]).query)["account_id"][0]

        account = connect(first)
        assert connect(second) == account
        assert sorted(env.store.get_account(account).location_ids) == sorted([first, second])
        assert connect(first) == account  # again: nothing doubles
        assert sorted(env.store.get_account(account).location_ids) == sorted([first, second])
