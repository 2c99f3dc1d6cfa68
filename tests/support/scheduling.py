"""The order in which ``pytest -n N --dist loadfile`` (``make test``) hands test files to its workers:
the long files first, then pytest-xdist's own order (the files with the most tests first).

pytest-xdist's ``loadfile`` hands a file to a worker whenever that worker has at most two tests left,
taking files in the order of their number of tests. A file of few but long tests (the topology's three
tests, a stack of processes and a quarter of an hour of CPU) therefore came late, and whichever worker
drew it ran it alone while the other worker had run out of files. Giving the longest files out first
(longest-processing-time-first scheduling) lets the short files fill in behind them on both workers.

:data:`LONG_FILES` are the files a worker spends about twenty seconds or more on (each one's setup,
calls and teardown from ``--durations`` of the suite on two workers, rounded; a file left out simply
keeps xdist's place): only their order among themselves and before the rest matters, not the figures.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadFileScheduling

# path from the repository root -> seconds on one worker of `make test` (rounded, from the durations of a
# quiet run and of a loaded one scaled to it; an ordering, not a target)
LONG_FILES: dict[str, float] = {
    "tests/deploy/test_topology.py": 175,
    "tests/live/test_live_stack.py": 85,
    "tests/pos_dagster/test_privacy.py": 78,
    "tests/pos_dagster/test_toast_lightspeed_dagster.py": 75,
    "tests/pos_dagster/test_relink.py": 70,
    "tests/pos_dagster/test_dagster_sync_kill.py": 50,
    "tests/pos_dagster/test_dagster_demo_cli.py": 50,
    "tests/pos_dagster/test_dagster_square_sync.py": 45,
    "tests/pos_dagster/test_dagster_sync_failures.py": 45,
    "tests/pos_dagster/test_forecasting_dagster.py": 41,
    "tests/api/test_webhooks_end_to_end.py": 41,
    "tests/events/test_reread.py": 40,
}


class LongestFirstScheduling(LoadFileScheduling):
    """``loadfile`` scheduling that gives out the :data:`LONG_FILES` still queued, longest first, before
    any other file; the other files keep xdist's order."""

    def _assign_work_unit(self, node: Any) -> None:
        queued = [scope for scope in self.workqueue if scope in LONG_FILES]
        if queued:
            self.workqueue.move_to_end(max(queued, key=lambda scope: LONG_FILES[scope]), last=False)
        super()._assign_work_unit(node)
