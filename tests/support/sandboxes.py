"""What an environment factory starts for a test and stops at its end: sandbox servers on
loopback, ephemeral Dagster instances, the app store's engines, a ``DAGSTER_HOME``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pos_sandbox.server import SandboxServer
from pos_sandbox.world import World


@dataclass
class Sandboxes:
    """Servers and Dagster instances started for one test (see :func:`sandboxes`)."""

    servers: list[SandboxServer] = field(default_factory=list)
    instances: list[Any] = field(default_factory=list)  # dagster.DagsterInstance

    def serve(self, world: World, faults: Any = None, **options: Any) -> SandboxServer:
        """A started sandbox server for ``world`` (``options`` go to the emulators)."""
        server = SandboxServer(world, faults=faults, **options).start()
        self.servers.append(server)
        return server

    def dagster_instance(self) -> Any:
        """A fresh ephemeral ``dagster.DagsterInstance``."""
        import dagster as dg

        instance = dg.DagsterInstance.ephemeral()
        self.instances.append(instance)
        return instance

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for instance in self.instances:
            instance.dispose()


@contextmanager
def sandboxes(*, app_store: bool = False) -> Iterator[Sandboxes]:
    """:class:`Sandboxes` stopped on exit; with ``app_store`` the app store's engines are disposed
    after them (the next test may point the app store elsewhere)."""
    started = Sandboxes()
    try:
        yield started
    finally:
        started.stop()
        if app_store:
            from pos_sync.appstore import dispose_engines

            dispose_engines()


def dagster_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh ``DAGSTER_HOME`` in ``tmp_path`` for the test."""
    home = tmp_path / "dagster-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
