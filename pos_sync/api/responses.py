"""Answers serialised once: plain dicts shaped like the route's ``response_model`` written straight
to JSON with orjson, byte for byte what the model's own serialiser writes (aware UTC timestamps as
``…Z``, ``tests/api/test_api_reads.py`` compares the two), without building the models and
validating them again on the way out. The route keeps its ``response_model``, so ``/openapi.json``
documents the same schema."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class OrjsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)
