"""Add the index a customer's appointments are read by (the customer history, issue 14).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`appointments.idx_customer_appointments (customer_id, starts_at)`, built online on
MySQL/MariaDB (schema/online_indexes.py): the history reads one customer's
appointments, as `idx_customer_calls` serves their calls; the demo's tables have
no index there at all. Where the platform has an index that starts with
`customer_id` already (Laravel's foreign key index, `appointments_customer_id_foreign`)
none is added: that one bounds the read as well (one customer's rows, then sorted),
and adding ours would make InnoDB drop it silently (see `add_indexes`).
"""
from __future__ import annotations

from schema.online_indexes import add_indexes, drop_indexes, specs
from schema.tables import CUSTOMER_HISTORY_INDEXES

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

INDEXES = specs(CUSTOMER_HISTORY_INDEXES)


def upgrade() -> None:
    add_indexes(INDEXES, unless_led_alike=True)


def downgrade() -> None:
    drop_indexes(INDEXES)
