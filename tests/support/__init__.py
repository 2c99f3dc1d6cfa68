"""Helpers shared by the test packages (imported as ``support``: ``tests/`` is on ``sys.path``
through its ``conftest.py``)."""
