"""The provider API specs the emulator tests validate against, vendored in ``tests/specs/``, and
the check of a payload against a schema made from them.

A missing file is an error, never a skip: a clone of the repository alone must run every test.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"


def spec_path(name: str) -> Path:
    path = SPECS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the provider specs the tests validate against are "
                                "part of the repository (tests/specs/README.md says where each comes from)")
    return path


@cache
def load_spec(name: str) -> dict[str, Any]:
    return dict(json.loads(spec_path(name).read_text()))


def assert_valid(schema: dict[str, Any], registry: Any, payload: Any, label: str | None = None) -> None:
    """Raise AssertionError unless ``payload`` matches ``schema`` (JSON Schema 2020-12, references
    resolved in the ``referencing`` ``registry``); the message counts the errors and gives the first
    by path, after ``label`` if given."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        prefix = f"{label}: " if label else ""
        raise AssertionError(f"{prefix}{len(errors)} schema error(s); first at "
                             f"{'/'.join(map(str, first.absolute_path))}: {first.message}")
