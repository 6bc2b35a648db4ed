"""Switchboard's indexes as the tests expect them, and every index of a database read as its server shows it."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SWITCHBOARD_INDEXES = {
    ("calls", "idx_ongoing_calls"): ["status", "call_status", "created_at"],
    ("calls", "idx_calls_created_date"): ["created_at"],
    ("calls", "idx_customer_calls"): ["customer_id", "created_at"],
    ("calls", "idx_called_at"): ["called_at"],
    ("appointments", "idx_appointments_starts_date"): ["starts_at"],
    ("appointments", "idx_appointments_status_date"): ["status", "starts_at"],
    ("appointments", "idx_customer_appointments"): ["customer_id", "starts_at"],
    ("calls", "idx_calls_window"): ["created_at", "id", "company_id", "status", "call_status", "direction",
                                    "duration_sec", "customer_id", "deleted_at", "customer_name", "from_number",
                                    "to_number"],
    ("appointments", "idx_appointments_window"): ["starts_at", "id", "company_id", "status", "customer_id",
                                                  "service_id", "created_at", "deleted_at"],
}


def switchboard_indexes(engine: Engine) -> dict[tuple[str, str], list[str]]:
    """Return the indexes on calls and appointments that have one of Switchboard's names."""
    inspector = sa.inspect(engine)
    found = {}
    for table in ("calls", "appointments"):
        if not inspector.has_table(table):
            continue
        for index in inspector.get_indexes(table):
            if (table, index["name"]) in SWITCHBOARD_INDEXES:
                found[(table, index["name"])] = index["column_names"]
    return found


def index_snapshot(engine: Engine) -> list[tuple]:
    """Return every index of every table as the server lists it: `SHOW INDEX` on MariaDB (all but the
    cardinality, a statistic the server re-estimates), `PRAGMA index_list`/`index_info` on SQLite."""
    snapshot = []
    with engine.connect() as connection:
        tables = sorted(sa.inspect(connection).get_table_names())
        for table in tables:
            if engine.dialect.name == "sqlite":
                for _, name, unique, origin, partial in connection.exec_driver_sql(
                        f"PRAGMA index_list('{table}')").all():
                    columns = [row[2] for row in connection.exec_driver_sql(f"PRAGMA index_info('{name}')").all()]
                    snapshot.append((table, name, unique, origin, partial, tuple(columns)))
                continue
            result = connection.exec_driver_sql(f"SHOW INDEX FROM `{table}`")
            for row in result.mappings().all():
                snapshot.append(tuple((key, value) for key, value in row.items() if key != "Cardinality"))
    return sorted(snapshot, key=repr)
