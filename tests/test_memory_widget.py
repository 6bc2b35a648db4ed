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
from monitoring.memory import GroupMemory, HostMemory, MemorySample, ProcessMemory
from monitoring.store import SqliteMemoryStore
from services import EXTENSION_KEY
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


@pytest.mark.parametrize("warning, limit, css, word", [
    (400, 512, "badge badge-ok", "ok"), (200, 512, "badge badge-warn", "warning"),
    (100, 180, "badge badge-bad", "over limit")])
def test_the_badge_follows_the_largest_process_now(store, warning, limit, css, word):
    text, klass = memory.badge_state(memory.build_view(store, 900), warning, limit)
    assert klass == css and text.startswith(word) and "210 MB" in text  # php-fpm's largest member is the largest now


def test_the_charts_draw_the_limit_and_warning_lines():
    figure = memory.memory_figure("Switchboard workers", [], 250, 512)
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
                                                   "memory-window.value": "15m"})
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
