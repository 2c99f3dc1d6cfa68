"""Lightspeed X-Series OAuth for the emulator: token store with rotating refresh tokens, routes.

Follows providers.md §3A and the X-Series authorization docs:

* ``GET /connect?response_type=code&client_id=…&redirect_uri=…&state=…`` (the real host is
  ``secure.retail.lightspeed.app``): a consent page; *Allow* redirects to ``redirect_uri`` with
  ``code``, ``state`` and ``domain_prefix``, *Deny* with ``error=access_denied``. Sandbox extras:
  ``auto_approve=true`` skips the page, ``domain_prefix=`` picks the store when the world has
  several Lightspeed accounts.
* ``POST /api/1.0/token`` (``application/x-www-form-urlencoded`` only: a JSON body is refused with
  400 ``invalid_request``): ``grant_type=authorization_code`` (``code``, ``client_id``,
  ``client_secret``, ``redirect_uri``; codes are single-use, 10 minutes) or
  ``grant_type=refresh_token`` (``refresh_token``, ``client_id``, ``client_secret``). Answer:
  ``{access_token, token_type: "Bearer", expires (unix seconds), expires_in, refresh_token,
  domain_prefix, scope}``.
* **Rotating refresh tokens** (X-Series changelog 2025-03): every refresh returns a *new* refresh
  token and the old one stops working. ``refresh_grace_seconds`` (default 0; Lightspeed's real
  value is unconfirmed) keeps a rotated token usable for that long: a retry with it answers with
  the *same* successor refresh token (and a fresh access token), so a client that lost the
  refresh response, or two workers refreshing at once, end up with the same valid token. Once the
  successor has itself been used, or after the grace period, the old token gives 400
  ``invalid_grant``. Lifetimes use the real clock (access tokens: ``access_token_ttl_seconds``,
  default 7 days as in the changelog's example).

Sandbox hooks (not Lightspeed's): ``POST /_sandbox/lightspeed/tokens/expire`` ``{access_token}``,
``POST /_sandbox/lightspeed/lose_refresh`` ``{count}`` (the next ``count`` successful refresh
grants rotate the token and then answer 504, as if the response had been lost on the way).
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.lightspeed_http import LightspeedError, json_response

DEFAULT_ACCESS_TTL = 7 * 24 * 3600
CODE_TTL_SECONDS = 600
DEFAULT_SCOPES = ("sales:read", "products:read", "outlets:read")


def _oauth_error(status: int, error: str, message: str) -> LightspeedError:
    return LightspeedError(status, message, error=error)


@dataclass
class AccessToken:
    token: str
    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float  # unix seconds
    forced_expired: bool = False

    def expired(self, now: float) -> bool:
        return self.forced_expired or self.expires_at <= now


@dataclass
class RefreshToken:
    token: str
    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    successor: str | None = None  # set when rotated
    rotated_at: float | None = None  # monotonic clock
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    account_id: str
    client_id: str
    scopes: tuple[str, ...]
    redirect_uri: str | None
    created: float = field(default_factory=time.monotonic)
    used: bool = False


class TokenStore:
    """Every OAuth artefact of one Lightspeed emulator instance (thread-safe)."""

    def __init__(self, seed: int, credentials: Mapping[str, DemoCredentials], *, refresh_grace_seconds: float = 0,
                 access_token_ttl_seconds: int = DEFAULT_ACCESS_TTL, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if refresh_grace_seconds < 0:
            raise ValueError("refresh_grace_seconds must not be negative")
        self.seed = seed
        self.grace = float(refresh_grace_seconds)
        self.ttl = int(access_token_ttl_seconds)
        self.clock = clock
        self.monotonic = monotonic
        self._lock = threading.RLock()
        self._counter = 0
        self.clients: dict[str, str] = {}
        self.accounts: list[str] = []
        self.access: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.lose_refresh_responses = 0
        self.refreshes = 0  # successful refresh grants (grace retries included)
        self.grace_retries = 0
        self.lost_responses = 0
        for creds in credentials.values():
            if creds.provider != "lightspeed":
                continue
            self.clients[creds.client_id] = creds.client_secret
            self.accounts.append(creds.account_id)
            scopes = tuple(creds.scopes or DEFAULT_SCOPES)
            self.refresh_tokens[creds.refresh_token] = RefreshToken(creds.refresh_token, creds.account_id,
                                                                    creds.client_id, scopes)
            self.access[creds.access_token] = AccessToken(creds.access_token, creds.account_id, creds.client_id,
                                                          scopes, self.clock() + self.ttl)

    # ------------------------------------------------------------------ ids
    def _mint(self, prefix: str, *parts: object) -> str:
        with self._lock:
            self._counter += 1
            n = self._counter
        digest = hashlib.blake2b(f"{self.seed}|ls|{n}|{'|'.join(map(str, parts))}".encode(), digest_size=30).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]

    # ------------------------------------------------------------------ bearer checks
    def lookup(self, authorization: str | None) -> AccessToken:
        if not authorization or not authorization.strip():
            raise LightspeedError(401, "No access token was provided: send `Authorization: Bearer <token>`.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise LightspeedError(401, "The Authorization header must be `Bearer <token>`.")
        token = self.access.get(value.strip())
        if token is None:
            raise LightspeedError(401, "The access token is unknown or was revoked.")
        if token.expired(self.clock()):
            raise LightspeedError(401, "The access token has expired: refresh it with the refresh token.")
        return token

    def token_of_header(self, authorization: str | None) -> AccessToken | None:
        try:
            return self.lookup(authorization)
        except LightspeedError:
            return None

    def expire(self, token: str) -> bool:
        found = self.access.get(token)
        if found is None:
            return False
        found.forced_expired = True
        return True

    # ------------------------------------------------------------------ issuing
    def issue(self, account_id: str, client_id: str, scopes: tuple[str, ...]) -> AccessToken:
        tok = AccessToken(self._mint("lsxs_at_", "access", account_id), account_id, client_id, scopes,
                          self.clock() + self.ttl)
        with self._lock:
            self.access[tok.token] = tok
        return tok

    def new_refresh(self, account_id: str, client_id: str, scopes: tuple[str, ...]) -> RefreshToken:
        ref = RefreshToken(self._mint("lsxs_rt_", "refresh", account_id), account_id, client_id, scopes)
        with self._lock:
            self.refresh_tokens[ref.token] = ref
        return ref

    def new_code(self, account_id: str, client_id: str, scopes: tuple[str, ...], redirect_uri: str | None) -> AuthCode:
        code = AuthCode(self._mint("", "code", account_id), account_id, client_id, scopes, redirect_uri)
        with self._lock:
            self.codes[code.code] = code
        return code

    def token_response(self, tok: AccessToken, ref: RefreshToken) -> dict[str, Any]:
        return {
            "access_token": tok.token,
            "token_type": "Bearer",
            "expires": int(tok.expires_at),
            "expires_in": self.ttl,
            "refresh_token": ref.token,
            "domain_prefix": tok.account_id,
            "scope": " ".join(tok.scopes),
        }

    # ------------------------------------------------------------------ grants
    def obtain(self, form: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
        """Run a grant; returns (token response, whether the response must be 'lost')."""
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if not grant:
            raise _oauth_error(400, "invalid_request", "Missing required parameter: grant_type.")
        if not client_id or client_id not in self.clients:
            raise _oauth_error(401, "invalid_client", "Unknown client_id.")
        if form.get("client_secret", "") != self.clients[client_id]:
            raise _oauth_error(401, "invalid_client", "Invalid client_secret.")
        if grant == "authorization_code":
            return self._grant_code(form, client_id), False
        if grant == "refresh_token":
            return self._grant_refresh(form, client_id)
        raise _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant!r}.")

    def _grant_code(self, form: Mapping[str, str], client_id: str) -> dict[str, Any]:
        text = form.get("code", "")
        if not text:
            raise _oauth_error(400, "invalid_request", "Missing required parameter: code.")
        with self._lock:
            code = self.codes.get(text)
            if code is None or code.client_id != client_id:
                raise _oauth_error(400, "invalid_grant", "The authorization code is invalid.")
            if code.used:
                raise _oauth_error(400, "invalid_grant", "The authorization code has already been used.")
            if time.monotonic() - code.created > CODE_TTL_SECONDS:
                raise _oauth_error(400, "invalid_grant", "The authorization code has expired.")
            redirect = form.get("redirect_uri")
            if code.redirect_uri and redirect != code.redirect_uri:
                raise _oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request.")
            code.used = True
        ref = self.new_refresh(code.account_id, client_id, code.scopes)
        return self.token_response(self.issue(code.account_id, client_id, code.scopes), ref)

    def _grant_refresh(self, form: Mapping[str, str], client_id: str) -> tuple[dict[str, Any], bool]:
        text = form.get("refresh_token", "")
        if not text:
            raise _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token.")
        with self._lock:
            ref = self.refresh_tokens.get(text)
            if ref is None or ref.client_id != client_id or ref.revoked:
                raise _oauth_error(400, "invalid_grant", "The refresh token is invalid or was revoked.")
            if ref.successor is None:  # the current token: rotate
                new_ref = self.new_refresh(ref.account_id, client_id, ref.scopes)
                ref.successor = new_ref.token
                ref.rotated_at = self.monotonic()
                current = new_ref
            else:
                successor = self.refresh_tokens[ref.successor]
                within = (self.grace > 0 and ref.rotated_at is not None
                          and self.monotonic() - ref.rotated_at <= self.grace)
                if not within or successor.successor is not None or successor.revoked:
                    raise _oauth_error(
                        400, "invalid_grant",
                        "The refresh token has already been used: refresh tokens rotate, use the refresh token "
                        "returned by the last refresh (or authorize the application again).")
                current = successor
                self.grace_retries += 1
            self.refreshes += 1
            lose = self.lose_refresh_responses > 0
            if lose:
                self.lose_refresh_responses -= 1
                self.lost_responses += 1
        return self.token_response(self.issue(current.account_id, client_id, current.scopes), current), lose


# ---------------------------------------------------------------------- routes
def _consent_page(client_id: str, account: str, scopes: tuple[str, ...], allow_url: str, deny_url: str) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>(no scopes requested)</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lightspeed Retail sandbox: connect application</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:3rem auto}}a.btn{{display:inline-block;padding:.6rem 1.2rem;
margin-right:1rem;border-radius:6px;text-decoration:none;color:#fff;background:#e4002b}}a.deny{{background:#777}}</style>
</head><body>
<h1>Connect application</h1>
<p>The application <code>{html.escape(client_id)}</code> asks for access to the Lightspeed Retail store
<code>{html.escape(account)}</code> (X-Series sandbox emulator).</p>
<p>Permissions requested:</p><ul>{items}</ul>
<p><a class="btn allow" id="allow" href="{html.escape(allow_url)}">Allow</a>
<a class="btn deny" id="deny" href="{html.escape(deny_url)}">Deny</a></p>
</body></html>"""


