"""Square: the pure normaliser (:mod:`.normalize`, raw rows → canonical rows) and the account's
canonical build over it (:mod:`.build`)."""

from transforms.square.build import build
from transforms.square.normalize import *  # noqa: F403  (the normaliser's functions, as ``transforms.square.<name>``)

__all__ = ["build"]  # what `import *` takes; the normaliser's names are attributes too
