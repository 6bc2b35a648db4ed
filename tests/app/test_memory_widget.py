"""The memory panel, the self-cost panel and /metrics, without a browser."""
from __future__ import annotations

import gzip
import json
import time

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.costs import ResponseLog, widget_costs
from monitoring.instrumentation import CostLog, measure_refresh
from monitoring.memory import GroupMemory, HostMemory, MemoryLevels, MemorySample, ProcessMemory
from monitoring.store import SqliteMemoryStore
from widgets.services import EXTENSION_KEY
from tests.support.dash_client import DashClient
from widgets import memory, self_cost

MB = 1024 * 1024


def sample(at: float, worker_mb: float, php_largest_mb: float) -> MemorySample:
    workers = (ProcessMemory(pid=101, name="gunicorn", rss=int(worker_mb * MB), uss=int(worker_mb * MB * 0.6)),
               ProcessMemory(pid=102, name="gunicorn", rss=int(90 * MB)))
    groups = (GroupMemory("php-fpm", 3, int((php_largest_mb + 100) * MB), int(php_largest_mb * MB), 555),)
    host = HostMemory(total=8192 * MB, used=4096 * MB, available=4096 * MB, swap_used=0)
    return MemorySample(at=at, workers=workers, groups=groups, host=host,
                        top=(ProcessMemory(pid=555, name="php-fpm", rss=int(php_largest_mb * MB)),))


@pytest.fixture
def store(tmp_path):
    store = SqliteMemoryStore(tmp_path / "memory.sqlite3")
    now = time.time()
    for index, (worker, php) in enumerate([(120, 200), (480, 260), (150, 210)]):
        store.append(sample(now - 60 + index * 20, worker, php))
    yield store
    store.close()


def test_the_view_has_every_series_with_its_current_value_and_peak(store):
    view = memory.build_view(store, window_seconds=900)
    by_name = {v.name: v for v in view.workers + view.groups + view.host}
    assert by_name["worker.101.rss"].now == 150 * MB and by_name["worker.101.rss"].peak == 480 * MB
    assert by_name["group.php-fpm.largest_rss"].now == 210 * MB and by_name["group.php-fpm.largest_rss"].peak == 260 * MB
    assert len(by_name["worker.101.rss"].points) == 3
    assert {"host.used", "host.available", "host.swap_used"} <= set(by_name)
    assert view.top[0]["name"] == "php-fpm"


def levels(warning, limit, groups=""):
    return MemoryLevels.from_config({"MEMORY_WARNING_MB": warning, "MEMORY_LIMIT_MB": limit,
                                            "MEMORY_GROUP_LIMITS": groups})


@pytest.mark.parametrize("warning, limit, css, word", [
    (200, 512, "badge badge-ok", "ok"), (140, 512, "badge badge-warn", "warning"),
    (100, 140, "badge badge-bad", "over limit")])
def test_the_badge_judges_the_workers_against_their_own_levels(store, warning, limit, css, word):
    # php-fpm (310 MB in all) has no levels of its own: it is not judged against the workers' limit
    text, klass = memory.badge_state(memory.build_view(store, 900), levels(warning, limit))
    assert klass == css and text.startswith(word) and "worker 101: 150 MB" in text


def test_a_group_is_judged_against_its_own_levels_only(store):
    view = memory.build_view(store, 900)
    assert memory.badge_state(view, levels(400, 512, "php-fpm=250:300"))[0] == "over limit · php-fpm: 310 MB"
    assert memory.badge_state(view, levels(400, 512, "php-fpm=300:512"))[0] == "warning · php-fpm: 310 MB"
    assert memory.badge_state(view, levels(400, 512, "php-fpm=none"))[1] == "badge badge-ok"
    payload = memory.panel_payload(view, levels(400, 512, "php-fpm=250:512,mysqld=none"))
    groups_chart = payload["figures"][1]["layout"]
    assert {note["text"] for note in groups_chart["annotations"]} == {"php-fpm limit 512 MB", "php-fpm warning 250 MB"}
    workers_chart = payload["figures"][0]["layout"]
    assert {note["text"] for note in workers_chart["annotations"]} == {"limit 512 MB", "warning 400 MB"}


