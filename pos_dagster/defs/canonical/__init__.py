"""Per-provider slices of the canonical tables and their integrity checks."""
