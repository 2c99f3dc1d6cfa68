"""Fixtures of the dlt source tests (defined in ``square_support``)."""

from square_support import http_log, make_env

__all__ = ["http_log", "make_env"]
