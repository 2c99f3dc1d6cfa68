"""HTTP plumbing of the Lightspeed Retail R-Series (API V3) emulator: error bodies, the leaky
bucket, query parameters (``limit``, ``after`` cursors, operator filters, ``load_relations``) and
R-Series' JSON habits (every scalar a string, one-element collections as objects).

Facts: providers.md §3B (Go client, SDKs and Singer taps; no official OpenAPI exists):

* errors: ``{"httpCode": "429", "httpMessage": "Too Many Requests", "message": "…",
  "errorClass": "RateLimitedException"}`` — every value a string;
* leaky bucket per account: a GET costs 1 unit, PUT/POST/DELETE 10; the bucket drains at
  ``drip_rate`` units per second; headers ``X-LS-API-Bucket-Level: "<level>/<size>"``,
  ``X-LS-API-Drip-Rate``, ``X-LS-API-Request-Cost``; a request that would overflow it → 429 with
  ``Retry-After`` (delta seconds);
* filters: ``field=<op>,<value>`` with ``op`` one of ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``
  and ``><,<low>,<high>`` (between, both ends inclusive), ``IN,[v1,v2]``; the value URL-encoded.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response

HTTP_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
             405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
             503: "Service Unavailable", 504: "Gateway Timeout"}
ERROR_CLASS = {400: "InvalidArgumentException", 401: "UnauthorizedException", 403: "ForbiddenException",
               404: "NotFoundException", 405: "MethodNotAllowedException", 429: "RateLimitedException",
               500: "InternalServerErrorException", 503: "ServiceUnavailableException",
               504: "GatewayTimeoutException"}
MAX_LIMIT = 100
DEFAULT_BUCKET_SIZE = 60
DEFAULT_DRIP_RATE = 1.0  # units per second
WRITE_COST = 10


def error_body(status: int, message: str) -> dict[str, str]:
    return {"httpCode": str(status), "httpMessage": HTTP_TEXT.get(status, "Error"), "message": message,
            "errorClass": ERROR_CLASS.get(status, "Exception")}


class RSeriesError(Exception):
    """An API error answered in R-Series' shape (``error`` overrides the body for OAuth errors)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None,
                 oauth_error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.oauth_error = oauth_error

    def response(self) -> Response:
        if self.oauth_error is not None:  # the OAuth server answers RFC 6749 errors
            body: dict[str, str] = {"error": self.oauth_error, "error_description": self.message}
        else:
            body = error_body(self.status, self.message)
        return json_response(body, self.status, self.headers)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(obj), status_code=status, headers=dict(headers or {}), media_type="application/json")


# ---------------------------------------------------------------------- R-Series JSON habits
def stamp(when: datetime) -> str:
    """``2024-01-02T15:04:05+00:00`` (seconds, explicit UTC offset)."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def major(cents: int, exponent: int = 2) -> str:
    """Minor units → the decimal string R-Series sends (``"12.5"`` is never sent: ``"12.50"``)."""
    return str(Decimal(cents).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def as_strings(value: Any) -> Any:
    """Every scalar a string (``"true"``, ``"3"``, ``"12.50"``); ``None`` fields left out."""
    if isinstance(value, dict):
        return {k: as_strings(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [as_strings(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return stamp(value)
    return str(value)


def collection(name: str, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A nested collection as R-Series renders it: missing when empty, an object when it holds
    one element, a list otherwise (``{"SaleLine": {...}}`` vs ``{"SaleLine": [...]}``)."""
    if not items:
        return None
    return {name: items[0] if len(items) == 1 else items}