@pytest.mark.parametrize("text, message", [("php-fpm=600:512", "warning <= limit"), ("php-fpm", "name=warning"),
                                           ("php-fpm=big", "whole MB"), ("a=1:2,a=3:4", "once per group")])
def test_bad_group_limits_are_refused_with_a_message(text, message):
    from monitoring.memory import parse_group_limits
    with pytest.raises(ValueError, match=message):
        parse_group_limits(text)


def test_the_charts_draw_the_limit_and_warning_lines():
    figure = memory.memory_figure("Switchboard workers", [], memory.level_lines(levels(250, 512).workers))
    lines = sorted(shape["y0"] for shape in figure["layout"]["shapes"])
    notes = {annotation["text"] for annotation in figure["layout"]["annotations"]}
    assert lines == [250, 512] and notes == {"warning 250 MB", "limit 512 MB"}


def test_series_have_readable_labels():
    assert memory.series_label("worker.42.rss") == "worker 42 RSS"
    assert memory.series_label("group.php-fpm.largest_rss") == "php-fpm largest"
    assert memory.series_label("host.swap_used") == "host swap used"


def test_costs_average_the_last_hour_of_refreshes():
    log, responses = CostLog(), ResponseLog()
    for _ in range(3):
        with measure_refresh("ongoing_calls", log) as cost:
            cost.statements.append("SELECT 1")
            cost.rows, cost.bytes_received, cost.db_ms = 125, 20_000, 4.0
    responses.add("ongoing_calls", 25_000, 3_800)
    (row,) = widget_costs({"ongoing_calls": "ongoing calls"}, log, {"ongoing_calls": 0.9}, responses)
    assert (row.refreshes, row.statements_per_refresh, row.rows_per_refresh) == (3, 1, 125)
    assert row.db_bytes_per_refresh == 20_000 and row.browser_bytes_per_response == 3_800
    cells = self_cost.cost_cells(row)
    assert cells[0] == "ongoing calls" and cells[6] == "90%" and cells[7] == "3.7 KB"
    assert not any(cell.endswith(self_cost.OVER_BUDGET) for cell in cells)


