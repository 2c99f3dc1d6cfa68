"""Shared helpers of the Lightspeed emulator tests: a small world, a served app, an API client,
and the official X-Series OpenAPI (``tests/specs/lightspeed-xseries-api-2.0.json``) as a
validator.

Where the spec's schemas and its response examples disagree the emulator follows the examples
(providers.md §3A); :data:`EXAMPLE_DEVIATIONS` lists every such place, and the validator allows
exactly those on top of the schema (objects are otherwise closed: a field the spec does not
define fails validation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

import httpx
from support import emulators
from support.emulators import emulator_credentials, serve_emulator
from support.specs import assert_valid, load_spec
from support.worlds import START, sandbox_world

from pos_sandbox.faults import FaultPlan
from pos_sandbox.lightspeed import create_lightspeed_app
from pos_sandbox.world import World

SPEC_NAME = "lightspeed-xseries-api-2.0.json"

# schema -> {property: JSON schema} the examples carry but the schema lacks (or types differently)
EXAMPLE_DEVIATIONS: dict[str, dict[str, Any]] = {
    # GET /sales examples: receipt_number on every sale
    "Sale": {"receipt_number": {"type": "string"}},
    # GET /sales examples: the newer duplicate names next to the schema's ones
    "LineItem": {name: {"type": "number"} for name in (
        "unit_price", "unit_cost", "unit_discount", "unit_tax", "unit_loyalty_value",
        "total_price", "total_cost", "total_discount", "total_tax", "total_loyalty_value")},
    # GET /sales examples: payments carry id, outlet_id and external_attributes
    "Payment": {"id": {"type": "string"}, "outlet_id": {"type": "string"},
                "external_attributes": {"type": "array"}},
    # GET /sales examples: sale taxes carry the tax rate id
    "SaleTax": {"id": {"type": "string"}},
    # the schema requires `type` but defines `adjustment_type`; the example uses `type`: both are sent
    "Adjustment": {"type": {"type": "string",
                            "enum": ["NON_CASH_FEE", "DISCOUNT", "TIP", "SURCHARGE", "ECOM_CUSTOM_CHARGE"]}},
    # GET /products examples: is_active next to active
    "Product": {"is_active": {"type": "boolean"}},
    # GET /users example: role ids are integers (schema: strings)
    "Role": {"id": {"type": ["string", "integer"]}, "system_role_id": {"type": ["string", "integer"]}},
    # ProductCategory.parent_category_id: "or null if its root category" (description), not nullable in the schema
    "ProductCategory": {"parent_category_id": {"type": ["string", "null"]}},
}


def make_world(seed: int = 11, days: int = 4, scale: str = "tiny", start: date = START) -> World:
    return sandbox_world(seed, "lightspeed", days=days, start=start, scale=scale)


def loads(resp: httpx.Response) -> Any:
    """JSON with exact decimals (never floats)."""
    return json.loads(resp.content, parse_float=Decimal)


class Served(emulators.Served):
    @property
    def emulator(self) -> Any:
        return self.app.state.lightspeed

    def feed(self, path: str, *, page_size: int | None = None, after: int = 0,
             **params: Any) -> tuple[list[dict[str, Any]], int]:
        """Every object of a version feed (``after = version.max`` until ``data`` is empty) and pages."""
        out: list[dict[str, Any]] = []
        pages = 0
        while True:
            resp = self.get(path, after=after, page_size=page_size, **params)
            assert resp.status_code == 200, resp.text
            body = loads(resp)
            pages += 1
            if not body["data"]:
                return out, pages
            versions = [o["version"] for o in body["data"]]
            assert versions == sorted(versions) and len(set(versions)) == len(versions)
            if "version" in body:  # /taxes has no envelope: its items' versions page it
                assert body["version"] == {"min": versions[0], "max": versions[-1]}
            assert versions[0] > after
            out.extend(body["data"])
            after = versions[-1]


@contextmanager
def served(world: World | None = None, faults: FaultPlan | None = None, **kwargs: Any) -> Iterator[Served]:
    world = world or make_world()
    creds, ls = emulator_credentials(world, "lightspeed")
    app = create_lightspeed_app(world, creds, faults, **kwargs)
    with serve_emulator(app, {"Authorization": f"Bearer {ls.access_token}"}) as (base_url, client):
        yield Served(world, app, base_url, ls, client)


# ---------------------------------------------------------------------- OpenAPI validation
def _strict(node: Any, name: str | None = None) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable`` → a null type, local refs → the registry URN, objects
    closed to the properties they list (plus the documented example deviations)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key.startswith("x-") or key in ("nullable", "example", "deprecated"):
                continue
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = "urn:lightspeed" + value
            elif key == "properties":
                out[key] = {p: _strict(v) for p, v in value.items()}
            else:
                out[key] = _strict(value)
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
        if name is not None and name in EXAMPLE_DEVIATIONS:
            out.setdefault("properties", {}).update(EXAMPLE_DEVIATIONS[name])
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

    schemas = {name: _strict(s, name) for name, s in spec()["components"]["schemas"].items()}
    doc = {"components": {"schemas": schemas}}
    return Registry().with_resource("urn:lightspeed", Resource.from_contents(doc, default_specification=DRAFT202012))


def response_schema(path: str, method: str = "get") -> dict[str, Any]:
    """The 200 response schema of an operation (a $ref or an inline schema), made strict."""
    schema = spec()["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return _strict(schema)


def validate(schema: dict[str, Any] | str, payload: Any) -> None:
    """Raise AssertionError unless ``payload`` matches (a component name or a response schema)."""
    if isinstance(schema, str):
        schema = {"$ref": f"urn:lightspeed#/components/schemas/{schema}"}
    assert_valid(schema, _registry(), payload)
