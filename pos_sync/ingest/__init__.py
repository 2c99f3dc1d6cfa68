"""Building provider sources for an account and keeping its sync log honest.

Dagster-independent: the assets, the CLI and the tests call the same functions.
"""
