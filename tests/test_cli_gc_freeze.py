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
