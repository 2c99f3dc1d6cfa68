"""Lightspeed R-Series OAuth for the emulator (the ``cloud.lightspeedapp.com`` server).

Follows providers.md §3B (developers.lightspeedhq.com/retail/authentication; darrylmorley SDK):

* ``GET /auth/oauth/authorize?response_type=code&client_id=…&scope=employee:all&state=…``: a
  consent page; *Allow* redirects to the app's ``redirect_uri`` with ``code`` and ``state``,
  *Deny* with ``error=access_denied``. Sandbox extras: ``auto_approve=true`` skips the page,
  ``account_id=`` picks the account when the world has several.
* ``POST /auth/oauth/token`` (form or JSON body) with ``grant_type=authorization_code`` (``code``,
  ``client_id``, ``client_secret``; codes are single-use, 10 minutes) or ``refresh_token``
  (``refresh_token``, ``client_id``, ``client_secret``) → ``{access_token, expires_in: 3600,
  token_type: "bearer", scope, refresh_token}``. **Every refresh rotates both tokens**: the old
  refresh token stops working at once (the newer OAuth server).
* The account is not in the token answer: the client asks ``GET /API/V3/Account.json``.

Sandbox hooks: ``POST /_sandbox/lightspeed_r/tokens/expire`` ``{access_token}``.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.lightspeed_r_http import RSeriesError, json_response

ACCESS_TTL_SECONDS = 3600
CODE_TTL_SECONDS = 600
DEFAULT_SCOPES = ("employee:all",)


@dataclass
class Grant:
    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float = 0.0  # access tokens and codes
    used: bool = False  # codes and refresh tokens: single use


class RTokenStore:
    """Access tokens, rotating refresh tokens and authorization codes (thread-safe)."""

    def __init__(self, seed: int, credentials: Mapping[str, DemoCredentials], *,
                 access_token_ttl_seconds: int = ACCESS_TTL_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.ttl = int(access_token_ttl_seconds)
        self.clock = clock
        self._lock = threading.Lock()
        self._n = 0
        self.clients: dict[str, str] = {}
        self.accounts: list[str] = []
        self.access: dict[str, Grant] = {}
        self.refresh: dict[str, Grant] = {}
        self.codes: dict[str, Grant] = {}
        self.refreshes = 0
        for creds in credentials.values():
            if creds.provider != "lightspeed_r":
                continue
            scopes = tuple(creds.scopes or DEFAULT_SCOPES)
            self.clients[creds.client_id] = creds.client_secret
            self.accounts.append(creds.account_id)
            self.access[creds.access_token] = Grant(creds.account_id, creds.client_id, scopes, clock() + self.ttl)
            self.refresh[creds.refresh_token] = Grant(creds.account_id, creds.client_id, scopes)

    def _mint(self, kind: str) -> str:
        with self._lock:
            self._n += 1
            n = self._n
        return hashlib.blake2b(f"{self.seed}|lsr|{kind}|{n}".encode(), digest_size=20).hexdigest()

    def lookup(self, authorization: str | None) -> Grant:
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise RSeriesError(401, "Authentication required: send 'Authorization: Bearer <access token>'.")
        grant = self.access.get(value.strip())
        if grant is None:
            raise RSeriesError(401, "Invalid access token.")
        if grant.expires_at <= self.clock():
            raise RSeriesError(401, "Access token expired: refresh it with the refresh token.")
        return grant

    def expire(self, token: str) -> bool:
        grant = self.access.get(token)
        if grant is not None:
            grant.expires_at = 0.0
        return grant is not None

    def new_code(self, account_id: str, client_id: str, scopes: tuple[str, ...]) -> str:
        code = self._mint("code")
        self.codes[code] = Grant(account_id, client_id, scopes, self.clock() + CODE_TTL_SECONDS)
        return code

    def _issue(self, grant: Grant) -> dict[str, Any]:
        access, refresh = self._mint("access"), self._mint("refresh")
        self.access[access] = Grant(grant.account_id, grant.client_id, grant.scopes, self.clock() + self.ttl)
        self.refresh[refresh] = Grant(grant.account_id, grant.client_id, grant.scopes)
        return {"access_token": access, "expires_in": self.ttl, "token_type": "bearer",
                "scope": " ".join(grant.scopes), "refresh_token": refresh}

    def obtain(self, form: Mapping[str, str]) -> dict[str, Any]:
        grant_type, client_id = form.get("grant_type", ""), form.get("client_id", "")
        if client_id not in self.clients or form.get("client_secret", "") != self.clients[client_id]:
            raise RSeriesError(401, "Client authentication failed.", oauth_error="invalid_client")
        if grant_type == "authorization_code":
            table, key, what = self.codes, form.get("code", ""), "authorization code"
        elif grant_type == "refresh_token":
            table, key, what = self.refresh, form.get("refresh_token", ""), "refresh token"
        else:
            raise RSeriesError(400, f"Unsupported grant_type {grant_type!r}.", oauth_error="unsupported_grant_type")
        with self._lock:
            grant = table.get(key)
            if grant is None or grant.client_id != client_id:
                raise RSeriesError(400, f"The {what} is invalid.", oauth_error="invalid_grant")
            if grant.used:
                raise RSeriesError(400, f"The {what} has already been used (refresh tokens rotate: store the new "
                                        "one of every refresh).", oauth_error="invalid_grant")
            if table is self.codes and grant.expires_at <= self.clock():
                raise RSeriesError(400, "The authorization code has expired.", oauth_error="invalid_grant")
            grant.used = True
            self.refreshes += table is self.refresh
        return self._issue(grant)


async def _form(request: Request) -> dict[str, str]:
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw or "{}")
        except ValueError:
            raise RSeriesError(400, "The body is not valid JSON.", oauth_error="invalid_request") from None
        if not isinstance(body, dict):
            raise RSeriesError(400, "The body must be a JSON object.", oauth_error="invalid_request")
        return {str(k): str(v) for k, v in body.items()}
    return dict(parse_qsl(raw, keep_blank_values=True))


def _consent(client_id: str, account_id: str, scopes: tuple[str, ...], allow: str, deny: str) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lightspeed Retail: "
            f"authorize application</title></head><body><h1>Authorize application</h1>"
            f"<p>The application <code>{html.escape(client_id)}</code> asks for access to the Lightspeed Retail "
            f"account <code>{html.escape(account_id)}</code> (R-Series sandbox emulator).</p><ul>{items}</ul>"
            f"<p><a id=\"allow\" href=\"{html.escape(allow)}\">Allow</a> "
            f"<a id=\"deny\" href=\"{html.escape(deny)}\">Deny</a></p></body></html>")


def oauth_routes(store: RTokenStore) -> list[Route]:
    def params(request: Request) -> tuple[str, str, tuple[str, ...]]:
        q = request.query_params
        if q.get("response_type", "code") != "code":
            raise RSeriesError(400, "response_type must be code.", oauth_error="unsupported_response_type")
        client_id = q.get("client_id", "")
        if client_id not in store.clients:
            raise RSeriesError(400, "Unknown client_id.", oauth_error="invalid_client")
        account = q.get("account_id") or (store.accounts[0] if store.accounts else "")
        if account not in store.accounts:
            raise RSeriesError(400, "Unknown account_id.", oauth_error="invalid_request")
        scopes = tuple(s for s in q.get("scope", "").replace("+", " ").split() if s) or DEFAULT_SCOPES
        return client_id, account, scopes

    def decide(request: Request, allow: bool) -> Response:
        client_id, account, scopes = params(request)
        q = request.query_params
        out = {"code": store.new_code(account, client_id, scopes)} if allow else {
            "error": "access_denied", "error_description": "The user denied access."}
        if q.get("state") is not None:
            out["state"] = q["state"]
        redirect = q.get("redirect_uri")
        if redirect:
            return RedirectResponse(redirect + ("&" if "?" in redirect else "?") + urlencode(out), status_code=302)
        rows = "".join(f"<dt>{k}</dt><dd><code id=\"{k}\">{html.escape(v)}</code></dd>" for k, v in out.items())
        return HTMLResponse(f"<!doctype html><html><body><dl>{rows}</dl></body></html>")

    async def authorize(request: Request) -> Response:
        client_id, account, scopes = params(request)
        if request.query_params.get("auto_approve", "").lower() == "true":
            return decide(request, True)
        base = [(k, v) for k, v in request.query_params.multi_items() if k != "decision"]
        root = request.scope.get("root_path", "")
        link = f"{root}/auth/oauth/authorize/decision?"
        return HTMLResponse(_consent(client_id, account, scopes, link + urlencode(base + [("decision", "allow")]),
                                     link + urlencode(base + [("decision", "deny")])))

    async def decision(request: Request) -> Response:
        return decide(request, request.query_params.get("decision") == "allow")

    async def token(request: Request) -> Response:
        return json_response(store.obtain(await _form(request)))

    async def expire(request: Request) -> Response:
        body = await request.json()
        if not store.expire(str(body.get("access_token", ""))):
            raise RSeriesError(404, "Access token not found.")
        return json_response({"expired": True})

    return [
        Route("/auth/oauth/authorize", authorize, methods=["GET"]),
        Route("/auth/oauth/authorize/decision", decision, methods=["GET"]),
        Route("/auth/oauth/token", token, methods=["POST"]),
        Route("/_sandbox/lightspeed_r/tokens/expire", expire, methods=["POST"]),
    ]


__all__ = ["ACCESS_TTL_SECONDS", "Grant", "RTokenStore", "oauth_routes"]
