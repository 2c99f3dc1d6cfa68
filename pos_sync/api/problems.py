"""One error shape for every failure: RFC 9457 problem details (``application/problem+json``) with
a message a person can act on. No traceback ever reaches a client; unexpected errors are logged
with the request id and answered with a 500 that names it."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = structlog.get_logger("pos_sync.api")

TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 422: "Unprocessable content", 502: "Provider error", 503: "Service unavailable",
          500: "Internal server error"}


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.extra = extra


def problem_response(request: Request, status: int, detail: str, title: str | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title or TITLES.get(status, "Error"), "status": status,
            "detail": detail, "instance": request.url.path,
            "request_id": getattr(request.state, "request_id", None), **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def install(app: FastAPI) -> None:
    from pos_sync.appstore import AccountNotFound, AppStoreError, CryptoError, LocationConflict
    from pos_sync.providers.linking import LinkError

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, exc.title, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"location": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"location": [], "message": "invalid request"}
        where = ".".join(first["location"][1:]) or "the request"
        return problem_response(request, 422, f"{where}: {first['message']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(AccountNotFound)
    async def _not_found(request: Request, exc: AccountNotFound) -> JSONResponse:
        return problem_response(request, 404, str(exc))

    @app.exception_handler(LocationConflict)
    async def _conflict(request: Request, exc: LocationConflict) -> JSONResponse:
        return problem_response(request, 409, str(exc))

    @app.exception_handler(AppStoreError)
    @app.exception_handler(LinkError)
    async def _bad(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, LookupError):  # a product, mapping or request of the tenant that is not there
            return problem_response(request, 404, " ".join(str(exc).split()))
        return problem_response(request, 422, " ".join(str(exc).split()))

    @app.exception_handler(CryptoError)
    async def _crypto(request: Request, exc: CryptoError) -> JSONResponse:
        log.error("crypto_error", error=str(exc))
        return problem_response(request, 503, "the service cannot decrypt stored credentials (its encryption key "
                                              "changed): an operator must restore the key")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", error_type=type(exc).__name__, error=str(exc).splitlines()[0] if str(exc) else "",
                  exc_info=exc)
        return problem_response(request, 500, "an unexpected error occurred; the operators can find it in the "
                                              "service log by this request id")
