"""Debian's chromium driven by Playwright's sync API, for the browser tests.

Playwright's sync API runs its own event loop in the thread that starts it, and a second
``sync_playwright()`` in the same thread while the first is alive fails ("Sync API inside the
asyncio loop"), and while it is alive its loop is the thread's running loop (``asyncio.run()``
elsewhere in that thread fails). So one Playwright and one chromium serve one browser test module
and stop with it: the module-scoped ``chromium`` fixture of ``tests/conftest.py``; the module's
tests open their own contexts from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """A headless chromium (``playwright.sync_api.Browser``); a missing binary fails the test."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
