"""The provider API specs the emulator tests validate against, vendored in ``tests/specs/``.

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
