"""HTTP plumbing of the Lightspeed X-Series emulator: errors, JSON numbers, timestamps, rate limits.

* Errors are ``{"error": "<text>", "message": "<detail>"}``: the spec's examples carry only
  ``error`` (``{"error": "Access token is not valid"}`` for 401, ``{"error": "permission denied"}``
  for 403); the emulator adds ``message`` with the detail (providers.md §3A: UNCONFIRMED as a
  stable schema). Handlers raise :class:`LightspeedError`; the app turns it into the response.
* Money and quantities are :class:`~decimal.Decimal` in the renderer and JSON *numbers* on the
  wire, written from the decimal's own digits (``4.30435``, ``200``), never through binary
  floating point arithmetic.
* Timestamps look like ``2014-09-11T21:09:59+00:00`` (UTC, whole seconds, explicit offset).
* :class:`RateLimiter`: a fixed window per domain prefix (``limit`` requests per ``window``
  seconds, real clock). Over the limit: 429 with ``Retry-After`` as an RFC 1123 HTTP date (when
  the window resets, rounded up to the next whole second) and ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import formatdate
from typing import Any

from starlette.responses import Response

ERROR_TEXT = {
    400: "Bad Request",
    401: "Access token is not valid",
    403: "permission denied",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class LightspeedError(Exception):
    """An error response: ``{"error", "message"}`` plus optional headers."""

    def __init__(self, status: int, message: str, *, error: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error or ERROR_TEXT.get(status, "Error")
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message}

    def response(self) -> Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def bad_request(message: str) -> LightspeedError:
    return LightspeedError(400, message)


# ---------------------------------------------------------------------- JSON
def num(value: Decimal | int) -> int | float:
    """A JSON number for a decimal: integral values as ``int`` (``200``), others as the float whose
    shortest repr is the decimal's own digits. Exact for up to 15 significant digits (IEEE 754
    doubles distinguish every such decimal, and ``repr`` is the shortest round-trip string), which
    covers every amount of the sandbox (checked)."""
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    normalized = value.normalize()
    if len(normalized.as_tuple().digits) > 15:
        raise ValueError(f"{value} has more than 15 significant digits: not exact as a JSON double")
    return float(normalized)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json", headers=dict(headers or {}))


# ---------------------------------------------------------------------- time
def ts(when: datetime) -> str:
    """``2014-09-11T21:09:59+00:00``."""
    when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}+00:00"


def to_us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def http_date(epoch_seconds: float) -> str:
    """RFC 1123 date (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return formatdate(epoch_seconds, usegmt=True)


# ---------------------------------------------------------------------- query parsing
def int_param(raw: str | None, name: str, *, minimum: int = 0) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid value for '{name}': expected an integer, got {raw!r}.") from None
    if value < minimum:
        raise bad_request(f"Invalid value for '{name}': must be at least {minimum}.")
    return value


def bool_param(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"Invalid value for '{name}': expected true or false, got {raw!r}.")


# ---------------------------------------------------------------------- rate limiting
class RateLimiter:
    """Fixed-window request counter per key (domain prefix); ``clock`` is the real clock by default."""

    def __init__(self, limit_for: Callable[[str], int], window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit_for = limit_for
        self.window = float(window_seconds)
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window start, requests counted)
        self.rejected = 0

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, headers to add)."""
        limit = self.limit_for(key)
        now = self.clock()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            else:
                self.rejected += 1
            self._windows[key] = (start, used)
        reset = start + self.window
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used)),
                   "X-RateLimit-Reset": http_date(math.ceil(reset))}
        if not allowed:
            headers["Retry-After"] = http_date(math.ceil(reset))
        return allowed, headers

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self.rejected = 0
