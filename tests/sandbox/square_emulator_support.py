"""Shared helpers of the Square emulator tests: a small world, a served app, an API client and
the official OpenAPI (``tests/specs/square-api-2025-08-20.json``) as a validator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any

import httpx
from support import emulators
from support.emulators import emulator_credentials, serve_emulator
from support.specs import assert_valid, load_spec
from support.worlds import START, sandbox_world

from pos_sandbox.faults import FaultPlan
from pos_sandbox.square import create_square_app
from pos_sandbox.world import World

SPEC_NAME = "square-api-2025-08-20.json"


def make_world(seed: int = 11, days: int = 4, scale: str = "tiny", start: date = START) -> World:
    """4 days from START: Mon..Thu."""
    return sandbox_world(seed, "square", days=days, start=start, scale=scale)


class Served(emulators.Served):
    @property
    def emulator(self) -> Any:
        return self.app.state.square

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body)

    def paginate(self, path: str, key: str, *, method: str = "GET", body: dict[str, Any] | None = None,
                 **params: Any) -> tuple[list[dict[str, Any]], int]:
        """Every object of a paginated endpoint and the number of pages."""
        out: list[dict[str, Any]] = []
        cursor = None
        pages = 0
        while True:
            if method == "GET":
                resp = self.get(path, **params, cursor=cursor)
            else:
                resp = self.post(path, {**(body or {}), **({"cursor": cursor} if cursor else {})})
            assert resp.status_code == 200, resp.text
            data = resp.json()
            pages += 1
            out.extend(data.get(key, []))
            cursor = data.get("cursor")
            if cursor is None:
                return out, pages
            assert cursor != ""


@contextmanager
def served(world: World | None = None, faults: FaultPlan | None = None, **kwargs: Any) -> Iterator[Served]:
    world = world or make_world()
    creds, sq = emulator_credentials(world, "square")
    app = create_square_app(world, creds, faults, **kwargs)
    headers = {"Authorization": f"Bearer {sq.access_token}", "Square-Version": "2025-08-20"}
    with serve_emulator(app, headers) as (base_url, client):
        yield Served(world, app, base_url, sq, client)


# ---------------------------------------------------------------------- OpenAPI validation
def _strict(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema, closing objects that list their properties, so a field the
    spec does not define fails validation."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-") and k not in ("nullable", "example")}
        if "properties" in node and "additionalProperties" not in node and node.get("type", "object") == "object":
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def spec() -> dict[str, Any]:
    return load_spec(SPEC_NAME)


@lru_cache(maxsize=1)
def _registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    doc = {"components": {"schemas": _strict(spec()["components"]["schemas"])}}
    return Registry().with_resource("urn:square", Resource.from_contents(doc, default_specification=DRAFT202012))


def response_schema_name(path: str, method: str) -> str:
    op = spec()["paths"][path][method.lower()]
    return op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def validate(schema_name: str, payload: Any) -> None:
    """Raise AssertionError unless ``payload`` matches ``#/components/schemas/<name>``."""
    assert_valid({"$ref": f"urn:square#/components/schemas/{schema_name}"}, _registry(), payload, schema_name)
