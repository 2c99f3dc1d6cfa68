"""HTTP plumbing of the Toast emulator: ErrorMessage bodies, Toast timestamps, the machine-client
token store and the rate limiter.

Errors use Toast's ``ErrorMessage`` shape (``shared/providers.md`` §2.8): ``status`` (the HTTP
status as an integer, as in Toast's stock API spec; the authentication spec copy types it as a
string), ``code``, ``message``, ``requestId``, ``developerMessage``, ``link`` and ``errors``
(nested, empty here). The numeric ``code`` values are the sandbox's own (Toast's code table is not
published): 10001 authentication, 10002 bad request, 10003 forbidden, 10004 not found,
10005 rate limited, 10006 server error.

Tokens and rate limits run on the real clock (they are about the client's behaviour, not about
the bakery's data, which follows the sandbox clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from pos_sandbox.credentials import DemoCredentials
from pos_sandbox.world import guid

ERROR_LINK = "https://doc.toasttab.com/doc/devguide/apiResponsesAndErrors.html"
CODE_OF_STATUS = {400: 10002, 401: 10001, 403: 10003, 404: 10004, 405: 10002, 429: 10005}
MESSAGE_OF_STATUS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}
MACHINE_CLIENT = "TOAST_MACHINE_CLIENT"
EPOCH_SENTINEL = "1970-01-01T00:00:00.000+0000"
TOAST_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)
EARLIEST = datetime(2015, 12, 1, tzinfo=UTC)

_request_counter = itertools.count(1)


class ToastError(Exception):
    """An error response in Toast's ``ErrorMessage`` shape."""

    def __init__(self, status: int, message: str, developer_message: str | None = None, *,
                 field: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.developer_message = developer_message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.developer_message, self.field)

    def response(self) -> Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def error_body(status: int, message: str, developer_message: str | None = None,
               field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "code": CODE_OF_STATUS.get(status, 10006),
        "message": message,
        "link": ERROR_LINK,
        "requestId": guid("toast-request", next(_request_counter)),
        "developerMessage": developer_message or message,
        "errors": [],
    }
    if field:
        body["fieldName"] = field
    return body


def bad_request(message: str, field: str | None = None) -> ToastError:
    return ToastError(400, message, field=field)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=dict(headers or {}))


# ---------------------------------------------------------------------- time
def toast_ts(when: datetime) -> str:
    """Toast's timestamp format: UTC, milliseconds, offset without colon (``2024-04-01T15:09:30.223+0000``)."""
    when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:" \
           f"{when.second:02d}.{when.microsecond // 1000:03d}+0000"


def business_int(day: Any) -> int:
    """A date as Toast's ``yyyyMMdd`` integer."""
    return day.year * 10000 + day.month * 100 + day.day


def parse_toast_time(value: str, field: str) -> datetime:
    """An ISO-8601 request timestamp with an offset (``+0000``, ``+00:00`` or ``Z``); 400 otherwise.

    A ``+`` that was not URL-encoded arrives as a space: that is a 400 whose message says so.
    """
    if " " in value:
        raise bad_request(f"Invalid {field} '{value}': the date contains a space. URL-encode the '+' of the "
                          f"offset as %2B (for example 2024-04-01T15:09:30.223%2B0000).", field)
    match = TOAST_TS_RE.match(value)
    if match is None:
        raise bad_request(f"Invalid {field} '{value}': use ISO-8601 with an offset, for example "
                          f"2024-04-01T15:09:30.223+0000.", field)
    year, month, day, hour, minute, second, frac, offset = match.groups()
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    except ValueError:
        raise bad_request(f"Invalid {field} '{value}': not a calendar date and time.", field) from None
    if offset == "Z":
        seconds = 0
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        seconds = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return datetime.fromtimestamp(naive.replace(tzinfo=UTC).timestamp() - seconds, UTC)


def parse_positive_int(value: str | None, field: str, default: int, maximum: int | None = None) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"Invalid {field} '{value}': expected an integer.", field) from None
    if number < 1:
        raise bad_request(f"Invalid {field} {number}: must be at least 1.", field)
    if maximum is not None and number > maximum:
        raise bad_request(f"Invalid {field} {number}: the maximum is {maximum}.", field)
    return number


