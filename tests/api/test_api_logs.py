"""The API's structured logs follow ``sys.stderr`` as it is at each line."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def fresh_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_a_line_goes_to_the_current_stderr_after_the_one_at_configure_time_was_closed(
        monkeypatch: pytest.MonkeyPatch, fresh_structlog: None) -> None:
    """A stream replaced and closed after ``configure`` (a test harness's capture, a redirect) must not
    make later log lines raise — that made webhook refusals answer 500 once another test had
    configured the logs in the same process."""
    from pos_sync.api import logs

    at_configure = io.StringIO()
    monkeypatch.setattr(sys, "stderr", at_configure)
    logs.configure()
    structlog.get_logger("pos_sync.test").info("first", n=1)
    at_configure.close()
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)
    structlog.get_logger("pos_sync.test").info("second", n=2)
    line = json.loads(now.getvalue().strip())
    assert (line["event"], line["n"], line["level"]) == ("second", 2, "info")
