"""Toast: the pure normaliser (:mod:`.normalize`, raw rows → canonical rows) and the account's
canonical build over it (:mod:`.build`)."""

from transforms.toast.build import build
from transforms.toast.normalize import *  # noqa: F403  (the normaliser's functions, as ``transforms.toast.<name>``)

__all__ = ["build"]  # what `import *` takes; the normaliser's names are attributes too
