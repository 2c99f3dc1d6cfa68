"""OAuth linking a merchant clicks through.

* ``POST /api/v1/pos/oauth/links`` (authenticated) → a short-lived signed link to the connect page,
  for the dashboard to open in the merchant's browser (a browser cannot send the API key).
* ``GET /api/v1/pos/oauth/connect?link=…`` → a minimal page with one "Connect <provider>" button
  per provider.
* ``GET /api/v1/pos/oauth/{provider}/authorize`` (the Bearer key, or ``link=``) → a ``state`` that
  is random, single-use, bound to the tenant and expiring (10 min), and a redirect to the
  provider's consent page (Toast: the partner-connection page, see ``providers/toast/oauth.py``).
* ``GET /api/v1/pos/oauth/{provider}/callback`` → the state checked and consumed, the code
  exchanged (Authlib, the confidential flow with the client secret), the tokens stored encrypted,
  locations discovered, the first sync queued; then a redirect to ``POS_OAUTH_SUCCESS_URL`` (default
  the page below) with the account id — or an error page that says what happened.
* ``GET /api/v1/pos/oauth/done`` → the default success page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from authlib.integrations.requests_client import OAuth2Session
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pos_sync.api.auth import LINK_TTL_SECONDS, link_claims, sign_link, tenant_of
from pos_sync.api.deps import Store, Tenant
from pos_sync.api.problems import Problem
from pos_sync.api.schemas import ConnectLink
from pos_sync.appstore import AppStore
from pos_sync.appstore.oauth_states import InvalidState
from pos_sync.providers import ProviderSpec, registry
from pos_sync.providers.oauth import OAuthFlow

router = APIRouter(prefix="/api/v1/pos/oauth", tags=["oauth"])
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto}} a.button,button{{display:inline-block;
padding:.6em 1.2em;margin:.3em;border:1px solid #335;border-radius:.3em;background:#eef;color:#113;
text-decoration:none;font-size:1em}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)


def _flow(provider: str) -> tuple[ProviderSpec, OAuthFlow]:
    spec = registry.get(provider)
    if spec.oauth is None:
        raise Problem(404, f"{spec.label} accounts are not linked through OAuth")
    return spec, spec.oauth


def _callback_url(request: Request, provider: str) -> str:
    public = request.app.state.settings.public_url
    path = f"/api/v1/pos/oauth/{provider}/callback"
    return public + path if public else str(request.base_url).rstrip("/") + path


@router.post("/links", response_model=ConnectLink, summary="A short-lived link to the connect page for a browser")
def connect_link(request: Request, store: Store, tenant: Tenant) -> ConnectLink:
    link = sign_link(store.settings, tenant)
    return ConnectLink(url=str(request.url_for("connect_page").include_query_params(link=link)),
                       expires_in=LINK_TTL_SECONDS)


@router.get("/connect", name="connect_page", response_class=HTMLResponse, summary="The connect page (link=)")
def connect_page(request: Request, store: Store, link: str = Query(...)) -> HTMLResponse:
    link_claims(store.settings, link)
    buttons = "".join(
        f'<p><a class="button" id="connect-{spec.name}" href="'
        f'{html.escape(str(request.url_for("oauth_authorize", provider=spec.name).include_query_params(link=link)))}'
        f'">Connect {html.escape(spec.label)}</a></p>'
        for spec in registry if spec.oauth is not None)
    return page("Connect your point of sale", "<p>Choose your till's provider. You will approve access on the "
                                              f"provider's own page and come back here.</p>{buttons}")


def _tenant_for_authorize(request: Request, store: AppStore, link: str | None) -> tuple[str, str | None]:
    if link:
        claims = link_claims(store.settings, link)
        return str(claims["tenant_id"]), claims.get("account_id")
    return tenant_of(request, store), None


def authorize(provider: str, request: Request, store: Store, link: str | None = None) -> Response:
    spec, flow = _flow(provider)
    tenant, account_id = _tenant_for_authorize(request, store, link)
    try:
        client_id, _secret = flow.client(store.settings)
    except ValueError as exc:
        return page("Cannot connect right now", f"<p>{html.escape(str(exc))}</p>", 503)
    redirect_uri = _callback_url(request, provider)
    # the success page is the service's configuration, never a parameter (no open redirect)
    state = store.issue_state(tenant, provider, redirect_uri, store.settings.oauth_success_url, account_id)
    if flow.kind == "partner_guid":
        return _partner_page(spec, redirect_uri, state)
    session = OAuth2Session(client_id, redirect_uri=redirect_uri,
                            scope=flow.scope_separator.join(flow.scopes) or None)
    url, _ = session.create_authorization_url(flow.authorize_url(store.settings), state=state,
                                              **dict(flow.authorize_params))
    return RedirectResponse(url, status_code=302)


def _partner_page(spec: ProviderSpec, redirect_uri: str, state: str) -> HTMLResponse:
    return page(f"Connect {spec.label}", f"""
