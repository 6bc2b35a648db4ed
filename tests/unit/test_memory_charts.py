"""The memory charts explain themselves: gaps for missing samples, a worker that ended says
when and is not "now", GB above 10 GB, identical series both visible, USS/PSS or why not, and a text
alternative for each chart."""
from __future__ import annotations

import time

import psutil

from monitoring import memory as sampling
from monitoring.memory import HostMemory, MemorySample, ProcessMemory
from monitoring.store import SqliteMemoryStore
from widgets import memory

MB = 1024 * 1024
GB = 1024 * MB


def view(name: str, points, now=None, peak=None, ended=None) -> memory.SeriesView:
    return memory.SeriesView(name=name, label=memory.series_label(name), points=list(points), now=now, peak=peak,
                             ended=ended)


def test_missing_samples_are_gaps_not_drops_to_zero():
    # Samples every 5 s, then nothing for 10 minutes (the sampler was down), then every 5 s again.
    points = [(1000 + 5 * i, 100 * MB) for i in range(5)] + [(1620 + 5 * i, 110 * MB) for i in range(5)]
    figure = memory.memory_figure("Switchboard workers", [view("worker.1.rss", points)], [])
    trace = figure["data"][0]
    assert trace["y"].count(None) == 1 and 0 not in trace["y"] and trace["connectgaps"] is False
    gap = trace["y"].index(None)
    assert trace["x"][gap - 1] < trace["x"][gap] < trace["x"][gap + 1]
    assert [y for y in trace["y"] if y is not None] == [100.0] * 5 + [110.0] * 5


def test_evenly_spaced_samples_have_no_gap():
    points = [(1000 + 5 * i, (100 + i) * MB) for i in range(50)]
    x, y = memory.with_gaps(points, MB)
    assert None not in y and len(x) == len(y) == 50


def test_above_10_gb_the_axis_and_the_tables_speak_gb():
    host = [view("host.used", [(1000, 20 * GB), (1005, 21 * GB)], now=21 * GB, peak=21 * GB)]
    figure = memory.memory_figure("Host", host, [])
    assert figure["layout"]["yaxis"]["title"]["text"] == "GB" and figure["data"][0]["y"] == [20.0, 21.0]
    assert "GB" in figure["data"][0]["hovertemplate"]
    assert memory._amount(21 * GB) == "21.0 GB" and memory._amount(900 * MB) == "900.0 MB"
    small = memory.memory_figure("Switchboard workers", [view("worker.1.rss", [(1000, 300 * MB)])], [(512, "limit", "#c00", "dash")])
    assert small["layout"]["yaxis"]["title"]["text"] == "MB" and small["layout"]["shapes"][0]["y0"] == 512


def test_level_lines_follow_the_unit():
    figure = memory.memory_figure("Host", [view("host.used", [(1000, 12 * GB)])], [(16384, "limit", "#c00", "dash")])
    assert figure["layout"]["shapes"][0]["y0"] == 16.0 and figure["layout"]["annotations"][0]["text"] == "limit 16384 MB"


def test_identical_series_do_not_hide_each_other():
    points = [(1000 + 5 * i, 150 * MB) for i in range(10)]
    figure = memory.memory_figure("Switchboard workers",
                                  [view("workers.total_rss", points), view("worker.7.rss", points)], [])
    first, second = figure["data"]
    assert first["line"]["dash"] != second["line"]["dash"] and first["line"]["width"] > second["line"]["width"]
    assert second["name"] == "worker 7 RSS = all workers" and first["name"] == "all workers"


def sample(at: float, pids: tuple[int, ...]) -> MemorySample:
    return MemorySample(at=at, workers=tuple(ProcessMemory(pid, "gunicorn", 100 * MB) for pid in pids), groups=(),
                        host=HostMemory(total=8 * GB, used=4 * GB, available=4 * GB, swap_used=0), top=())


def test_a_worker_that_ended_leaves_now_and_says_when(tmp_path):
    store = SqliteMemoryStore(tmp_path / "memory.sqlite3")
    now = time.time()
    try:
        for index in range(6):  # worker 2 is replaced by worker 3 half way
            store.append(sample(now - 60 + index * 10, (1, 2) if index < 3 else (1, 3)))
        shown = memory.build_view(store, 900, now=now)
        by_name = {v.name: v for v in shown.workers}
        ended = by_name["worker.2.rss"]
        assert ended.now is None and ended.ended == ended.points[-1][0] == now - 40
        assert by_name["worker.1.rss"].ended is None and by_name["worker.3.rss"].ended is None
        payload = memory.panel_payload(shown, memory.MemoryLevels.from_config(
            {"MEMORY_WARNING_MB": 400, "MEMORY_LIMIT_MB": 512, "MEMORY_GROUP_LIMITS": ""}), "15m", "UTC")
        names = [trace["name"] for trace in payload["figures"][0]["data"]]
        assert f"worker 2 RSS (ended {memory.clock(now - 40)})" in names
        row = next(r for r in payload["series"] if r["label"] == "worker 2 RSS")
        assert row["ended"] == memory.clock(now - 40)
        assert "worker 2 RSS ended " in payload["summaries"][0] and "worker 1 RSS now 100.0 MB" in payload["summaries"][0]
        assert "ended " + memory.clock(now - 40) in str(memory.series_table(payload["series"]))
    finally:
        store.close()


def test_each_chart_has_a_sentence_even_without_samples():
    assert memory.chart_summary("Host", [], "1h") == "Host: no samples in the last 1h."


def test_uss_and_pss_are_read_where_allowed_and_say_why_not():
    own = psutil.Process()
    full = sampling._full(own, ProcessMemory(own.pid, "python", own.memory_info().rss))
    try:
        own.memory_full_info()
        assert full.uss is not None and full.pss is not None and full.why is None  # Linux, our own process
    except psutil.AccessDenied:
        assert full.why == sampling.NOT_READABLE

    class Denied:
        def memory_full_info(self):
            raise psutil.AccessDenied(1)

    denied = sampling._full(Denied(), ProcessMemory(1, "init", 10 * MB))
    assert denied.uss is None and denied.why == sampling.NOT_READABLE
    table = str(memory.top_table([{"pid": 1, "name": "init", "rss": 10 * MB, "uss": None, "pss": None,
                                   "why": denied.why}]))
    assert "– (1)" in table and sampling.NOT_READABLE in table


def test_the_sample_s_largest_processes_carry_uss_and_pss():
    taken = sampling.take_sample([], {}, top_n=3)
    assert taken.top and all(p.uss is not None or p.why for p in taken.top)
