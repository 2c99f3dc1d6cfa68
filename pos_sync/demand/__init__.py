"""The demand feed forecasting reads (``pos.demand_history``, ``pos.demand_calendar``) and the
reference forecast (``pos.demand_forecast``), built from the canonical tables."""
