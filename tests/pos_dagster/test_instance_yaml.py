"""The embedded instance's ``dagster.yaml`` on an existing install: a file an earlier release wrote is
brought up to date (the upgrade gets the new instance settings), a file its user edited is kept, a
missing one is written; ``pos-sync``'s instance then loads the shipped settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_dagster.lib.instance_yaml import (
    EARLIER_RELEASES,
    default_instance_yaml,
    digest,
    ensure_instance_yaml,
)

EARLIER = sorted((Path(__file__).parent / "data" / "instance_yaml_earlier").glob("*.yaml"))


def test_every_earlier_release_is_known_and_the_current_one_is_not_earlier() -> None:
    assert len(EARLIER) == len(EARLIER_RELEASES) == 4
    assert {digest(f.read_text()) for f in EARLIER} == EARLIER_RELEASES
    assert digest(default_instance_yaml()) not in EARLIER_RELEASES


@pytest.mark.parametrize("earlier", EARLIER, ids=[f.stem for f in EARLIER])
def test_an_earlier_releases_file_is_brought_up_to_date(tmp_path: Path, earlier: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(earlier.read_text())
    assert ensure_instance_yaml(tmp_path) == "upgraded"
    assert (tmp_path / "dagster.yaml").read_text() == default_instance_yaml()
    assert ensure_instance_yaml(tmp_path) == "current"


def test_a_users_own_file_is_kept_and_a_missing_one_written(tmp_path: Path) -> None:
    own = EARLIER[0].read_text() + "\n# my own change\n"
    (tmp_path / "dagster.yaml").write_text(own)
    assert ensure_instance_yaml(tmp_path) == "kept"
    assert (tmp_path / "dagster.yaml").read_text() == own
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert ensure_instance_yaml(fresh) == "written"
    assert (fresh / "dagster.yaml").read_text() == default_instance_yaml()


def test_the_cli_instance_of_an_upgraded_install_has_the_shipped_settings(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pos_dagster.lib.instance import get_instance
    from pos_sync.settings import load_settings

    monkeypatch.setenv("POS_HOME", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    settings = load_settings()
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((Path(__file__).parent / "data" / "instance_yaml_earlier" / "04cfc4d.yaml").read_text())
    instance = get_instance(settings)
    try:
        assert type(instance.run_coordinator).__name__ == "PosRunCoordinator"
        assert type(instance.run_launcher).__name__ == "WarmRunLauncher"
    finally:
        instance.dispose()
