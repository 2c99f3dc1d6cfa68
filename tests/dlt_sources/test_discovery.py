"""Location discovery of the three providers against the sandbox emulators on loopback: what is
found, the one-line messages of the failures (no token or secret in them), Toast's login and its
token reuse, Lightspeed's version paging, and the token providers' refresh during discovery."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from lightspeed_support import HttpLog as LsHttpLog
from lightspeed_support import LightspeedEnv, ls_http_log, make_ls_env
from requests import PreparedRequest, Response
from square_support import SquareEnv
from toast_support import ToastEnv, toast_env

from dlt_sources.common import (
    DiscoveryError,
    DiscoveryUnavailable,
    Location,
    MissingScopes,
    RetryPolicy,
    TokenRejected,
    TokenSet,
)
from dlt_sources.common.http import ApiSession
from dlt_sources.lightspeed import discover_outlets
from dlt_sources.square import discover_locations, merchant_id_of, square_tokens
from dlt_sources.toast import discover_restaurants, login, toast_tokens

__all__ = ["ls_http_log", "make_ls_env", "toast_env"]  # the fixtures, imported for pytest

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_total_sleep=1.0, timeout=5.0)
LOCATION_KEYS = {"location_id", "name", "timezone", "currency", "merchant_id", "business_name", "status"}


def raised(call: Callable[[], Any], kind: type[DiscoveryError] = DiscoveryError) -> DiscoveryError:
    """The discovery error ``call`` raises; its message is one line."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message == message.strip()
    return info.value


