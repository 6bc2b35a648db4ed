"""The per-refresh cost records: statements, rows, bytes, milliseconds."""
from __future__ import annotations

import sqlalchemy as sa

from monitoring.instrumentation import CostLog, approximate_result_bytes, measure_refresh
from queries.runner import run
from schema.tables import calls, customers


def test_a_measured_refresh_counts_each_statement_and_what_came_back(reader):
    log = CostLog()
    with measure_refresh("two statements", log) as cost:
        first = run(reader, sa.select(customers.c.id, customers.c.name).order_by(customers.c.id).limit(7))
        second = run(reader, sa.select(calls.c.id).limit(3))
    assert cost.statement_count == 2 and cost.rows == 10
    expected_bytes = approximate_result_bytes(list(first.itertuples(index=False))) + \
        approximate_result_bytes(list(second.itertuples(index=False)))
    assert cost.bytes_received == expected_bytes
    assert cost.db_ms > 0 and not cost.failed
    assert log.latest("two statements") is cost and log.widgets() == ["two statements"]


def test_statements_outside_a_refresh_are_not_counted(reader):
    run(reader, sa.select(calls.c.id).limit(1))
    with measure_refresh("empty") as cost:
        pass
    assert cost.statement_count == 0 and cost.rows == 0


def test_a_failed_refresh_is_recorded_as_failed(reader):
    log = CostLog()
    try:
        with measure_refresh("broken", log):
            run(reader, sa.text("SELECT no_such_column FROM calls"))
    except sa.exc.DBAPIError:
        pass
    assert log.latest("broken").failed and log.latest("broken").statement_count == 1


def test_the_log_keeps_a_bounded_history_per_widget():
    log = CostLog(per_widget=5)
    for _ in range(12):
        with measure_refresh("w", log):
            pass
    assert len(log.history("w")) == 5


def test_wire_bytes_are_text_lengths_plus_headers():
    assert approximate_result_bytes([(1, "abc", None)]) == 4 + 2 + 4 + 1
