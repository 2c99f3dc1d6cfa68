"""A log of every HTTP request the sources' :class:`~dlt_sources.common.http.ApiSession` sends.

``record_requests(monkeypatch, log)`` wraps ``ApiSession._send_once`` for one test; each provider's
support module subclasses :class:`HttpLog` with its own grouping of the requests (``per_stream``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pytest
from requests import PreparedRequest, Response

from dlt_sources.common.http import ApiSession


@dataclass
class Sent:
    """One request: method, URL path, query parameters, JSON body (None if none or not JSON), the
    Authorization header, the status of the response (None until it arrives), when it was sent
    (``time.monotonic()``, after the client's pacing) and its other headers."""

    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None = None
    authorization: str | None = None
    status: int | None = None
    at: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: PreparedRequest) -> Sent:
        parts = urlsplit(request.url or "")
        headers = {k: str(v) for k, v in request.headers.items() if k.lower() != "authorization"}
        return cls(str(request.method), parts.path, dict(parse_qsl(parts.query)), _json_body(request.body),
                   request.headers.get("Authorization"), at=time.monotonic(), headers=headers)


def _json_body(body: Any) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        return json.loads(body)  # type: ignore[no-any-return]
    except (TypeError, ValueError):
        return None  # a form or a stream


@dataclass
class HttpLog:
    """Every request sent, in order; ``hook(sent, request)`` may raise to simulate a crash or return
    a replacement ``PreparedRequest`` (e.g. with a garbled cursor)."""

    sent: list[Sent] = field(default_factory=list)
    hook: Callable[[Sent, PreparedRequest], PreparedRequest | None] | None = None

    def clear(self) -> None:
        self.sent.clear()


Log = TypeVar("Log", bound=HttpLog)


def record_requests(monkeypatch: pytest.MonkeyPatch, log: Log) -> Log:
    """Log every request ``ApiSession`` sends into ``log`` for the rest of the test."""
    original = ApiSession._send_once

    def send_once(self: ApiSession, request: PreparedRequest, kwargs: dict[str, Any]) -> Response:
        sent = Sent.of(request)
        log.sent.append(sent)
        if log.hook is not None:
            replacement = log.hook(sent, request)
            if replacement is not None:
                request = replacement
        response = original(self, request, kwargs)
        sent.status = response.status_code
        return response

    monkeypatch.setattr(ApiSession, "_send_once", send_once)
    return log
