"""The ``retry_after`` option of a fault plan: the ``Retry-After`` of injected 429s (1 s by default,
shorter for fast tests of clients under a storm), as delta-seconds and as Lightspeed's HTTP date."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import pytest
from lightspeed_emulator_support import make_world
from lightspeed_emulator_support import served as ls_served
from square_emulator_support import served

from pos_sandbox.faults import Fault, FaultPlan


def test_retry_after_option_parses_and_reaches_the_fault() -> None:
    assert FaultPlan.parse("storm").retry_after == 1.0
    plan = FaultPlan.parse("storm,retry_after=0.2,seed=4")
    assert plan.retry_after == 0.2 and plan.seed == 4 and plan.probabilities["429"] == 0.35
    assert Fault.of("429").retry_after_header == "1"
    assert Fault.of("429", retry_after=0.2).retry_after_header == "0.2"
    assert Fault.of("429-noretry", retry_after=0.2).retry_after_header is None
    with pytest.raises(ValueError):
        FaultPlan.parse("storm,retry_after=-1")


def test_injected_429_carries_the_configured_retry_after() -> None:
    with served(faults=FaultPlan(schedule={1: "429", 2: "429"}, retry_after=0.25)) as sq:
        assert sq.get("/v2/locations").headers["retry-after"] == "0.25"
    with served(faults=FaultPlan(schedule={1: "429"})) as sq:
        assert sq.get("/v2/locations").headers["retry-after"] == "1"


def test_lightspeed_date_is_at_most_retry_after_plus_a_second_ahead() -> None:
    with ls_served(make_world(days=1), faults=FaultPlan(schedule={1: "429"}, retry_after=3)) as ls:
        before = datetime.now(UTC)
        header = ls.get("/api/2.0/outlets").headers["retry-after"]
    ahead = (email.utils.parsedate_to_datetime(header) - before).total_seconds()
    assert 2.0 <= ahead <= 4.5  # whole seconds, rounded up
