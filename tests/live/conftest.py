"""The live stack (``pos-sync dev``) started once per test session, and one chromium for it.

``pos-sync dev --json`` runs in a subprocess on free ports with its own ``POS_HOME`` (a tiny world
of one day with a Square and a Toast account — a third account would add a third first sync to
wait for — and a live sale every 5 s); the fixture waits for its JSON document (everything up, the
Dagster webserver answering) and, at the end of the session, stops it if a test has not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    home = tmp_path_factory.mktemp("live") / "pos-home"
    sandbox_port, api_port, dagster_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POS_", "DAGSTER_"))}
    env |= {"POS_HOME": str(home), "DLT_DATA_DIR": str(home / "dlt"), "RUNTIME__DLTHUB_TELEMETRY": "false",
            "NORMALIZE__WORKERS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])}
    out, err = home.parent / "dev.json", home.parent / "dev.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "pos_sync.cli", "dev", "--json", "--scale", "tiny", "--days", "1",
                                 "--providers", "square,toast",
                                 "--sale-every", "5", "--sync-every", "60", "--sandbox-port", str(sandbox_port),
                                 "--api-port", str(api_port), "--dagster-port", str(dagster_port)],
                                cwd=REPO, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            text = out.read_text()
            if text.strip().endswith("}"):
                try:
                    doc = json.loads(text)
                    break
                except ValueError:
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pos-sync dev did not come up (exit {proc.poll()}): {err.read_text()[-2000:]}",
                            pytrace=False)
            time.sleep(0.25)
        yield LiveStack(proc, doc, home, err)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def browser(live_stack: LiveStack) -> Iterator[Any]:
    """One chromium context for the session (the UI keeps what it was told in local storage): a
    fresh Dagster home greets once with a "Join the Dagster community" modal, skipped here."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.goto(f"{live_stack.ui}/overview")
            page.get_by_role("button", name="Skip").click(timeout=60_000)
            page.close()
            yield context
        finally:
            context.close()
            chromium.close()