def _redirect_or_page(redirect_uri: str | None, params: dict[str, str], title: str) -> Response:
    if redirect_uri:
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(redirect_uri + sep + urlencode(params), status_code=302)
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd><code id=\"{html.escape(k)}\">{html.escape(v)}</code></dd>"
                   for k, v in params.items())
    return HTMLResponse(f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                        f"<body><h1>{title}</h1><dl>{rows}</dl></body></html>")


async def read_form(request: Request) -> dict[str, str]:
    """The form body of a token request; anything but form encoding is refused."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _oauth_error(400, "invalid_request",
                           "The token endpoint expects an application/x-www-form-urlencoded body.")
    raw = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def oauth_routes(store: TokenStore, prefix: str = "") -> list[Route]:
    """``/connect`` (+ decision), ``/api/1.0/token`` and the sandbox token hooks, under ``prefix``."""

    def _params(request: Request) -> tuple[str, str, tuple[str, ...], str | None, str | None]:
        q = request.query_params
        if q.get("response_type", "code") != "code":
            raise _oauth_error(400, "unsupported_response_type", "response_type must be code.")
        client_id = q.get("client_id", "")
        if client_id not in store.clients:
            raise _oauth_error(400, "invalid_client", "Unknown client_id.")
        account = q.get("domain_prefix") or (store.accounts[0] if store.accounts else "")
        if account not in store.accounts:
            raise _oauth_error(400, "invalid_request", "Unknown domain_prefix.")
        scopes = tuple(dict.fromkeys(s for s in q.get("scope", "").replace(",", " ").split() if s)) or DEFAULT_SCOPES
        return client_id, account, scopes, q.get("redirect_uri"), q.get("state")

    def _decide(request: Request, allow: bool) -> Response:
        client_id, account, scopes, redirect_uri, state = _params(request)
        if not allow:
            params = {"error": "access_denied", "error_description": "The user denied access."}
        else:
            code = store.new_code(account, client_id, scopes, redirect_uri)
            params = {"code": code.code, "domain_prefix": account}
        if state is not None:
            params["state"] = state
        return _redirect_or_page(redirect_uri, params, "Authorization denied" if not allow else "Authorization code")

    async def connect(request: Request) -> Response:
        client_id, account, scopes, _, _ = _params(request)
        if request.query_params.get("auto_approve", "").lower() == "true":
            return _decide(request, True)
        base = [(k, v) for k, v in request.query_params.multi_items() if k not in ("decision", "auto_approve")]
        root = request.scope.get("root_path", "")
        allow_url = f"{root}{prefix}/connect/decision?" + urlencode(base + [("decision", "allow")])
        deny_url = f"{root}{prefix}/connect/decision?" + urlencode(base + [("decision", "deny")])
        return HTMLResponse(_consent_page(client_id, account, scopes, allow_url, deny_url))

    async def decision(request: Request) -> Response:
        return _decide(request, request.query_params.get("decision") == "allow")

    async def token(request: Request) -> Response:
        body, lose = store.obtain(await read_form(request))
        if lose:
            raise LightspeedError(504, "The upstream response was lost (sandbox: lose_refresh).")
        return json_response(body)

    async def sandbox_expire(request: Request) -> Response:
        body = await request.json()
        if not store.expire(str(body.get("access_token", ""))):
            raise LightspeedError(404, "Access token not found.")
        return json_response({"expired": True})

    async def sandbox_lose(request: Request) -> Response:
        body = await request.json()
        store.lose_refresh_responses = int(body.get("count", 1))
        return json_response({"lose_refresh_responses": store.lose_refresh_responses})

    return [
        Route(f"{prefix}/connect", connect, methods=["GET"]),
        Route(f"{prefix}/connect/decision", decision, methods=["GET"]),
        Route(f"{prefix}/api/1.0/token", token, methods=["POST"]),
        Route(f"{prefix}/_sandbox/lightspeed/tokens/expire", sandbox_expire, methods=["POST"]),
        Route(f"{prefix}/_sandbox/lightspeed/lose_refresh", sandbox_lose, methods=["POST"]),
    ]
