"""Sub-commands of the ``pos-sync`` CLI. Each module exposes ``register(subparsers)``."""
