"""The live stack (``pos-sync dev``) started once per test session, and one chromium for it.

``pos-sync dev --json`` runs in a subprocess on free ports with its own ``POS_HOME`` (a tiny world
of one day with a Square and a Toast account — a third account would add a third first sync to
wait for — and a live sale every 5 s); the fixture waits for its JSON document (everything up, the
Dagster webserver answering) and, at the end of the session, stops it if a test has not. Shared
helpers live in ``live_support`` (never import a conftest by name)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from live_support import REPO, STARTUP_SECONDS, LiveStack, free_ports


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
def browser(live_stack: LiveStack, chromium: Any) -> Iterator[Any]:
    """One chromium context for the session (the UI keeps what it was told in local storage): a
    fresh Dagster home greets once with a "Join the Dagster community" modal, skipped here."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})  # the session's (tests/conftest.py)
    try:
        page = context.new_page()
        page.goto(f"{live_stack.ui}/overview")
        page.get_by_role("button", name="Skip").click(timeout=60_000)
        page.close()
        yield context
    finally:
        context.close()
