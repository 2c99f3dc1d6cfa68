"""``pos-sync`` run as a process freezes what it imported and what is left when the command is done
(``gc.freeze``: the collector stops walking those objects, and the interpreter's exit skips its last
full collection of them); ``main(argv)`` called in-process (tests, scripts) freezes nothing."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pos_sync.cli import main


@pytest.fixture()
def unfrozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POS_HOME", str(tmp_path))
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_process_command_freezes_its_objects(unfrozen: None, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["pos-sync", "accounts", "list", "--json"])
    assert gc.get_freeze_count() == 0
    assert main() == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert gc.get_freeze_count() > 0


def test_an_in_process_call_freezes_nothing(unfrozen: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accounts", "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert gc.get_freeze_count() == 0


def test_the_process_command_preloads_with_the_collector_paused_and_resumes_it(
        unfrozen: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A command's ``preload`` modules are imported before it runs, with the collector off, and the
    collector is on again afterwards — also when the command fails."""
    import pos_sync.cli as cli

    seen: dict[str, object] = {}
    real_preload = cli.preload

    def preload(modules: object) -> None:
        seen["collector_on_while_preloading"] = gc.isenabled()
        seen["modules"] = tuple(modules)  # type: ignore[arg-type]
        real_preload(modules)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "preload", preload)
    monkeypatch.setattr(sys, "argv", ["pos-sync", "sync", "--account", "no-such-account"])
    assert main() == 1
    assert "no account no-such-account" in capsys.readouterr().err
    assert seen["collector_on_while_preloading"] is False
    assert "pos_dagster.adapter" in seen["modules"]  # type: ignore[operator]
    assert "pos_dagster.adapter" in sys.modules
    assert gc.isenabled()


def test_a_missing_preload_module_is_left_to_the_command(unfrozen: None) -> None:
    from pos_sync.cli import preload

    gc.disable()
    preload(["pos_sync.no_such_module", "json"])
    assert gc.isenabled() and gc.get_freeze_count() > 0
