"""Square OAuth for the emulator: token store, ``/oauth2/*`` routes and sandbox token hooks.

Follows Square's OAuth API: ``GET /oauth2/authorize`` (consent page; the redirect carries
``code``, ``response_type=code`` and ``state``, or ``error=access_denied&error_description=
user_denied``), ``POST /oauth2/token`` (``authorization_code`` and ``refresh_token`` grants;
codes are single-use and expire after 5 minutes; code-flow refresh tokens are reusable and come
back unchanged; PKCE refresh tokens are single-use, 90 days, renewed on each refresh),
``POST /oauth2/revoke`` (``Authorization: Client <secret>``: revokes every token the app holds for
the merchant, refresh tokens included, unless ``revoke_only_access_token``) and
``POST /oauth2/token/status``. A full revocation (not ``revoke_only_access_token``) calls the
store's ``revocation_listeners``: the webhook engine sends ``oauth.authorization.revoked``.

Token lifetimes use the real clock (30 days; 24 h when ``short_lived``). Issued tokens are
deterministic strings (seed + issue counter). The demo credentials' access and refresh tokens are
pre-registered with every read scope.

Sandbox-only (not part of Square's API):

* ``GET /oauth2/authorize?...&auto_approve=true`` approves without the consent page (tests, demo);
  ``merchant_id=`` picks the merchant when the world has several Square accounts.
* ``POST /_sandbox/square/tokens`` ``{merchant_id?, client_id?, scopes?, expires_in?}`` issues an
  access token directly (e.g. with restricted scopes, to exercise 403 INSUFFICIENT_SCOPES).
* ``POST /_sandbox/square/tokens/expire`` ``{access_token}`` force-expires a token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.square_http import (
    SquareError,
    bad_request,
    check_body,
    check_version,
    json_response,
    read_json,
    ts,
)

ACCESS_TTL = timedelta(days=30)
SHORT_TTL = timedelta(hours=24)
PKCE_REFRESH_TTL = timedelta(days=90)
CODE_TTL_SECONDS = 300
ALL_READ_SCOPES = (
    "MERCHANT_PROFILE_READ", "PAYMENTS_READ", "ORDERS_READ", "ITEMS_READ", "EMPLOYEES_READ",
    "CUSTOMERS_READ", "INVENTORY_READ", "TIMECARDS_READ", "CASH_DRAWER_READ", "DEVICES_READ",
)
MISSING_AUTH = ("Your request did not include an `Authorization` http header with an access token. The header value "
                "is expected to be of the format \"Bearer TOKEN\" (without quotation marks), where TOKEN is to be "
                "replaced with your access token.")

OBTAIN_TOKEN_BODY = {"client_id": str, "client_secret": str, "code": str, "redirect_uri": str, "grant_type": str,
                     "refresh_token": str, "migration_token": str, "scopes": [str], "short_lived": bool,
                     "code_verifier": str}
REVOKE_BODY = {"client_id": str, "access_token": str, "merchant_id": str, "revoke_only_access_token": bool}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AccessToken:
    token: str
    merchant_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: datetime
    refresh_token: str | None = None
    short_lived: bool = False
    revoked: bool = False
    forced_expired: bool = False

    def expired(self) -> bool:
        return self.forced_expired or self.expires_at <= _now()


@dataclass
class RefreshToken:
    token: str
    merchant_id: str
    client_id: str
    scopes: tuple[str, ...]
    pkce: bool = False
    expires_at: datetime | None = None
    revoked: bool = False
    used: bool = False


@dataclass
class AuthCode:
    code: str
    merchant_id: str
    client_id: str
    scopes: tuple[str, ...]
    redirect_uri: str | None
    created: float = field(default_factory=time.monotonic)
    code_challenge: str | None = None
    used: bool = False


class TokenStore:
    """Every OAuth artefact of one emulator instance (thread-safe)."""

    def __init__(self, seed: int, credentials: Mapping[str, DemoCredentials]) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._counter = 0
        self.clients: dict[str, str] = {}  # client_id -> client_secret
        self.merchants: list[str] = []
        self.access: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}
        # called with (merchant_id, client_id) after a revocation of the app's whole authorization
        self.revocation_listeners: list[Callable[[str, str], None]] = []
        for creds in credentials.values():
            if creds.provider != "square":
                continue
            self.clients[creds.client_id] = creds.client_secret
            self.merchants.append(creds.account_id)
            scopes = tuple(dict.fromkeys(creds.scopes or ALL_READ_SCOPES))
            self.refresh_tokens[creds.refresh_token] = RefreshToken(creds.refresh_token, creds.account_id,
                                                                    creds.client_id, scopes)
            self.access[creds.access_token] = AccessToken(creds.access_token, creds.account_id, creds.client_id,
                                                          scopes, _now() + ACCESS_TTL, creds.refresh_token)

    # ------------------------------------------------------------------ ids
    def _mint(self, prefix: str, length: int, *parts: object) -> str:
        with self._lock:
            self._counter += 1
            n = self._counter
        digest = hashlib.blake2b(f"{self.seed}|{n}|{'|'.join(map(str, parts))}".encode(), digest_size=48).digest()
        return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]

    # ------------------------------------------------------------------ access checks
    def lookup(self, authorization: str | None) -> AccessToken:
        """The token of a ``Bearer`` header, or the 401 Square answers."""
        if not authorization:
            raise SquareError(401, "UNAUTHORIZED", MISSING_AUTH)
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise SquareError(401, "UNAUTHORIZED", MISSING_AUTH)
        token = self.access.get(value.strip())
        if token is None:
            raise SquareError(401, "UNAUTHORIZED", "This request could not be authorized.")
        if token.revoked:
            raise SquareError(401, "ACCESS_TOKEN_REVOKED", "The access token has been revoked.")
        if token.expired():
            raise SquareError(401, "ACCESS_TOKEN_EXPIRED", "The access token has expired.")
        return token

    def authorize(self, authorization: str | None, scopes: tuple[str, ...]) -> AccessToken:
        token = self.lookup(authorization)
        missing = [s for s in scopes if s not in token.scopes]
        if missing:
            raise SquareError(403, "INSUFFICIENT_SCOPES",
                              "The merchant has not given your application sufficient permissions to do this. "
                              f"Missing scopes: {', '.join(missing)}.")
        return token

    def token_of_header(self, authorization: str | None) -> AccessToken | None:
        """The valid (known, unexpired, unrevoked) token of a header, else None."""
        try:
            return self.lookup(authorization)
        except SquareError:
            return None

    def authorized_scopes(self, merchant_id: str, client_id: str) -> set[str]:
        """The scopes the merchant has granted the application and not revoked (union over its
        live access and refresh tokens; an expired access token still means an authorization)."""
        scopes: set[str] = set()
        with self._lock:
            for tok in self.access.values():
                if tok.merchant_id == merchant_id and tok.client_id == client_id and not tok.revoked:
                    scopes.update(tok.scopes)
            for ref in self.refresh_tokens.values():
                if ref.merchant_id == merchant_id and ref.client_id == client_id and not ref.revoked:
                    scopes.update(ref.scopes)
        return scopes

    def expire(self, token: str) -> bool:
        found = self.access.get(token)
        if found is None:
            return False
        found.forced_expired = True
        return True

    # ------------------------------------------------------------------ issuing
    def issue(self, merchant_id: str, client_id: str, scopes: tuple[str, ...], *, short_lived: bool = False,
              refresh_token: str | None = None, ttl: timedelta | None = None) -> AccessToken:
        token = self._mint("EAAAl", 59, "access", merchant_id, client_id)
        expires = _now() + (ttl if ttl is not None else SHORT_TTL if short_lived else ACCESS_TTL)
        issued = AccessToken(token, merchant_id, client_id, tuple(scopes), expires, refresh_token, short_lived)
        with self._lock:
            self.access[token] = issued
        return issued

    def new_code(self, merchant_id: str, client_id: str, scopes: tuple[str, ...], redirect_uri: str | None,
                 code_challenge: str | None) -> AuthCode:
        code = AuthCode(self._mint("sandbox-sq0cgb-", 22, "code", merchant_id), merchant_id, client_id, scopes,
                        redirect_uri, code_challenge=code_challenge)
        with self._lock:
            self.codes[code.code] = code
        return code

    def revoke_merchant(self, merchant_id: str, client_id: str) -> None:
        with self._lock:
            for tok in self.access.values():
                if tok.merchant_id == merchant_id and tok.client_id == client_id:
                    tok.revoked = True
            for ref in self.refresh_tokens.values():
                if ref.merchant_id == merchant_id and ref.client_id == client_id:
                    ref.revoked = True

    @staticmethod
    def token_response(tok: AccessToken, refresh: RefreshToken | None) -> dict[str, Any]:
        out: dict[str, Any] = {"access_token": tok.token, "token_type": "bearer", "expires_at": ts(tok.expires_at),
                               "merchant_id": tok.merchant_id}
        if refresh is not None:
            out["refresh_token"] = refresh.token
        out["short_lived"] = tok.short_lived
        if refresh is not None and refresh.pkce and refresh.expires_at is not None:
            out["refresh_token_expires_at"] = ts(refresh.expires_at)
        return out

    # ------------------------------------------------------------------ grants
    def obtain(self, body: dict[str, Any]) -> dict[str, Any]:
        check_body(body, OBTAIN_TOKEN_BODY)
        client_id = body.get("client_id")
        grant = body.get("grant_type")
        if not client_id:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `client_id`.", "client_id")
        if not grant:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `grant_type`.", "grant_type")
        if client_id not in self.clients:
            raise SquareError(401, "UNAUTHORIZED", "Invalid client_id.", "client_id")
        secret = body.get("client_secret")
        if grant == "authorization_code":
            return self._grant_code(body, client_id, secret)
        if grant == "refresh_token":
            return self._grant_refresh(body, client_id, secret)
        if grant == "migration_token":
            raise bad_request("BAD_REQUEST", "Migration tokens are not supported by the sandbox.", "grant_type")
        raise bad_request("INVALID_VALUE", f"Invalid grant_type `{grant}`.", "grant_type")

    def _check_secret(self, client_id: str, secret: Any) -> None:
        if secret != self.clients[client_id]:
            raise SquareError(401, "UNAUTHORIZED", "Invalid client_secret.", "client_secret")

    def _grant_code(self, body: dict[str, Any], client_id: str, secret: Any) -> dict[str, Any]:
        code_text = body.get("code")
        if not code_text:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `code`.", "code")
        with self._lock:
            code = self.codes.get(code_text)
            if code is None or code.client_id != client_id:
                raise SquareError(401, "UNAUTHORIZED", "Invalid authorization code.", "code")
            if code.used:
                raise SquareError(401, "UNAUTHORIZED", "The authorization code has already been redeemed.", "code")
            if time.monotonic() - code.created > CODE_TTL_SECONDS:
                raise SquareError(401, "UNAUTHORIZED", "The authorization code has expired.", "code")
            if code.code_challenge is not None:
                verifier = body.get("code_verifier")
                if not verifier:
                    raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `code_verifier`.",
                                      "code_verifier")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if digest != code.code_challenge:
                    raise SquareError(401, "UNAUTHORIZED", "Invalid code_verifier.", "code_verifier")
            else:
                self._check_secret(client_id, secret)
            redirect = body.get("redirect_uri")
            if code.redirect_uri and redirect and redirect != code.redirect_uri:
                raise bad_request("INVALID_VALUE", "redirect_uri does not match the authorization request.",
                                  "redirect_uri")
            code.used = True
        pkce = code.code_challenge is not None
        refresh = RefreshToken(self._mint("EQAAl", 59, "refresh", code.merchant_id), code.merchant_id, client_id,
                               code.scopes, pkce=pkce, expires_at=_now() + PKCE_REFRESH_TTL if pkce else None)
        with self._lock:
            self.refresh_tokens[refresh.token] = refresh
        tok = self.issue(code.merchant_id, client_id, code.scopes, short_lived=bool(body.get("short_lived")),
                         refresh_token=refresh.token)
        return self.token_response(tok, refresh)

    def _grant_refresh(self, body: dict[str, Any], client_id: str, secret: Any) -> dict[str, Any]:
        text = body.get("refresh_token")
        if not text:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `refresh_token`.",
                              "refresh_token")
        with self._lock:
            ref = self.refresh_tokens.get(text)
            if ref is None or ref.client_id != client_id:
                raise SquareError(401, "UNAUTHORIZED", "Invalid refresh token.", "refresh_token")
            if ref.revoked:
                raise SquareError(401, "ACCESS_TOKEN_REVOKED", "The refresh token has been revoked.", "refresh_token")
            if ref.pkce and (ref.used or (ref.expires_at is not None and ref.expires_at <= _now())):
                raise SquareError(401, "UNAUTHORIZED", "The refresh token has expired or was already used.",
                                  "refresh_token")
        if not ref.pkce:
            self._check_secret(client_id, secret)
        scopes = ref.scopes
        wanted = body.get("scopes")
        if wanted:
            extra = [s for s in wanted if s not in ref.scopes]
            if extra:
                raise bad_request("INVALID_VALUE", f"Scopes not granted to this refresh token: {', '.join(extra)}.",
                                  "scopes")
            scopes = tuple(wanted)
        if ref.pkce:
            ref.used = True
            new_ref = RefreshToken(self._mint("EQAAl", 59, "refresh", ref.merchant_id), ref.merchant_id, client_id,
                                   ref.scopes, pkce=True, expires_at=_now() + PKCE_REFRESH_TTL)
            with self._lock:
                self.refresh_tokens[new_ref.token] = new_ref
            ref = new_ref
        tok = self.issue(ref.merchant_id, client_id, scopes, short_lived=bool(body.get("short_lived")),
                         refresh_token=ref.token)
        return self.token_response(tok, ref)

    def revoke(self, authorization: str | None, body: dict[str, Any]) -> dict[str, Any]:
        check_body(body, REVOKE_BODY)
        scheme, _, secret = (authorization or "").strip().partition(" ")
        client_id = body.get("client_id")
        if not client_id:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter `client_id`.", "client_id")
        if scheme != "Client" or client_id not in self.clients or secret.strip() != self.clients[client_id]:
            raise SquareError(401, "UNAUTHORIZED", "Invalid `Authorization: Client <secret>` header.")
        access_token = body.get("access_token")
        merchant_id = body.get("merchant_id")
        if access_token:
            tok = self.access.get(access_token)
            if tok is None or tok.client_id != client_id:
                raise SquareError(404, "NOT_FOUND", "Access token not found.", "access_token")
            if body.get("revoke_only_access_token"):
                tok.revoked = True
                return {"success": True}
            merchant_id = tok.merchant_id
        elif not merchant_id:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Provide `access_token` or `merchant_id`.")
        self.revoke_merchant(merchant_id, client_id)
        for listener in list(self.revocation_listeners):
            listener(merchant_id, client_id)
        return {"success": True}


# ---------------------------------------------------------------------- routes
def _consent_page(client_id: str, merchant: str, scopes: tuple[str, ...], allow_url: str, deny_url: str) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>(no scopes requested)</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Square sandbox: authorize application</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:3rem auto}}a.btn{{display:inline-block;padding:.6rem 1.2rem;
margin-right:1rem;border-radius:6px;text-decoration:none;color:#fff;background:#006aff}}a.deny{{background:#777}}</style>
</head><body>
<h1>Authorize application</h1>
<p>The application <code>{html.escape(client_id)}</code> asks for access to the Square account
<code>{html.escape(merchant)}</code> (Square sandbox emulator).</p>
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


def oauth_routes(store: TokenStore, prefix: str = "") -> list[Route]:
    """The ``/oauth2/*`` routes and the sandbox token hooks, under ``prefix``."""

    def _authorize_params(request: Request) -> tuple[str, str, tuple[str, ...], str | None, str | None, str | None]:
        q = request.query_params
        client_id = q.get("client_id", "")
        if client_id not in store.clients:
            raise bad_request("INVALID_VALUE", "Unknown client_id.", "client_id")
        merchant = q.get("merchant_id") or (store.merchants[0] if store.merchants else "")
        if merchant not in store.merchants:
            raise bad_request("INVALID_VALUE", "Unknown merchant_id.", "merchant_id")
        raw_scope = q.get("scope", "")
        scopes = tuple(dict.fromkeys(s for s in raw_scope.replace(",", " ").split() if s))
        return client_id, merchant, scopes, q.get("redirect_uri"), q.get("state"), q.get("code_challenge")

    def _decide(request: Request, allow: bool) -> Response:
        client_id, merchant, scopes, redirect_uri, state, challenge = _authorize_params(request)
        if not allow:
            params = {"error": "access_denied", "error_description": "user_denied"}
            if state is not None:
                params["state"] = state
            return _redirect_or_page(redirect_uri, params, "Authorization denied")
        code = store.new_code(merchant, client_id, scopes, redirect_uri, challenge)
        params = {"code": code.code, "response_type": "code"}
        if state is not None:
            params["state"] = state
        return _redirect_or_page(redirect_uri, params, "Authorization code")

    async def authorize(request: Request) -> Response:
        client_id, merchant, scopes, _, _, _ = _authorize_params(request)
        if request.query_params.get("auto_approve", "").lower() == "true":
            return _decide(request, True)
        base = [(k, v) for k, v in request.query_params.multi_items() if k not in ("decision", "auto_approve")]
        root = request.scope.get("root_path", "")  # where the sandbox server mounted the emulator
        allow_url = f"{root}{prefix}/oauth2/authorize/decision?" + urlencode(base + [("decision", "allow")])
        deny_url = f"{root}{prefix}/oauth2/authorize/decision?" + urlencode(base + [("decision", "deny")])
        return HTMLResponse(_consent_page(client_id, merchant, scopes, allow_url, deny_url))

    async def decision(request: Request) -> Response:
        return _decide(request, request.query_params.get("decision") == "allow")

    async def token(request: Request) -> Response:
        check_version(request.headers)
        return json_response(store.obtain(await read_json(request)))

    async def revoke(request: Request) -> Response:
        check_version(request.headers)
        return json_response(store.revoke(request.headers.get("authorization"), await read_json(request)))

    async def status(request: Request) -> Response:
        check_version(request.headers)
        tok = store.lookup(request.headers.get("authorization"))
        return json_response({"scopes": list(tok.scopes), "expires_at": ts(tok.expires_at),
                              "client_id": tok.client_id, "merchant_id": tok.merchant_id})

    async def sandbox_issue(request: Request) -> Response:
        body = await read_json(request)
        check_body(body, {"merchant_id": str, "client_id": str, "scopes": [str], "expires_in": int,
                          "short_lived": bool})
        merchant = body.get("merchant_id") or (store.merchants[0] if store.merchants else "")
        if merchant not in store.merchants:
            raise bad_request("INVALID_VALUE", "Unknown merchant_id.", "merchant_id")
        client_id = body.get("client_id") or next(iter(store.clients), "")
        scopes = tuple(body["scopes"]) if body.get("scopes") is not None else ALL_READ_SCOPES
        ttl = timedelta(seconds=body["expires_in"]) if body.get("expires_in") is not None else None
        tok = store.issue(merchant, client_id, scopes, short_lived=bool(body.get("short_lived")), ttl=ttl)
        out = store.token_response(tok, None)
        out["scopes"] = list(tok.scopes)
        return json_response(out)

    async def sandbox_expire(request: Request) -> Response:
        body = await read_json(request)
        check_body(body, {"access_token": str})
        if not store.expire(str(body.get("access_token", ""))):
            raise SquareError(404, "NOT_FOUND", "Access token not found.", "access_token")
        return json_response({"expired": True})

    return [
        Route(f"{prefix}/oauth2/authorize", authorize, methods=["GET"]),
        Route(f"{prefix}/oauth2/authorize/decision", decision, methods=["GET"]),
        Route(f"{prefix}/oauth2/token", token, methods=["POST"]),
        Route(f"{prefix}/oauth2/revoke", revoke, methods=["POST"]),
        Route(f"{prefix}/oauth2/token/status", status, methods=["POST"]),
        Route(f"{prefix}/_sandbox/square/tokens", sandbox_issue, methods=["POST"]),
        Route(f"{prefix}/_sandbox/square/tokens/expire", sandbox_expire, methods=["POST"]),
    ]
