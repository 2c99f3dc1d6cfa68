"""The embedded instance's ``dagster.yaml`` in a ``DAGSTER_HOME``: written on first use, and
brought up to date on an existing install when it is one of the files an earlier release wrote
(unchanged by its user), so an upgrade gets the new instance settings (the warm run launcher, the
pooled event log, the one-second sensor loop, …). A file its user edited is left as it is, with
one line saying what ships now. No Dagster import: ``pos-sync dev`` calls it before starting
``dagster dev``."""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

# sha256 of every instance_default.yaml an earlier release shipped (git log -- pos_dagster/instance_default.yaml)
EARLIER_RELEASES = frozenset({
    "94fcad6bb4925a65ef4bef536073ab7ae9603ab59c240a0b1b1f2d7859670b40",  # 758e2df: + pooled event log
    "1c6bf5e54d09d37a28f7a0c7f0a785c57a5213d5a970257a5c3d23283ab81679",  # 2282ce0: + warm run launcher
    "6c3956f10ca74dc9e624f52b38b05c68c796c6ff0b5d403227c9f00fb6a2b4a5",  # 6818981
    "64fccae4c5f11bf75b6ce13c7c3d85dd7a9834909ca760a0c76c9d8d5091252f",  # 04cfc4d: the first
})


def default_instance_yaml() -> str:
    return resources.files("pos_dagster").joinpath("instance_default.yaml").read_text()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ensure_instance_yaml(dagster_home: Path) -> str:
    """Make ``dagster_home/dagster.yaml`` the shipped one unless its user wrote their own; what was
    done: ``written``, ``upgraded``, ``current`` or ``kept`` (a file of the user's)."""
    config = Path(dagster_home) / "dagster.yaml"
    shipped = default_instance_yaml()
    if not config.exists():
        config.write_text(shipped)
        return "written"
    present = config.read_text()
    if present == shipped:
        return "current"
    if digest(present) in EARLIER_RELEASES:
        config.write_text(shipped)
        log.info("%s: the instance settings of an earlier release, brought up to date", config)
        return "upgraded"
    log.info("%s is your own: left as it is (what ships now: pos_dagster/instance_default.yaml)", config)
    return "kept"