<p>{html.escape(spec.label)} restaurants grant an integration access in {html.escape(spec.label)} Web:
<em>Integrations</em> → find pos-sync → <em>Connect</em>. Then enter the restaurant's GUID (shown in
{html.escape(spec.label)} Web under the restaurant's settings) and continue.</p>
<form method="get" action="{html.escape(redirect_uri)}">
<input type="hidden" name="state" value="{html.escape(state)}">
<label>Restaurant GUID <input name="restaurant_guid" id="restaurant-guid" size="40" required></label>
<button type="submit" id="continue">Continue</button></form>""")


def callback(provider: str, request: Request, store: Store) -> Response:
    spec, flow = _flow(provider)
    query = dict(request.query_params)
    try:
        state = store.consume_state(query.get("state", ""), provider)
    except InvalidState as exc:
        return page("This link cannot be used", f"<p>{html.escape(str(exc))}.</p>", 400)
    if query.get("error"):
        reason = query.get("error_description") or query["error"]
        return page(f"{spec.label} access was not granted",
                    f"<p>{html.escape(spec.label)} said: {html.escape(reason)}. Nothing was connected; start again "
                    "if this was a mistake.</p>", 400)
    try:
        token = _exchange(flow, query, state.redirect_uri, store) if flow.kind == "code" else {}
        fields = flow.complete(token, query, store.settings)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a page that says what happened
        return _failure_page(spec, exc)
    if flow.kind == "partner_guid":
        # the partner client sees every restaurant that connected it: the GUID a form sends proves
        # no ownership, so a restaurant another organisation linked is not linked again here
        if taken := _linked_elsewhere(store, provider, state.tenant_id, fields):
            return page(f"This {spec.label} restaurant is connected already",
                        f"<p>{html.escape(taken)} is connected to another organisation in this service. Nothing "
                        "was connected; if it is yours, ask us to move it.</p>", 409)
        # one restaurant connected at a time: added to the account's others
        fields = _with_connected(store, provider, state.tenant_id, fields)
    account_id, _ = store.upsert_account(tenant_id=state.tenant_id, **fields)
    store.request_sync(account_id, state.tenant_id)  # its first (historical) sync, queued
    target = state.success_url or str(request.url_for("oauth_done"))
    sep = "&" if "?" in target else "?"
    params = {"account_id": account_id, "provider": provider}
    if not state.success_url:  # our own page shows the account: it needs proof the browser linked it
        params["link"] = sign_link(store.settings, state.tenant_id, account_id=account_id)
    return RedirectResponse(target + sep + urlencode(params), 302)


def _linked_elsewhere(store: AppStore, provider: str, tenant_id: str, fields: Mapping[str, Any]) -> str | None:
    """A location of ``fields`` that an account of another tenant already has, or None."""
    wanted = {str(loc.get("location_id")) for loc in fields.get("locations") or []}
    for account in store.list_accounts(provider=provider):
        if account.tenant_id != tenant_id and (taken := wanted & set(account.location_ids)):
            return min(taken)
    return None


def _with_connected(store: AppStore, provider: str, tenant_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with the locations the tenant's account of the same merchant (Toast: the partner
    client) already has: connecting a second restaurant replaced the first."""
    mine = next((a for a in store.list_accounts(tenant_id, provider=provider)
                 if a.merchant_id == fields.get("merchant_id")), None)
    if mine is None:
        return dict(fields)
    new = {str(loc.get("location_id")) for loc in fields.get("locations") or []}
    kept = [loc.to_dict() for loc in mine.locations if loc.location_id not in new]
    return {**fields, "locations": kept + list(fields.get("locations") or [])}


def _failure_page(spec: ProviderSpec, exc: Exception) -> HTMLResponse:
    from dlt_sources.common.errors import PosSourceError
    from pos_sync.appstore import AppStoreError
    from pos_sync.providers.linking import LinkError

    known = isinstance(exc, PosSourceError | LinkError | AppStoreError | ValueError)
    detail = str(exc).strip().splitlines()[0] if known and str(exc).strip() else type(exc).__name__
    return page(f"Could not connect {spec.label}", f"<p>{html.escape(detail)}</p><p>Nothing was connected; try "
                                                   "again in a few minutes.</p>", 502)


