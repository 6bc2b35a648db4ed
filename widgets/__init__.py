"""The dashboard's widgets: `registered()` is the one ordered list (page order), each declared by its module."""
from __future__ import annotations

from widgets.registry import Widget


def registered() -> tuple[Widget, ...]:
    """Return every widget, in the order of the page."""
    # Imported on call: the widget modules load Dash and the queries, which nothing needs at import time.
    from widgets import (activity, alerts, call_details, company_kpis, customer_history, headline_stats, memory,
                         ongoing_calls, self_cost, wallboard)

    return (headline_stats.WIDGET, company_kpis.WIDGET, ongoing_calls.WIDGET, activity.WIDGET, call_details.WIDGET,
            customer_history.WIDGET, alerts.WIDGET, memory.WIDGET, self_cost.WIDGET, wallboard.WIDGET)
