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
from pathlib import Path
from typing import Any

import pytest
from live_support import REPO, STARTUP_SECONDS, LiveStack, free_ports


@pytest.fixture(scope="session")
def _dev_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path, Path]]:
    """``pos-sync dev`` started, not waited for (chromium launches meanwhile: ``browser``)."""
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
        yield proc, home, out, err
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def live_stack(_dev_started: tuple[subprocess.Popen[bytes], Path, Path, Path]) -> LiveStack:
    proc, home, out, err = _dev_started
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        text = out.read_text()
        if text.strip().endswith("}"):
            try:
                return LiveStack(proc, json.loads(text), home, err)
            except ValueError:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"pos-sync dev did not come up (exit {proc.poll()}): {err.read_text()[-2000:]}",
                        pytrace=False)
        time.sleep(0.25)


@pytest.fixture(scope="module")
def browser(_dev_started: Any, chromium: Any, live_stack: LiveStack) -> Iterator[Any]:
    """One chromium context for the session (launched while the stack boots). A fresh Dagster home
    greets once with a "Join the Dagster community" modal over every page; the UI remembers its
    dismissal in local storage (``communityNux``, as its Skip button writes it): set before any page."""
    context = chromium.new_context(viewport={"width": 1400, "height": 900})  # the session's (tests/conftest.py)
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    try:
        yield context
    finally:
        context.close()