# ---------------------------------------------------------------------- tokens
@dataclass
class ToastToken:
    access_token: str
    client_id: str
    account_id: str
    scopes: tuple[str, ...]
    issued_at: float  # epoch seconds (real clock)
    expires_at: float
    expired: bool = False

    def valid(self, now: float) -> bool:
        return not self.expired and now < self.expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FixedWindows:
    """Request counters over fixed windows (``limit`` per ``seconds``, aligned to the epoch)."""

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit = limit
        self.seconds = seconds
        self._counts: dict[tuple[str, int], int] = {}

    def window(self, now: float) -> tuple[int, float]:
        index = int(now // self.seconds)
        return index, (index + 1) * self.seconds

    def remaining(self, key: str, now: float) -> tuple[int, float]:
        index, end = self.window(now)
        return self.limit - self._counts.get((key, index), 0), end

    def take(self, key: str, now: float) -> None:
        index, _ = self.window(now)
        if len(self._counts) > 10_000:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= index}
        self._counts[(key, index)] = self._counts.get((key, index), 0) + 1


class TokenStore:
    """Machine-client logins: one cached token per client, re-issued shortly before it expires.

    ``login`` returns the client's current token while more than ``renew_before`` seconds of its
    ``ttl`` remain (``expiresIn`` then counts the remaining seconds), else a new one. Logins are
    rate limited per client (``login_limit`` per ``login_window`` seconds → 429).
    """

    def __init__(self, seed: int, credentials: Mapping[str, DemoCredentials], *, ttl: float, renew_before: float,
                 login_limit: tuple[int, float] | None, clock: Any = time.time) -> None:
        self.seed = seed
        self.clients = {c.client_id: c for c in credentials.values() if c.provider == "toast"}
        self.ttl = ttl
        self.renew_before = renew_before
        self.logins = FixedWindows(*login_limit) if login_limit else None
        self.clock = clock
        self._current: dict[str, ToastToken] = {}
        self._by_token: dict[str, ToastToken] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.issued = 0
        self.login_calls = 0

    def login(self, body: Mapping[str, Any]) -> ToastToken:
        client_id, secret = body.get("clientId"), body.get("clientSecret")
        access_type = body.get("userAccessType")
        if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
            raise bad_request("The request body needs clientId, clientSecret and userAccessType.", "clientId")
        if access_type != MACHINE_CLIENT:
            raise bad_request(f"userAccessType must be {MACHINE_CLIENT}.", "userAccessType")
        creds = self.clients.get(client_id)
        if creds is None or not hmac.compare_digest(creds.client_secret, secret):
            raise ToastError(401, "Access Denied", "The client credentials are not valid.")
        now = self.clock()
        with self._lock:
            self.login_calls += 1
            if self.logins is not None:
                left, end = self.logins.remaining(client_id, now)
                if left <= 0:
                    wait = max(1, math.ceil(end - now))
                    raise ToastError(429, "Too Many Requests",
                                     "Too many authentication requests: cache the token and reuse it.",
                                     headers=rate_headers("ENDPOINT", 0, end) | {"Retry-After": str(wait)})
                self.logins.take(client_id, now)
            current = self._current.get(client_id)
            if current is not None and current.valid(now) and current.expires_at - now > self.renew_before:
                return current
            token = self._issue(creds, now)
            self._current[client_id] = token
            return token

    def issue_with_scopes(self, client_id: str, scopes: tuple[str, ...]) -> ToastToken:
        """Sandbox hook: a token of the client with other scopes than its own (to play a partner
        client configured without a scope); not cached as the client's login token."""
        creds = self.clients.get(client_id)
        if creds is None:
            raise ToastError(404, "Not Found", f"No Toast client {client_id} in the sandbox.")
        with self._lock:
            return self._issue(replace(creds, scopes=scopes), self.clock())

    def _issue(self, creds: DemoCredentials, now: float) -> ToastToken:
        n = next(self._counter)
        header = _b64(dumps({"alg": "HS256", "typ": "JWT"}))
        payload = _b64(dumps({"iss": "toast-sandbox", "sub": creds.client_id, "client_id": creds.client_id,
                              "management_group": creds.account_id, "scope": " ".join(creds.scopes),
                              "iat": int(now), "exp": int(now + self.ttl), "jti": guid(self.seed, "jti", n)}))
        key = hashlib.blake2b(f"{self.seed}|toast-jwt".encode()).digest()
        sig = _b64(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        token = ToastToken(f"{header}.{payload}.{sig}", creds.client_id, creds.account_id, tuple(creds.scopes),
                           now, now + self.ttl)
        self._by_token[token.access_token] = token
        self.issued += 1
        return token

    def token_of_header(self, header: str | None) -> ToastToken | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        token = self._by_token.get(header[7:].strip())
        return token if token is not None and token.valid(self.clock()) else None

    def authorize(self, header: str | None) -> ToastToken:
        if not header or not header.lower().startswith("bearer "):
            raise ToastError(401, "Unauthorized", "Missing Authorization header: send 'Bearer <accessToken>'.")
        token = self._by_token.get(header[7:].strip())
        if token is None:
            raise ToastError(401, "Unauthorized", "The access token is not valid.")
        if not token.valid(self.clock()):
            raise ToastError(401, "Unauthorized", "The access token has expired: log in again.")
        return token

    def expire(self, access_token: str) -> bool:
        token = self._by_token.get(access_token)
        if token is None or token.expired:
            return False
        token.expired = True
        return True


def rate_headers(by: str | None, remaining: int, reset: float) -> dict[str, str]:
    headers = {"X-Toast-RateLimit-Remaining": str(max(0, remaining)), "X-Toast-RateLimit-Reset": str(math.ceil(reset))}
    if by:
        headers["X-Toast-RateLimit-By"] = by
    return headers


class RateLimiter:
    """Toast's limits: a global per-second and per-15-minute budget, and endpoint limits (menus, ordersBulk).

    Counted per restaurant when the request names one (``Toast-Restaurant-External-ID``), else per
    client. A request over a limit is not counted; it gets 429 with ``Retry-After`` (seconds until
    the window resets) and ``X-Toast-RateLimit-By`` (``GLOBAL`` or ``ENDPOINT``).
    """

    def __init__(self, global_limits: list[tuple[int, float]], endpoint_limits: Mapping[str, tuple[int, float]],
                 clock: Any = time.time) -> None:
        self.global_windows = [FixedWindows(n, s) for n, s in global_limits]
        self.endpoint_windows = {name: FixedWindows(n, s) for name, (n, s) in endpoint_limits.items()}
        self.clock = clock
        self._lock = threading.Lock()
        self.rejected = 0

    def check(self, key: str, endpoint: str | None = None) -> dict[str, str]:
        """Count one request or raise 429; returns the rate-limit headers of the response."""
        now = self.clock()
        scoped: list[tuple[str, str, FixedWindows]] = []
        if endpoint is not None and endpoint in self.endpoint_windows:
            scoped.append(("ENDPOINT", f"{endpoint}|{key}", self.endpoint_windows[endpoint]))
        scoped += [("GLOBAL", key, w) for w in self.global_windows]
        with self._lock:
            tightest: tuple[int, float] | None = None
            for by, k, windows in scoped:
                left, end = windows.remaining(k, now)
                if left <= 0:
                    self.rejected += 1
                    wait = max(1, math.ceil(end - now))
                    raise ToastError(429, "Too Many Requests",
                                     f"Rate limit exceeded ({windows.limit} requests per {windows.seconds:g} s); "
                                     f"retry after {wait} s.",
                                     headers=rate_headers(by, 0, end) | {"Retry-After": str(wait)})
                if tightest is None or left - 1 < tightest[0]:
                    tightest = (left - 1, end)
            for _, k, windows in scoped:
                windows.take(k, now)
        if tightest is None:
            return {}
        return rate_headers(None, *tightest)
