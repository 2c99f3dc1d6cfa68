"""Forecasting downstream of the canonical tables: the demand history per provider and account,
the sensor that batches its changes, and the reference forecast."""
