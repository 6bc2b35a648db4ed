"""A customer's history computed the slow, obvious way: from every row of the three tables."""
from __future__ import annotations

from collections import Counter

from queries.schema_map import DEFAULT_SCHEMA
from datetime import datetime

import sqlalchemy as sa

from queries.customer_history import UPCOMING_CAP
from schema.tables import appointments, calls, customers


MISSED = DEFAULT_SCHEMA.statuses.missed  # the default map's missed bucket


class Truth:
    """The history of every customer, computed from all rows of the three tables."""

    def __init__(self, engine: sa.Engine, now: datetime):
        with engine.connect() as connection:
            self.customers = {row.id: row for row in connection.execute(
                sa.select(customers.c.id, customers.c.company_id, customers.c.name, customers.c.deleted_at))}
            self.calls = connection.execute(sa.select(calls.c.id, calls.c.company_id, calls.c.customer_id,
                                                      calls.c.status, calls.c.created_at, calls.c.deleted_at)).all()
            self.appointments = connection.execute(sa.select(
                appointments.c.id, appointments.c.company_id, appointments.c.customer_id, appointments.c.status,
                appointments.c.starts_at, appointments.c.deleted_at)).all()
        self.now = now

    def found(self, customer_id: int, scope) -> bool:
        row = self.customers.get(customer_id)
        return row is not None and row.deleted_at is None and (scope is None or row.company_id in scope)

    def _mine(self, rows, customer_id, scope):
        return [r for r in rows if r.customer_id == customer_id and r.deleted_at is None
                and (scope is None or r.company_id in scope)]

    def counts(self, customer_id: int, scope) -> dict:
        own_calls = self._mine(self.calls, customer_id, scope)
        booked = self._mine(self.appointments, customer_id, scope)
        statuses = Counter(a.status for a in booked)
        return {"calls": len(own_calls), "missed": sum(c.status in MISSED for c in own_calls),
                "booked": len(booked), "kept": statuses["completed"], "cancelled": statuses["cancelled"],
                "no_show": statuses["no_show"],
                "upcoming": sum(a.starts_at is not None and a.starts_at > self.now for a in booked)}

    def contacts(self, customer_id: int, scope):
        times = [c.created_at for c in self._mine(self.calls, customer_id, scope) if c.created_at is not None]
        return (min(times), max(times)) if times else (None, None)

    def upcoming(self, customer_id: int, scope) -> list[int]:
        rows = [a for a in self._mine(self.appointments, customer_id, scope)
                if a.starts_at is not None and a.starts_at > self.now]
        return [a.id for a in sorted(rows, key=lambda a: (a.starts_at, a.id))][:UPCOMING_CAP]

    def past(self, customer_id: int, scope) -> list[tuple[str, int]]:
        rows = [(c.created_at, "call", c.id) for c in self._mine(self.calls, customer_id, scope)
                if c.created_at is not None]
        rows += [(a.starts_at, "appointment", a.id) for a in self._mine(self.appointments, customer_id, scope)
                 if a.starts_at is not None and a.starts_at <= self.now]
        return [(kind, row_id) for _, kind, row_id in sorted(rows, reverse=True)]

    def busiest(self, count: int = 4) -> list[int]:
        """Customers with the most rows: the ones whose histories have several pages."""
        rows = Counter(r.customer_id for r in [*self.calls, *self.appointments] if r.customer_id in self.customers)
        return [customer for customer, _ in rows.most_common(count)]