# ---------------------------------------------------------------------- leaky bucket
class LeakyBucket:
    """One bucket per account: ``size`` units, drained at ``drip_rate`` units per second (real time)."""

    def __init__(self, size: int = DEFAULT_BUCKET_SIZE, drip_rate: float = DEFAULT_DRIP_RATE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1 or drip_rate <= 0:
            raise ValueError("a bucket needs a size >= 1 and a positive drip rate")
        self.size = size
        self.drip_rate = drip_rate
        self.clock = clock
        self._levels: dict[str, tuple[float, float]] = {}  # account -> (level, at)
        self._lock = threading.Lock()
        self.rejected = 0
        self.max_level = 0.0

    def hit(self, account: str, cost: int = 1) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = self.clock()
            level, at = self._levels.get(account, (0.0, now))
            level = max(0.0, level - (now - at) * self.drip_rate)
            allowed = level + cost <= self.size
            if allowed:
                level += cost
                self.max_level = max(self.max_level, level)
            else:
                self.rejected += 1
            self._levels[account] = (level, now)
        headers = {"X-LS-API-Bucket-Level": f"{_num(level)}/{self.size}", "X-LS-API-Drip-Rate": _num(self.drip_rate),
                   "X-LS-API-Request-Cost": str(cost)}
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((level + cost - self.size) / self.drip_rate)))
        return allowed, headers


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


# ---------------------------------------------------------------------- query parameters
OPERATORS = ("><", ">=", "<=", "!=", "=", ">", "<", "IN")


def parse_filter(name: str, raw: str, parse: Callable[[str], Any]) -> Callable[[Any], bool]:
    """``>,2024-01-01T00:00:00+00:00`` → a predicate over the field's (parsed) value."""
    op, sep, rest = raw.partition(",")
    if not sep or op not in OPERATORS:
        raise RSeriesError(400, f"Invalid filter for {name}: expected '<operator>,<value>' with an operator among "
                                f"{', '.join(OPERATORS)} (e.g. {name}=%3E,2024-01-01T00:00:00%2B00:00).")
    try:
        if op == "IN":  # IN,[1,2,3]
            values = json.loads(rest)
            if not isinstance(values, list):
                raise ValueError("IN needs a JSON array")
            wanted = {parse(str(v)) for v in values}
            return lambda v: v in wanted
        if op == "><":
            low_text, sep2, high_text = rest.partition(",")
            if not sep2:
                raise ValueError("between needs two values")
            low, high = parse(low_text), parse(high_text)
            return lambda v: v is not None and low <= v <= high
        value = parse(rest)
    except ValueError as exc:
        raise RSeriesError(400, f"Invalid value in the {name} filter {raw!r}: {exc}.") from None
    compare: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == value, "!=": lambda v: v != value, ">": lambda v: v is not None and v > value,
        ">=": lambda v: v is not None and v >= value, "<": lambda v: v is not None and v < value,
        "<=": lambda v: v is not None and v <= value,
    }
    return compare[op]


def parse_time(text: str) -> datetime:
    value = text.strip()
    if not value:
        raise ValueError("empty timestamp")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if " " in value and "+" not in value:  # a '+' sent unencoded arrives as a space
        raise ValueError("the '+' of the UTC offset must be URL-encoded (%2B)")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a timestamp needs its UTC offset")
    return parsed.astimezone(UTC)


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise RSeriesError(400, f"Invalid limit {raw!r}: an integer from 1 to {MAX_LIMIT}.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise RSeriesError(400, f"Invalid limit {limit}: the largest page is {MAX_LIMIT}.")
    return limit


def parse_relations(raw: str | None, allowed: tuple[str, ...]) -> set[str]:
    """``load_relations=["SaleLines","SalePayments"]`` (a JSON array) or ``all``."""
    if raw is None or raw == "":
        return set()
    if raw == "all":
        return set(allowed)
    try:
        names = json.loads(raw)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RSeriesError(400, "load_relations must be a JSON-encoded array of relation names "
                                f"(e.g. [\"SaleLines\"]) or 'all'; got {raw!r}.")
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise RSeriesError(400, f"Unknown relation(s) in load_relations: {', '.join(unknown)}.")
    return set(names)


def encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> list[Any]:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        key = None
    if not isinstance(key, list) or len(key) != 2:
        raise RSeriesError(400, "Invalid 'after' cursor: use the next URL of the previous page as it is.")
    return key


__all__ = ["LeakyBucket", "RSeriesError", "as_strings", "collection", "decode_cursor", "encode_cursor",
           "error_body", "json_response", "major", "parse_filter", "parse_limit", "parse_relations",
           "parse_time", "stamp"]
