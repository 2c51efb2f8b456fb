"""Budget signals: what an agent is expected to spend per day."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone


def days_in_month(now: float) -> int:
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    return calendar.monthrange(moment.year, moment.month)[1]


def expected_daily_spend(monthly_budget_usd: float, days_in_month: int) -> float:
    """The monthly budget spread evenly over the days of the current UTC month (``days_in_month(now)``)."""
    if monthly_budget_usd <= 0:
        return 0.0
    return monthly_budget_usd / days_in_month
