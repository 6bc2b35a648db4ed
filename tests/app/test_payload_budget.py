"""Payload opens within a budget: a prepared payload is cached per call, column and role, and each preparation
counts against the user's PAYLOAD_RATE_LIMIT.

The attack: each press reads 64 KB and, for support, runs the phone matcher over it: without a budget, one
support user opening a 216 KB payload from 8 threads for 20 s takes the admin's ongoing-calls p95 from 23 to
364 ms. Here the same payload opened again and again is read and prepared once per interval, a user who opens
more distinct ones than the budget is told to wait, and what support is sent is never what an admin is sent.
"""
from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from schema.tables import calls
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from tests.support.users import PASSWORD, SUPPORT_COMPANY

PAYLOAD = "call-payload.data"
BUTTONS = {f"call-{column}-button.n_clicks": None for column in ("raw", "transcript", "analysis")}
READS_RAW = re.compile(r"\braw\b")


@pytest.fixture
def app(secured, seeded_sqlite):
    return secured(seeded_sqlite.url, PAYLOAD_RATE_LIMIT="3 per minute", CALLBACK_RATE_LIMIT="none")


@pytest.fixture
def own_calls(seeded_sqlite) -> list[int]:
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        found = connection.execute(sa.select(calls.c.id).where(calls.c.company_id == SUPPORT_COMPANY,
                                                                calls.c.raw.is_not(None)).limit(5)).scalars().all()
    engine.dispose()
    return list(found)


def open_raw(client: DashClient, call_id: int) -> dict:
    button = "call-raw-button.n_clicks"
    return client.call(PAYLOAD, {**BUTTONS, button: 1}, {"call-open.data": call_id}, changed=[button])


def reads_of(app) -> list[str]:
    seen: list[str] = []
    sa.event.listen(app.server.extensions[EXTENSION_KEY].reader, "before_cursor_execute",
                    lambda _c, _cur, statement, *_rest: seen.append(statement) if READS_RAW.search(statement) else None)
    return seen


def test_the_same_payload_opened_from_eight_threads_is_read_and_prepared_once(app, own_calls):
    support = DashClient(app.server, login=("sam", PASSWORD))
    reads = reads_of(app)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: open_raw(support, own_calls[0]), range(40)))
    assert len(reads) == 1
    assert all(answer[PAYLOAD]["sections"] == answers[0][PAYLOAD]["sections"] for answer in answers)


def test_more_distinct_payloads_than_the_budget_are_refused_with_a_wait(app, own_calls):
    support = DashClient(app.server, login=("sam", PASSWORD))
    opened = [open_raw(support, call_id) for call_id in own_calls[:3]]
    assert all(answer[PAYLOAD]["sections"] for answer in opened)
    refused = open_raw(support, own_calls[3])
    assert PAYLOAD not in refused  # what the panel shows stays
    assert re.fullmatch(r"Too many payloads opened: at most 3 a minute\. Try again in \d+ s\.",
                        refused["call-payload-note.children"])
    assert open_raw(support, own_calls[0])[PAYLOAD]["sections"]  # one already prepared is still served
    admin = DashClient(app.server, login=("ada", PASSWORD))
    assert open_raw(admin, own_calls[3])[PAYLOAD]["sections"]  # the budget is each user's own


def test_support_and_admin_are_each_sent_their_own_preparation(app, own_calls, seeded_sqlite):
    engine = sa.create_engine(seeded_sqlite.url)
    with engine.connect() as connection:
        number = connection.execute(sa.select(calls.c.from_number).where(calls.c.id == own_calls[0])).scalar_one()
    engine.dispose()
    support = json.dumps(open_raw(DashClient(app.server, login=("sam", PASSWORD)), own_calls[0]))
    admin = json.dumps(open_raw(DashClient(app.server, login=("ada", PASSWORD)), own_calls[0]))
    digits = re.sub(r"\D", "", number)
    assert digits[2:9] not in re.sub(r"[^\d•]", "", support)
    assert support != admin
