"""A page's polls of one tick in one request (serving/batch.py): each part answered exactly as it would be alone,
refused alone, and never more than the viewer may ask."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.pages import BATCH_PATH
from serving.batch import MAX_PARTS
from tests.support.dash_client import DashClient
from tests.support.users import ACTIVITY_STATE, PASSWORD

ONGOING = ("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
STATS = ("stats-cards.children", {"stats-interval.n_intervals": 1, "refresh-signal.data": 0})


def _batch(client: DashClient, parts: list, prefix: str = "", **options):
    return client.client.post(f"{prefix}{BATCH_PATH}", data=json.dumps({"parts": parts}),
                              content_type="application/json", **options)


def _answers(response) -> list[dict]:
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["answers"]


def test_each_part_is_answered_as_the_same_request_alone(app_on_sqlite):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    parts = [admin.payload(*ONGOING), admin.payload(*STATS)]
    alone = [admin.post(part) for part in parts]
    answers = _answers(_batch(admin, parts))
    assert [answer["status"] for answer in answers] == [200, 200]
    assert [answer["type"] for answer in answers] == ["application/json"] * 2
    # The same answers, part by part (the clock stands still: both reads come from the same cache slot).
    assert [json.loads(answer["body"]) for answer in answers] == [json.loads(response.data) for response in alone]
    assert json.loads(answers[0]["body"])["response"]["ongoing-grid"]["rowData"]


def test_a_part_the_viewer_may_not_call_is_refused_alone_and_the_others_answered(app_on_sqlite):
    support = DashClient(app_on_sqlite.server, login=("sam", PASSWORD))
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    stats = admin.payload(*STATS)  # the headline is admin's and ops', not support's
    answers = _answers(_batch(support, [support.payload(*ONGOING), stats, {"output": "no-such.thing"}]))
    assert [answer["status"] for answer in answers] == [200, 403, 400]
    rows = json.loads(answers[0]["body"])["response"]["ongoing-grid"]["rowData"]
    everyone = json.loads(admin.post(admin.payload(*ONGOING)).data)["response"]["ongoing-grid"]["rowData"]
    assert rows and len({row["co"] for row in rows}) == 1 < len({row["co"] for row in everyone})
    assert "error" in json.loads(answers[1]["body"])


def test_without_a_session_the_batch_is_refused_and_nothing_is_run(app_on_sqlite):
    signed_out = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    parts = [signed_out.payload(*ONGOING)]
    signed_out.client.delete_cookie("switchboard_session")
    response = _batch(signed_out, parts)
    assert response.status_code == 401 and response.get_json() == {"error": "login required"}


@pytest.mark.parametrize("body, content_type", [
    ("[]", "application/json"),
    ('{"parts": []}', "application/json"),
    ('{"parts": "x"}', "application/json"),
    ('{"parts": [1, 2]}', "application/json"),
    (json.dumps({"parts": [{}] * (MAX_PARTS + 1)}), "application/json"),
    ("{not json", "application/json"),
    ('{"parts": [{"output": "ongoing-grid.rowData"}]}', "text/plain"),
    # Past the parser's recursion: Python's parser raises RecursionError, not the ValueError of bad JSON.
    pytest.param('{"parts": ' + "[" * 100_000 + "]" * 100_000 + "}", "application/json", id="deep-parts"),
    pytest.param('{"parts": [' + "[" * 100_000 + "]" * 100_000 + "]}", "application/json", id="deep-part"),
])
def test_what_is_not_a_batch_gets_a_clear_400_and_runs_nothing(app_on_sqlite, body, content_type):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    response = admin.client.post(BATCH_PATH, data=body, content_type=content_type)
    assert response.status_code == 400
    assert "batch" in response.get_json()["error"]


def test_a_part_cannot_choose_its_path_or_method(app_on_sqlite):
    """Keys that look like a request's own (path, method, headers) are just part of the callback body: the
    guard refuses what is not a callback request."""
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    forged = {"path": "/metrics", "method": "GET", "headers": {"Authorization": "Bearer x"}}
    answers = _answers(_batch(admin, [forged]))
    assert answers[0]["status"] == 400 and "metrics" not in answers[0]["body"]


def test_the_wallboards_parts_are_the_walls_requests(app_on_sqlite):
    wall = DashClient(app_on_sqlite.server, login=("wally", PASSWORD)).from_page("/wall")
    part = wall.payload("wall-grid.rowData", {"wall-interval.n_intervals": 1})
    answers = _answers(_batch(wall, [part], prefix="/wall"))
    assert answers[0]["status"] == 200
    assert json.loads(answers[0]["body"])["response"]["wall-grid"]["rowData"]


def test_every_part_counts_against_the_viewers_callback_rate(secured, seeded_sqlite):
    app = secured(seeded_sqlite.url, CALLBACK_RATE_LIMIT="5 per minute")
    admin = DashClient(app.server, login=("ada", PASSWORD))
    answers = _answers(_batch(admin, [admin.payload(*ONGOING)] * 8))
    statuses = [answer["status"] for answer in answers]
    assert sorted(statuses) == [200] * 5 + [429] * 3  # the parts run at once: which of them come first varies


def test_the_feeds_part_is_answered_with_its_filters(app_on_sqlite):
    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    feed = admin.payload("activity-grid.rowData", {"activity-url.search": "?status=missed", **ACTIVITY_STATE,
                                                   "activity-interval.n_intervals": 1})
    answer = _answers(_batch(admin, [feed]))[0]
    assert answer["status"] == 200, answer["body"][:300]


def test_parts_run_a_few_at_once_never_more(app_on_sqlite):
    """Parts waiting (as on the database) hold up none of the others, and a batch of many parts takes at most
    PARALLEL_PARTS threads of the worker: each part waits until that many run at once (or 5 s), so a busy
    machine's scheduling cannot make fewer meet, and one more would show in the count."""
    import threading
    import time

    from flask import request

    from access.dash_internals import DASH_UPDATE_PATH
    from serving.batch import PARALLEL_PARTS

    running, most, changed = [0], [0], threading.Condition()

    @app_on_sqlite.server.before_request
    def wait_as_on_the_database():
        if request.path != DASH_UPDATE_PATH:
            return
        with changed:
            running[0] += 1
            most[0] = max(most[0], running[0])
            changed.notify_all()
            changed.wait_for(lambda: running[0] >= PARALLEL_PARTS, timeout=5)
        time.sleep(0.05)
        with changed:
            running[0] -= 1

    admin = DashClient(app_on_sqlite.server, login=("ada", PASSWORD))
    parts = [admin.payload(*ONGOING)] * 12
    answers = _answers(_batch(admin, parts))
    assert [answer["status"] for answer in answers] == [200] * 12
    assert most[0] == PARALLEL_PARTS  # several at once, and never more


@pytest.fixture
def admin(app_on_sqlite) -> DashClient:
    """Signed in once for all of a test's examples (each sign-in counts against the login limit)."""
    return DashClient(app_on_sqlite.server, login=("ada", PASSWORD))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=50),
              st.sampled_from(["ongoing-grid.rowData", "..stats-cards.children...stats-chart.figure..", "' OR 1=1"])),
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.sampled_from(["parts", "output", "outputs", "inputs", "state",
                                                                "changedPropIds", "id", "property", "value"]),
                                               children, max_size=5)),
    max_leaves=15)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(JSON_VALUES, st.lists(JSON_VALUES, max_size=4).map(lambda parts: {"parts": parts})))
def test_any_json_gets_a_batch_or_a_400_never_a_server_error(app_on_sqlite, admin, body):
    """Signed out (401 before any part runs) and signed in (each part answered, or the batch refused)."""
    for poster in (app_on_sqlite.server.test_client(), admin.client):
        response = poster.post(BATCH_PATH, data=json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 400, 401), response.status_code
        if response.status_code == 200:
            assert all(answer["status"] < 500 for answer in response.get_json()["answers"])

