"""Lightspeed R-Series: the pure normaliser (:mod:`.normalize`, raw rows → canonical rows) and the
account's canonical build over it (:mod:`.build`)."""

from transforms.lightspeed_r.build import build
from transforms.lightspeed_r.normalize import *  # noqa: F403  (the normaliser's functions, as ``transforms.lightspeed_r.<name>``)

__all__ = ["build"]
