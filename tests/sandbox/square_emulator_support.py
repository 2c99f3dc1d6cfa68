"""Shared helpers of the Square emulator tests: a small world, a served app, an API client and
the official OpenAPI (``tests/specs/square-api-2025-08-20.json``) as a validator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import httpx
from support.serve import serve_app
from support.specs import load_spec

from pos_sandbox.credentials import DemoCredentials, demo_credentials
from pos_sandbox.faults import FaultPlan
from pos_sandbox.square import create_square_app
from pos_sandbox.world import World

SPEC_NAME = "square-api-2025-08-20.json"


START = date(2026, 3, 2)  # a Monday; 4 days: Mon..Thu


def make_world(seed: int = 11, days: int = 4, scale: str = "tiny", start: date = START) -> World:
    return World(seed=seed, start=start, days=days, scale=scale, providers=("square",))


def square_creds(world: World) -> tuple[dict[str, DemoCredentials], DemoCredentials]:
    creds = demo_credentials(world)
    return creds, next(c for c in creds.values() if c.provider == "square")


@dataclass
class Served:
    world: World
    app: Any
    base_url: str
    creds: DemoCredentials
    client: httpx.Client

    @property
    def emulator(self) -> Any:
        return self.app.state.square

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params={k: v for k, v in params.items() if v is not None})

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
    creds, sq = square_creds(world)
    app = create_square_app(world, creds, faults, **kwargs)
    with serve_app(app) as base_url, httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {sq.access_token}", "Square-Version": "2025-08-20"},
        timeout=30,
    ) as client:
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
    """Raise ``jsonschema.ValidationError`` unless ``payload`` matches ``#/components/schemas/<name>``."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator({"$ref": f"urn:square#/components/schemas/{schema_name}"}, registry=_registry())
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        raise AssertionError(f"{schema_name}: {len(errors)} schema error(s); first at "
                             f"{'/'.join(map(str, first.absolute_path))}: {first.message}")
