"""A database slower than a widget's poll: every answer takes longer than the interval between polls.

Dash applies only the answer to a callback's newest request, so a widget that polled again before its previous
answer came back would drop every answer and show "Loading…" for ever. A widget polls again only once its
previous poll is answered (assets/switchboard.js), so its rows come, late, and keep coming.
"""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.support.browser import WAIT_MS, serve_in_thread, wait_for_rows
from widgets.services import EXTENSION_KEY

# Longer than the feed's and the ongoing calls' one-second polls.
STATEMENT_SECONDS = 1.6


@pytest.fixture
def slow_site(make_dashboard, seeded_sqlite):
    app = make_dashboard(seeded_sqlite.url, ONGOING_CALLS_POLL_SECONDS=1, ACTIVITY_POLL_SECONDS=1)
    services = app.server.extensions[EXTENSION_KEY]
    statements = []

    @sa.event.listens_for(services.reader, "before_cursor_execute")
    def slow(conn, cursor, statement, parameters, context, executemany):
        statements.append(time.monotonic())
        time.sleep(STATEMENT_SECONDS)

    with serve_in_thread(app.server) as server:
        yield server.url, statements
    sa.event.remove(services.reader, "before_cursor_execute", slow)


def test_widgets_whose_answers_take_longer_than_their_poll_still_fill_and_keep_polling(page, slow_site):
    url, statements = slow_site
    page.goto(url)
    wait_for_rows(page, "ongoing-grid")
    wait_for_rows(page, "activity-grid")
    # And they go on: each widget's freshness line says it was updated recently, again and again.
    for status in ("ongoing-status", "activity-status-line"):
        page.wait_for_function(f"document.querySelector('#{status}').textContent.startsWith('updated')",
                               timeout=WAIT_MS)
    asked = len(statements)
    page.wait_for_function("document.querySelector('#activity-status-line').textContent.startsWith('updated')",
                           timeout=WAIT_MS)
    time.sleep(2 * STATEMENT_SECONDS)
    assert len(statements) > asked  # still polling
    assert page.console_errors == []


@pytest.fixture
def hanging_site(make_dashboard, seeded_sqlite):
    """The ongoing calls' first request is held by the network for 40 s, as on a connection dropped without a word."""
    import threading

    from flask import request

    app = make_dashboard(seeded_sqlite.url, ONGOING_CALLS_POLL_SECONDS=1, STATEMENT_TIMEOUT_MS=500, QUERY_WAIT_MS=500)
    held, release = [], threading.Event()

    @app.server.before_request
    def hold_the_first_ongoing_request():
        if request.path == "/_dash-update-component" and b"ongoing-grid" in request.get_data() and not held:
            held.append(time.monotonic())
            release.wait(40)

    with serve_in_thread(app.server) as server:
        yield server.url, held
        release.set()


def test_a_poll_whose_request_hangs_is_given_up_and_the_widget_fills_from_the_next(page, hanging_site):
    """The page gives a poll's request up once it outlives the server's slowest answer (here 0.5 s + 0.5 s + 5 s:
    widgets.shell.answer_timeout_seconds), and the widget's next poll is sent: Dash sends none while one is
    unanswered, and the widget stood still for ever."""
    url, held = hanging_site
    page.goto(url)
    wait_for_rows(page, "ongoing-grid")
    assert held and time.monotonic() - held[0] < 30