def _client_secret_json(client: Any, method: str, uri: str, headers: Mapping[str, str],
                        body: str) -> tuple[str, dict[str, str], str]:
    """Square's ObtainToken takes JSON: the form body with the client credentials, as a JSON object."""
    fields = {**dict(parse_qsl(body)), "client_id": client.client_id, "client_secret": client.client_secret}
    return uri, {**headers, "Content-Type": "application/json"}, json.dumps(fields)


def _numeric_expiry(response: Any) -> Any:
    """Square's ``expires_at`` is RFC 3339 (Authlib wants seconds): kept aside under another name."""
    payload = response.json()
    for key, keep in (("expires_at", "square_expires_at"), ("expires", "lightspeed_expires")):
        if isinstance(payload.get(key), str) and not payload[key].isdigit():
            payload[keep] = payload.pop(key)
    response._content = json.dumps(payload).encode()
    return response


def _exchange(flow: OAuthFlow, query: Mapping[str, str], redirect_uri: str, store: AppStore) -> dict[str, Any]:
    """The authorization code exchanged for tokens (Authlib; the client secret in the body)."""
    from pos_sync.providers.linking import LinkError

    code = query.get("code")
    if not code:
        raise LinkError("the provider's callback carried no authorization code")
    client_id, secret = flow.client(store.settings)
    method = "client_secret_json" if flow.token_format == "json" else "client_secret_post"
    session = OAuth2Session(client_id, secret, redirect_uri=redirect_uri, token_endpoint_auth_method=method)
    session.register_client_auth_method(("client_secret_json", _client_secret_json))
    session.register_compliance_hook("access_token_response", _numeric_expiry)
    token_base = flow.base_url(store.settings)
    if "{domain_prefix}" in flow.default_base:  # the flow's own rule (Lightspeed's store), never a query's
        from pos_sync.providers.lightspeed.oauth import store_url

        token_base = store_url(query, store.settings)
    return dict(session.fetch_token(token_base + flow.token_path, code=code, grant_type="authorization_code",
                                    timeout=20))


@router.get("/done", name="oauth_done", response_class=HTMLResponse, summary="The default success page")
def done(account_id: str, provider: str, store: Store, link: str = Query(...)) -> HTMLResponse:
    from pos_sync.appstore import AccountNotFound

    claims = link_claims(store.settings, link)  # issued by the callback for this account
    try:
        if claims.get("account_id") != account_id:
            raise AccountNotFound(account_id)
        account = store.get_account(account_id, tenant_id=str(claims["tenant_id"]))
    except AccountNotFound:
        return page("Not found", "<p>No such account.</p>", 404)
    names = ", ".join(html.escape(loc.name or loc.location_id) for loc in account.locations)
    return page(f"{html.escape(registry.get(account.provider).label)} connected",
                f'<p id="connected">Connected <strong>{html.escape(account.name or account.merchant_id)}</strong> '
                f"with {len(account.locations)} location(s): {names}.</p><p>Its first sync is queued; sales appear "
                "within minutes.</p>")


def _register(provider: str) -> None:
    def authorize_route(request: Request, store: Store, link: str | None = Query(None)) -> Response:
        return authorize(provider, request, store, link)

    def callback_route(request: Request, store: Store) -> Response:
        return callback(provider, request, store)

    label = registry.get(provider).label
    router.add_api_route(f"/{provider}/authorize", authorize_route, methods=["GET"], response_class=Response,
                         summary=f"Start {label} OAuth flow", name=f"oauth_authorize_{provider}",
                         responses={302: {"description": "to the provider's consent page"}, 401: {}})
    router.add_api_route(f"/{provider}/callback", callback_route, methods=["GET"], response_class=Response,
                         summary=f"{label} OAuth callback", name=f"oauth_callback_{provider}",
                         responses={302: {"description": "to the success page"}, 400: {}, 502: {}})


for _spec in registry:
    if _spec.oauth is not None:
        _register(_spec.name)


@router.get("/{provider}/authorize", name="oauth_authorize", include_in_schema=False)
def authorize_any(provider: str, request: Request, store: Store, link: str | None = Query(None)) -> Response:
    return authorize(provider, request, store, link)