@pytest.fixture()
def sent_headers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """(path, headers) of every request an ApiSession sends."""
    sent: list[tuple[str, dict[str, str]]] = []
    original = ApiSession._send_once

    def send_once(self: ApiSession, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        sent.append((request.path_url, dict(request.headers)))
        return original(self, request, kwargs)

    monkeypatch.setattr(ApiSession, "_send_once", send_once)
    return sent


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------------- Square
def test_square_lists_the_merchants_locations(make_env: Callable[..., SquareEnv],
                                              sent_headers: list[tuple[str, dict[str, str]]]) -> None:
    env = make_env(days=1)
    acct = env.account
    found = discover_locations(acct["base_url"], square_tokens(TokenSet(acct["access_token"])))
    assert all(set(loc) == LOCATION_KEYS for loc in found)
    assert sorted(loc["location_id"] for loc in found) == sorted(acct["location_ids"])
    for world_loc in env.world.locations:
        loc = next(f for f in found if f["location_id"] == world_loc.location_id)
        assert (loc["name"], loc["timezone"], loc["currency"], loc["status"]) == \
            (world_loc.name, world_loc.timezone, world_loc.currency, "ACTIVE")
        assert loc["business_name"]
    assert merchant_id_of(found) == acct["account_id"]
    [(path, headers)] = sent_headers
    assert path == "/square/v2/locations"
    assert headers["Authorization"] == f"Bearer {acct['access_token']}"
    assert headers["Square-Version"] == "2025-08-20"


def test_square_401_403_and_unreachable_are_clear_one_line_errors(make_env: Callable[..., SquareEnv]) -> None:
    env = make_env(days=1)
    acct = env.account
    bad = "bad-SECRET-999"
    error = raised(lambda: discover_locations(acct["base_url"], square_tokens(TokenSet(bad)), policy=FAST))
    assert str(error) == ("Square rejected the access token (HTTP 401: UNAUTHORIZED: This request could not "
                          "be authorized.); check the token and that it belongs to this environment "
                          "(production vs sandbox base URL)")
    assert isinstance(error.__cause__, TokenRejected) and bad not in str(error)

    issued = httpx.post(acct["base_url"] + "/_sandbox/square/tokens",
                        json={"merchant_id": acct["account_id"], "scopes": ["PAYMENTS_READ"]}).json()["access_token"]
    error = raised(lambda: discover_locations(acct["base_url"], square_tokens(TokenSet(issued)), policy=FAST))
    assert str(error).startswith("Square refused to list locations (HTTP 403: INSUFFICIENT_SCOPES: ")
    assert str(error).endswith("; the token needs the MERCHANT_PROFILE_READ permission") and issued not in str(error)

    down = closed_port_url()
    error = raised(lambda: discover_locations(down, square_tokens(TokenSet(acct["access_token"])), policy=FAST))
    assert str(error).startswith(f"could not reach Square at {down}: ") and acct["access_token"] not in str(error)


def test_square_refreshes_an_expired_token_once_and_hands_it_over(make_env: Callable[..., SquareEnv]) -> None:
    env = make_env(days=1)
    acct = env.account
    httpx.post(acct["base_url"] + "/_sandbox/square/tokens/expire", json={"access_token": acct["access_token"]})
    saved: list[TokenSet] = []
    provider = env.token_provider(on_refresh=saved.append)
    found = discover_locations(acct["base_url"], provider, policy=FAST)
    assert sorted(loc["location_id"] for loc in found) == sorted(acct["location_ids"])
    assert provider.refresh_count == 1 and [t.access_token for t in saved] == [provider.tokens.access_token]


def test_merchant_id_of_needs_exactly_one_merchant() -> None:
    def loc(merchant: str | None) -> Location:
        return Location(location_id="L", name=None, timezone=None, currency=None, merchant_id=merchant,
                        business_name=None, status=None)

    assert merchant_id_of([loc("M1"), loc("M1")]) == "M1"
    assert str(raised(lambda: merchant_id_of([loc(None)]))) == "Square returned no merchant_id with the locations"
    assert "several merchants: M1, M2" in str(raised(lambda: merchant_id_of([loc("M2"), loc("M1")])))


# ---------------------------------------------------------------------- Toast
def test_toast_login_then_restaurant_details_reuse_the_token(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env(days=1)
    acct = env.account
    token = login(acct["client_id"], acct["client_secret"], acct["base_url"])
    assert token.access_token and token.expires_at is not None and token.expires_at > datetime.now(UTC)
    saved: list[TokenSet] = []
    provider = toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"], current=token,
                            on_refresh=saved.append)
    guid = env.restaurants[0]
    [found] = discover_restaurants(acct["base_url"], provider, [guid, guid])  # duplicates asked once
    world_loc = next(loc for loc in env.world.locations if loc.location_id == guid)
    assert set(found) == LOCATION_KEYS
    assert (found["location_id"], found["timezone"], found["currency"], found["status"]) == \
        (guid, world_loc.timezone, "USD", "ACTIVE")
    assert found["name"] and found["business_name"] and found["merchant_id"]
    assert env.stats()["login_calls"] == 1 and saved == []  # the stored token was reused


def test_toast_stale_token_is_replaced_by_one_login_handed_to_on_refresh(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env(days=1)
    acct = env.account
    saved: list[TokenSet] = []
    stale = TokenSet("unknown-to-toast", expires_at=datetime.now(UTC) + timedelta(hours=1))
    provider = toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"], current=stale,
                            on_refresh=saved.append)
    assert [r["location_id"] for r in discover_restaurants(acct["base_url"], provider, env.restaurants)] == \
        env.restaurants
    assert env.stats()["login_calls"] == 1 and len(saved) == 1 and saved[0].access_token != stale.access_token


def test_toast_errors_bad_secret_unknown_guid_and_no_partners_api(toast_env: Callable[..., ToastEnv]) -> None:
    env = toast_env(days=1)
    acct = env.account
    wrong = "wrong-SECRET-333"
    error = raised(lambda: login(acct["client_id"], wrong, acct["base_url"], policy=FAST))
    assert str(error) == ("Toast refused the machine-client login (HTTP 401: 10001 Access Denied The client "
                          "credentials are not valid.); check the client id and secret and that they belong to "
                          "this environment (production vs sandbox)")
    assert wrong not in str(error) and acct["client_secret"] not in str(error)
    # the same refusal when the provider has to log in during discovery
    provider = toast_tokens(acct["client_id"], wrong, acct["base_url"], policy=FAST)
    assert str(raised(lambda: discover_restaurants(acct["base_url"], provider, env.restaurants))) == str(error)

    provider = toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"])
    error = raised(lambda: discover_restaurants(acct["base_url"], provider, ["not-a-restaurant"], policy=FAST))
    assert str(error).startswith("restaurant not-a-restaurant is not visible to this Toast client (HTTP 403: ")
    assert str(error).endswith("; check the GUID and the client's restaurant access")

    error = raised(lambda: discover_restaurants(acct["base_url"], provider, None, policy=FAST), DiscoveryUnavailable)
    assert str(error) == ("this Toast client cannot list its restaurants (partners API: HTTP 404); "
                          "pass the restaurant GUIDs with --location")
    assert env.stats()["login_calls"] == 1  # one login served both calls (refused logins are not counted)

    down = closed_port_url()
    error = raised(lambda: login(acct["client_id"], acct["client_secret"], down, policy=FAST))
    assert str(error).startswith(f"could not reach Toast at {down}: ") and acct["client_secret"] not in str(error)


def test_toast_partners_list_when_the_client_may_read_it(toast_env: Callable[..., ToastEnv],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator has no partners API: its answer is faked here (a list, then a 401)."""
    env = toast_env(days=1)
    acct = env.account
    guid = env.restaurants[0]
    partners: dict[str, Any] = {"status": 200, "body": [{"restaurantGuid": guid},
                                                        {"restaurantGuid": "deleted-one", "deleted": True}]}
    original = ApiSession._send_once

    def send_once(self: ApiSession, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        if not request.path_url.endswith("/partners/v1/restaurants"):
            return original(self, request, kwargs)
        assert "Toast-Restaurant-External-ID" not in request.headers
        response = Response()
        response.status_code = partners["status"]
        response._content = json.dumps(partners["body"]).encode()
        response.request = request
        return response

    monkeypatch.setattr(ApiSession, "_send_once", send_once)
    provider = toast_tokens(acct["client_id"], acct["client_secret"], acct["base_url"])
    assert [r["location_id"] for r in discover_restaurants(acct["base_url"], provider)] == [guid]
    partners.update(status=401, body={"status": 401, "message": "Unauthorized"})
    error = raised(lambda: discover_restaurants(acct["base_url"], provider, [], policy=FAST), DiscoveryUnavailable)
    assert "partners API: HTTP 401" in str(error) and "--location" in str(error)


# ---------------------------------------------------------------------- Lightspeed
def test_lightspeed_pages_the_outlets_by_version(make_ls_env: Callable[..., LightspeedEnv],
                                                 ls_http_log: LsHttpLog) -> None:
    env = make_ls_env(days=1, scale="chain")  # three outlets
    acct = env.account
    provider = env.token_provider()
    found = discover_outlets(acct["base_url"], provider, page_size=1)
    assert sorted(loc["location_id"] for loc in found) == sorted(acct["location_ids"]) and len(found) == 3
    for loc in found:
        world_loc = next(w for w in env.world.locations if w.location_id == loc["location_id"])
        assert set(loc) == LOCATION_KEYS
        assert (loc["name"], loc["timezone"], loc["currency"], loc["status"]) == \
            (world_loc.name, world_loc.timezone, world_loc.currency, "ACTIVE")
    afters = [int(s.params["after"]) for s in ls_http_log.api()]
    assert len(afters) == 4 and afters[0] == 0 and afters == sorted(set(afters))  # 3 pages, then an empty one
    assert {s.params["page_size"] for s in ls_http_log.api()} == {"1"}
    assert env.saved == []  # no refresh was needed


def test_lightspeed_skips_soft_deleted_outlets(make_ls_env: Callable[..., LightspeedEnv],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    env = make_ls_env(days=1, scale="chain")
    acct = env.account
    gone = acct["location_ids"][1]
    original = ApiSession._send_once

    def send_once(self: ApiSession, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        response = original(self, request, kwargs)
        body = json.loads(response.content)
        for outlet in body.get("data") or []:
            if outlet["id"] == gone:
                outlet["deleted_at"] = "2026-03-01T10:00:00+00:00"
        response._content = json.dumps(body).encode()
        return response

    monkeypatch.setattr(ApiSession, "_send_once", send_once)
    found = discover_outlets(acct["base_url"], env.token_provider())
    assert sorted(loc["location_id"] for loc in found) == sorted(set(acct["location_ids"]) - {gone})


def test_lightspeed_401_is_clear_and_an_expired_token_is_refreshed_and_handed_over(
        make_ls_env: Callable[..., LightspeedEnv]) -> None:
    env = make_ls_env(days=1)
    acct = env.account
    bad = TokenSet("ls-access-SECRET-444")  # no refresh token: nothing to renew it with
    error = raised(lambda: discover_outlets(acct["base_url"], _lightspeed_static(env, bad), policy=FAST))
    assert str(error) == ("Lightspeed rejected the access token (HTTP 401); check the token (it may have "
                          "expired: connect the store again) and the domain prefix")
    assert isinstance(error.__cause__, TokenRejected) and bad.access_token not in str(error)

    env.sandbox_post("/_sandbox/lightspeed/tokens/expire", {"access_token": env.tokens["access_token"]})
    old_refresh = env.tokens["refresh_token"]
    found = discover_outlets(acct["base_url"], env.token_provider())
    assert [loc["location_id"] for loc in found] == acct["location_ids"]
    # the refresh rotated the refresh token: on_refresh received the new set (the caller must keep it)
    assert len(env.saved) == 1 and env.saved[0].refresh_token not in (None, old_refresh)


def _lightspeed_static(env: LightspeedEnv, tokens: TokenSet) -> Any:
    from dlt_sources.lightspeed import lightspeed_tokens

    return lightspeed_tokens(tokens, base_url=env.account["base_url"], client_id=None, client_secret=None)


def test_discovery_errors_are_source_errors_too() -> None:
    from dlt_sources.common import PosSourceError

    assert issubclass(DiscoveryUnavailable, DiscoveryError) and issubclass(DiscoveryError, PosSourceError)
    assert not issubclass(MissingScopes, DiscoveryError)
    assert str(DiscoveryError("two\n  lines")) == "two lines"
