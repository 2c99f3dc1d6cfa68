"""The canonical build: incremental raw → canonical (schema ``pos``) per account, at the I/O edge
around the pure normalizers in ``transforms/``."""