def test_a_figure_over_its_budget_says_so_in_words_and_every_column_explains_itself():
    log, responses = CostLog(), ResponseLog()
    with measure_refresh("activity_recent", log) as cost:
        cost.statements += ["SELECT 1"] * 3
        cost.rows, cost.bytes_received, cost.db_ms = 2500, 3 * 1024 * 1024, 250.0
    responses.add("activity_recent", 90_000, 80_000)
    (row,) = widget_costs({"activity_recent": "feed"}, log, {}, responses)
    cells = self_cost.cost_cells(row)
    over = [column.heading for column, cell in zip(self_cost.COLUMNS, cells) if cell.endswith(self_cost.OVER_BUDGET)]
    assert over == ["statements / refresh", "rows / refresh", "bytes from DB / refresh", "DB ms / refresh",
                    "bytes to browser / response"]
    table = json.dumps(self_cost.cost_table([row]).to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert table.count("over-budget") == 5
    # Every heading has its meaning as a tooltip and points to the same words in the list below the table.
    headings = self_cost.cost_table([row]).children[0].children.children
    meanings = {item.id: item.children for item in self_cost.meanings().children[2].children
                if getattr(item, "id", None)}
    for index, (heading, column) in enumerate(zip(headings, self_cost.COLUMNS)):
        assert heading.title.startswith(column.meaning)
        assert meanings[getattr(heading, "aria-describedby")] == heading.title
    assert "0 statements" in self_cost.ZERO_STATEMENTS_NOTE


@pytest.fixture
def dashboard(seeded_database, make_dashboard):
    return make_dashboard(seeded_database.url, MEMORY_SAMPLE_SECONDS=0.2)


def test_responses_are_measured_as_sent_and_show_in_the_self_cost_panel(dashboard):
    services = dashboard.server.extensions[EXTENSION_KEY]
    client = DashClient(dashboard.server)
    payload = client.payload("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    response = client.post(payload, headers={"Accept-Encoding": "gzip"})
    assert "X-Switchboard-Uncompressed-Length" not in response.headers
    ((_, raw, sent),) = services.responses.recent("ongoing_calls")
    assert sent == len(response.data) and raw == len(gzip.decompress(response.data)) and sent < raw
    panel = client.call("self-cost-table.children", {"self-cost-interval.n_intervals": 1, "refresh-signal.data": 0})
    text = json.dumps(panel["self-cost-table.children"])
    assert "ongoing calls" in text and "1.0" in text  # one statement a refresh
    assert "this worker (pid" in panel["self-cost-caption.children"]


def test_metrics_parse_as_prometheus_text_with_memory_and_widget_figures(dashboard):
    services = dashboard.server.extensions[EXTENSION_KEY]
    services.sampler.step()  # one sample now, instead of waiting for the thread
    client = DashClient(dashboard.server)
    client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    response = dashboard.server.test_client().get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    families = {family.name: family for family in text_string_to_metric_families(response.data.decode())}
    host = {s.labels["kind"]: s.value for s in families["switchboard_host_memory_bytes"].samples}
    assert host["total"] == psutil.virtual_memory().total
    workers = families["switchboard_worker_memory_bytes"].samples
    assert any(s.labels["kind"] == "rss" and s.value > 10 * MB for s in workers)
    assert families["switchboard_memory_limit_bytes"].samples[0].value == 512 * MB
    refreshes = {s.labels["widget"]: s.value for s in families["switchboard_widget_refreshes"].samples
                 if s.name.endswith("_total")}
    assert refreshes["ongoing_calls"] == 1
    statements = {s.labels["widget"]: s.value for s in families["switchboard_widget_statements"].samples
                  if s.name.endswith("_total")}
    assert statements["ongoing_calls"] == 1


def test_the_memory_callback_builds_charts_badge_and_tables(dashboard):
    services = dashboard.server.extensions[EXTENSION_KEY]
    services.sampler.step()
    client = DashClient(dashboard.server)
    result = client.call("memory-badge.children", {"memory-interval.n_intervals": 1, "refresh-signal.data": 0,
                                                   "memory-window.data": "15m"})
    assert result["memory-badge.className"].startswith("badge badge-")
    assert result["memory-workers-chart.figure"]["data"], "the worker's own series is charted"
    assert "Largest processes now" in json.dumps(result["memory-top.children"])
    assert result["memory-freshness.data"]["stale"] is False


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the crash is the point
def test_a_crashed_sampler_thread_is_restarted_by_the_next_request(dashboard):
    services = dashboard.server.extensions[EXTENSION_KEY]
    sampler = services.sampler
    client = dashboard.server.test_client()
    assert client.get("/").status_code == 200
    assert sampler._thread is not None and sampler._thread.is_alive()

    def crash():
        raise SystemExit("the sampler thread dies")  # not an Exception: the loop's guard does not catch it

    sampler._safe_step = crash
    sampler._thread.join(5)
    assert not sampler._thread.is_alive()
    del sampler._safe_step  # the next thread runs normally
    assert client.get("/").status_code == 200  # the dashboard kept serving
    assert sampler._thread.is_alive()


def test_the_cost_panel_is_built_once_per_poll_interval_as_a_querys_result_is(dashboard, seed_clock):
    client = DashClient(dashboard.server)
    services = dashboard.server.extensions[EXTENSION_KEY]
    ask = {"self-cost-interval.n_intervals": 1, "refresh-signal.data": 0}
    first = client.call("self-cost-table.children", ask)
    client.call("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1, "refresh-signal.data": 0})
    assert client.call("self-cost-table.children", ask) == first  # the same slot: the same answer for everyone
    seed_clock.advance(services.poll_seconds("SELF_COST_POLL_SECONDS"))
    later = client.call("self-cost-table.children", ask)
    assert later != first and "1.0" in json.dumps(later["self-cost-table.children"])  # the refresh, counted
