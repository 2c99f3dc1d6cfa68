"""Dagster-side helpers shared by assets, sensors, schedules and the CLI."""
