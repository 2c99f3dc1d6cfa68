"""Structured JSON logs on stderr (structlog), one request id per request (``X-Request-ID``,
taken from the client when it sends a sane one), never a secret: query strings are not logged.
The same timing feeds the API's request metrics (:func:`pos_sync.api.metrics.observe_request`)."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from pos_sync.api.metrics import observe_request

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def configure(level: int = logging.INFO) -> None:
    """structlog → JSON lines on stderr; the standard library's loggers (uvicorn) go the same way."""
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(processors=processors, logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(level), cache_logger_on_first_use=True)


class RequestLog(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raised
        try:
            response = await call_next(request)
            status = response.status_code
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            observe_request(request, status, time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        structlog.get_logger("pos_sync.api").info(
            "request", request_id=request_id, method=request.method, path=request.url.path,
            status=response.status_code, ms=round((time.perf_counter() - started) * 1000, 1))
        return response
