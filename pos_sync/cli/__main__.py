"""``python -m pos_sync.cli`` = ``pos-sync``."""

import sys

from pos_sync.cli import main

sys.exit(main())
