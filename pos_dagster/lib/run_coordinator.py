"""The product's run coordinator: Dagster's ``QueuedRunCoordinator`` (the run queue, its tag
concurrency limits, ``dequeue_interval_seconds``) plus the pace of the daemon's sensor loop.

Dagster's sensor daemon looks at the sensors at most every 5 s (``MIN_INTERVAL_LOOP_TIME`` in
``dagster._daemon.sensor``), whatever a sensor's ``minimum_interval_seconds`` says: a webhook stored
in the inbox waited up to 5 s (p95 6.5 s in ``bench/webhook_latency.py``) before the inbox sensor
saw it. Dagster has no setting for that loop, and the run coordinator is the one piece of the
instance every daemon process builds before its daemons start (``dagster-daemon run`` and the
daemon ``dagster dev`` starts both read ``dequeue_interval_seconds`` from it), so its
``sensor_loop_seconds`` (default 1) sets the loop's floor there. A sensor still ticks no more often
than its own ``minimum_interval_seconds``; a loop that finds nothing due costs a few reads of the
instance's schedule storage.

The floor is a module constant of a private Dagster module: when an upgrade moves it, the daemon
logs one warning and keeps Dagster's own pace (nothing else changes).
tests/pos_dagster/test_run_coordinator.py checks it against the installed Dagster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dagster import Field
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import ConfigurableClassData

DEFAULT_SENSOR_LOOP_SECONDS = 1.0
MIN_SENSOR_LOOP_SECONDS = 0.2

log = logging.getLogger(__name__)


def set_sensor_loop_seconds(seconds: float) -> float | None:
    """Set the sensor daemon's loop floor in this process; the value set, or ``None`` when this
    Dagster release keeps it elsewhere (one warning)."""
    from dagster._daemon import sensor

    if not isinstance(getattr(sensor, "MIN_INTERVAL_LOOP_TIME", None), int | float):
        log.warning("this Dagster release has no dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME: the sensor "
                    "loop keeps Dagster's own pace (sensor_loop_seconds ignored)")
        return None
    sensor.MIN_INTERVAL_LOOP_TIME = max(MIN_SENSOR_LOOP_SECONDS, float(seconds))
    return sensor.MIN_INTERVAL_LOOP_TIME


class PosRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` with ``sensor_loop_seconds`` (see the module's docstring)."""

    sensor_loop_seconds: float | None = None

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **QueuedRunCoordinator.config_type(),
            "sensor_loop_seconds": Field(
                float, is_required=False, default_value=DEFAULT_SENSOR_LOOP_SECONDS,
                description="How often (at most) the daemon's sensor loop looks at the sensors "
                            f"(Dagster's own: 5 s; at least {MIN_SENSOR_LOOP_SECONDS} s).",
            ),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
                          ) -> PosRunCoordinator:
        coordinator = super().from_config_value(inst_data, config_value)
        coordinator.sensor_loop_seconds = set_sensor_loop_seconds(
            config_value.get("sensor_loop_seconds", DEFAULT_SENSOR_LOOP_SECONDS))
        return coordinator
