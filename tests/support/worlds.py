"""Sandbox worlds of the tests and their clock.

Tiny worlds start on :data:`START` (a Monday); the connector reads its clock from ``POS_NOW``,
so a test that moves the sandbox clock moves that too (:func:`set_clock`).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from pos_sandbox.world import World

START = date(2026, 3, 2)  # a Monday


def sandbox_world(seed: int, *providers: str, days: int = 3, start: date = START,
                  scale: str = "tiny") -> World:
    """A world of ``providers`` (every provider when none is named), ``days`` long from ``start``."""
    if not providers:
        return World(seed, start, days=days, scale=scale)
    return World(seed, start, days=days, scale=scale, providers=list(providers))


def mid_window(world: World) -> datetime:
    """The instant half-way through the world's window."""
    return world.window_start_utc + (world.window_end_utc - world.window_start_utc) / 2


def set_clock(world: World, monkeypatch: pytest.MonkeyPatch, when: datetime | None = None) -> None:
    """Move the sandbox clock to ``when`` (if given) and the connector's clock (``POS_NOW``) to it."""
    if when is not None:
        world.set_now(when)
    monkeypatch.setenv("POS_NOW", world.now.isoformat())
