"""HTTP plumbing of the Square emulator: error envelopes, timestamps, cursors, request checks.

Errors are always ``{"errors": [{"category", "code", "detail", "field"?}]}`` with Square's
categories and codes (spec ``ErrorCategory`` / ``ErrorCode``). Handlers raise :class:`SquareError`;
the app turns it into the JSON response.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$"
)

CATEGORY_OF_STATUS = {
    400: "INVALID_REQUEST_ERROR",
    401: "AUTHENTICATION_ERROR",
    403: "AUTHENTICATION_ERROR",
    404: "INVALID_REQUEST_ERROR",
    429: "RATE_LIMIT_ERROR",
}


class SquareError(Exception):
    """An error response in Square's envelope."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None,
                 category: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.category = category or CATEGORY_OF_STATUS.get(status, "API_ERROR")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"category": self.category, "code": self.code, "detail": self.detail}
        if self.field:
            err["field"] = self.field
        return {"errors": [err]}

    def response(self) -> Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def bad_request(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, code, detail, field)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=dict(headers or {}))


# ---------------------------------------------------------------------- money and time
def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def ts(when: datetime) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-03-29T05:24:29.000Z``."""
    when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:" \
           f"{when.second:02d}.{when.microsecond // 1000:03d}Z"


def to_us(when: datetime) -> int:
    """Microseconds since the epoch (index keys)."""
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def parse_time(value: Any, field: str) -> int:
    """An RFC 3339 request timestamp (any offset) as epoch microseconds; 400 INVALID_TIME otherwise."""
    if not isinstance(value, str) or not RFC3339_RE.match(value):
        raise bad_request("INVALID_TIME", f"`{value}` is not a valid RFC 3339 timestamp.", field)
    text = value.replace("z", "Z").replace("t", "T").replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac = re.search(r"\.(\d+)", text)
    if frac and len(frac.group(1)) > 6:  # nanoseconds: Python parses at most microseconds
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    try:
        return to_us(datetime.fromisoformat(text))
    except ValueError:
        raise bad_request("INVALID_TIME", f"`{value}` is not a valid RFC 3339 timestamp.", field) from None


# ---------------------------------------------------------------------- request checks
def check_version(headers: Mapping[str, str]) -> None:
    version = headers.get("square-version")
    if version is not None and not VERSION_RE.match(version.strip()):
        raise bad_request("INVALID_SQUARE_VERSION_FORMAT",
                          f"Invalid Square-Version format: `{version}`. Expected YYYY-MM-DD.", "Square-Version")


def check_query(params: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """The query parameters an endpoint does not define, which Square **ignores** (a GET with
    ``limit=100`` on ListLocations, which takes none, answers 200 — docs/sandbox.md, *Strictness*).
    ``allowed`` documents the endpoint's parameters; the known ones are validated by the handler."""
    allowed_set = set(allowed)
    return [name for name in params if name not in allowed_set]


def parse_int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise bad_request("EXPECTED_INTEGER", f"Expected an integer value for `{field}`.", field) from None


def parse_bool(value: str, field: str) -> bool:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request("EXPECTED_BOOLEAN", f"Expected a boolean value for `{field}`.", field)


def enum_value(value: Any, allowed: Iterable[str], field: str) -> str:
    if not isinstance(value, str) or value not in set(allowed):
        raise bad_request("INVALID_ENUM_VALUE", f"`{value}` is not a valid enum value for `{field}`.", field)
    return value


# Body shapes: a dict maps field -> shape; shapes are str, int, bool, "time", [shape], dict, or
# "any" (free-form object). An unknown field at any level is a 400 as real Square answers it:
# code BAD_REQUEST, "The field named 'x' is unrecognized" (not the spec's UNKNOWN_BODY_PARAMETER;
# docs/sandbox.md, *Strictness*).
Shape = Any


def check_body(body: Any, shape: Mapping[str, Shape], path: str = "") -> None:
    if not isinstance(body, dict):
        raise bad_request("EXPECTED_OBJECT", "Expected a JSON object.", path or None)
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in shape:
            raise bad_request("BAD_REQUEST", f"The field named '{key}' is unrecognized.", where)
        if value is None:
            continue
        _check_value(value, shape[key], where)


def _check_value(value: Any, shape: Shape, where: str) -> None:
    if shape == "any":
        return
    if isinstance(shape, dict):
        check_body(value, shape, where)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise bad_request("EXPECTED_ARRAY", f"Expected an array for `{where}`.", where)
        for i, item in enumerate(value):
            _check_value(item, shape[0], f"{where}[{i}]")
    elif shape is bool:
        if not isinstance(value, bool):
            raise bad_request("EXPECTED_BOOLEAN", f"Expected a boolean value for `{where}`.", where)
    elif shape is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request("EXPECTED_INTEGER", f"Expected an integer value for `{where}`.", where)
    elif shape is str or shape == "time":
        if not isinstance(value, str):
            raise bad_request("EXPECTED_STRING", f"Expected a string value for `{where}`.", where)
        if shape == "time":
            parse_time(value, where)


async def read_json(request: Any) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("EXPECTED_JSON_BODY", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("EXPECTED_JSON_BODY", "The request body is not a JSON object.")
    return body


# ---------------------------------------------------------------------- cursors
class CursorCodec:
    """Opaque, signed cursors bound to a query, expiring after ``ttl_seconds`` (real clock).

    The cursor text is deterministic (same query, same position, same key → same cursor), so two
    sandboxes built from the same seed answer byte for byte alike. Its issue time is kept
    server-side: a cursor this process never issued (or issued more than ``ttl_seconds`` ago) is
    expired; a cursor of another query or a garbled one is invalid. Both give 400 INVALID_CURSOR.
    """

    MAX_TRACKED = 200_000

    def __init__(self, key: bytes, ttl_seconds: float) -> None:
        self.key = key
        self.ttl = ttl_seconds
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(*parts: Any) -> str:
        return hashlib.blake2b(dumps(parts), digest_size=9).hexdigest()

    def encode(self, fingerprint: str, state: Mapping[str, Any]) -> str:
        payload = dumps({"q": fingerprint, **state})
        sig = hmac.new(self.key, payload, hashlib.sha256).digest()[:12]
        token = base64.urlsafe_b64encode(payload + sig).decode().rstrip("=")
        now = time.monotonic()
        with self._lock:
            if len(self._issued) >= self.MAX_TRACKED:
                cutoff = now - self.ttl
                self._issued = {k: v for k, v in self._issued.items() if v >= cutoff}
            self._issued[token] = now
        return token

    def expire_all(self) -> None:
        """Every cursor issued so far expires now (the ``cursor-expire`` fault)."""
        with self._lock:
            self._issued.clear()

    def decode(self, token: Any, fingerprint: str, field: str = "cursor") -> dict[str, Any]:
        invalid = bad_request("INVALID_CURSOR", "The pagination cursor is invalid or has expired.", field)
        if not isinstance(token, str) or not token:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise invalid from None
        payload, sig = raw[:-12], raw[-12:]
        if len(raw) <= 12 or not hmac.compare_digest(hmac.new(self.key, payload, hashlib.sha256).digest()[:12], sig):
            raise invalid
        try:
            state = json.loads(payload)
        except ValueError:
            raise invalid from None
        if not isinstance(state, dict) or state.get("q") != fingerprint:
            raise invalid
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or time.monotonic() - issued > self.ttl:
            raise invalid
        return state
