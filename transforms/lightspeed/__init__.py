"""Lightspeed: the pure normaliser (:mod:`.normalize`, raw rows → canonical rows) and the account's
canonical build over it (:mod:`.build`)."""

from transforms.lightspeed.build import build
from transforms.lightspeed.normalize import *  # noqa: F403  (the normaliser's functions, as ``transforms.lightspeed.<name>``)

__all__ = ["build"]  # what `import *` takes; the normaliser's names are attributes too
