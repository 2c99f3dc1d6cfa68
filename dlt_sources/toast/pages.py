"""One Toast ``ordersBulk`` page read into Arrow with its numbers' exact texts
(:mod:`dlt_sources.common.exact_text`), apart from :mod:`dlt_sources.toast.helpers` so that
discovery and the Dagster definitions (which import the helpers) do not load pyarrow."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from requests import Response

from dlt_sources.common.arrow_json import ARROW_REFUSALS, ArrowOrDicts, read_page
from dlt_sources.common.errors import ApiError
from dlt_sources.common.exact_text import exact_text_struct, number_texts
from dlt_sources.toast.helpers import parse_json
from dlt_sources.toast.settings import DECIMAL_FIELDS


class OrdersPage(ArrowOrDicts):
    """One ``ordersBulk`` page (a bare JSON array) of a restaurant: its objects read into Arrow in
    C++ with the numbers of :func:`parse_json` then :func:`exact_numbers` (``rows``, see
    :mod:`dlt_sources.common.exact_text`), not shaped yet; ``rows`` None when that path refuses the
    page: :meth:`dicts` parses it as before."""

    def __init__(self, response: Response, restaurant: str, path: str = "") -> None:
        self.response = response
        self.path = path
        self.body = response.content
        self.restaurant = restaurant
        self._dicts: list[Any] | None = None
        # JSON is UTF-8 (RFC 8259), which Arrow's reader reads; another declared charset: as before
        utf8 = (response.encoding or "utf-8").lower() in ("utf-8", "utf8")
        self.rows: pa.StructArray | None = _exact_rows(self.body) if utf8 else None

    def dicts(self) -> list[Any]:
        """The page's objects as :func:`parse_json` gives them (not shaped)."""
        if self._dicts is None:
            data = parse_json(self.response.text)
            if not isinstance(data, list):
                raise ApiError(f"Toast {self.path}: expected a JSON array, got {type(data).__name__}",
                               status=self.response.status_code, body=self.response.text[:2000])
            self._dicts = data
        return self._dicts


def _exact_rows(body: bytes) -> pa.StructArray | None:
    page = read_page(b'{"orders":' + body + b"}", "orders")
    if page.rows is None or page.names != frozenset({"orders"}):
        return None
    try:
        return exact_text_struct(page.rows, number_texts(body), DECIMAL_FIELDS)
    except ARROW_REFUSALS:
        return None
