"""What the live-stack tests share: the running ``pos-sync dev`` (:class:`LiveStack`), where
screenshots go, how chromium is launched. The fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts" / "browser" / "live"  # ignored by git
STARTUP_SECONDS = 240


@dataclass
class LiveStack:
    proc: subprocess.Popen[bytes]
    doc: dict[str, Any]
    home: Path
    stderr: Path

    @property
    def ui(self) -> str:
        return str(self.doc["dagster_url"])

    def account(self, provider: str) -> dict[str, Any]:
        return next(a for a in self.doc["accounts"] if a["provider"] == provider)

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = httpx.post(f"{self.ui}/graphql", json={"query": query, "variables": variables}, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return dict(body["data"])

    def groups_alive(self) -> list[str]:
        alive = []
        for name, pgid in self.doc["pids"].items():
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                continue
            alive.append(name)
        return alive


def free_ports(n: int) -> list[int]:
    import socket

    socks = []
    for _ in range(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    ports = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return ports
