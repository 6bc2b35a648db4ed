"""The per-company live table, for admins (support: its own companies; ops: none).

One row per company: ongoing now, today's calls in and out, answered, missed and failed as counts and
rates, average and p90 talk time, appointments booked today, the booking rate and the last call's time
(definitions: queries/company_kpis.py and the README). Rates and the p90 carry a level from the settings
(KPI_*_LEVELS) in words as well as colour: "ok", "watch", "alert". A company's name links to the activity
feed filtered to it (`/?company=<id>`). The wallboard shows the same rows (widgets/wallboard.py).
"""
from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
from dash import Dash, Output, dcc, html, no_update

from access.roles import ADMIN, SUPPORT
from access.web import current_viewer
from queries import company_kpis as queries
from queries.company_kpis import CompanyKpis, fetch_company_kpis, judged_figure
from queries import figures
from queries.schema_map import SchemaMapError, StatusBuckets, load_schema_map, schema_of
from widgets.services import current_services
from widgets.common import cached_refresh, epoch, grid_options, int_or_none, register_poll, without_empty
from widgets.registry import Widget

GRID = "kpi-grid"
INTERVAL = "kpi-interval"
CAPTION = "kpi-caption"
FRESHNESS = "kpi-freshness"
STATUS = "kpi-status"
QUERY_NAME = "company_kpis"
TITLE = "company kpis"
POLL_SETTING = "COMPANY_KPIS_POLL_SECONDS"
OK, WATCH, ALERT = "ok", "watch", "alert"
# Each judged figure: its key in a row, and its definition (queries/figures.py: the setting of its levels and
# the volume it must stand on before it is judged).
JUDGED = {"ans_r": "answered_rate", "mis_r": "missed_rate", "fail_r": "failed_rate", "bk_r": "booking_rate",
          "p90": "p90_talk"}
LEVEL_SETTINGS = {key: figures.BY_KEY[figure].levels for key, figure in JUDGED.items()}
# A grid narrower than every column drops these first to last (assets/switchboard.js, fitColumnsByPriority): the
# counts whose rate stays shown, the split of the calls, "other". A laptop's table then needs no sideways scrolling,
# and what is left is what the wallboard shows (widgets/wallboard.py, WALL_FIELDS).
DROP_ORDER = ("oth", "in", "out", "avg", "fail", "mis", "ans", "bk", "last")


def _count(field: str, figure: str, width: int = 100, statuses: StatusBuckets | None = None,
           min_calls: int = figures.DEFAULT_JUDGE_MIN_CALLS) -> dict[str, Any]:
    """A column of one figure: its label as the header, what it counts as the header's tooltip."""
    return {"field": field, "headerName": figures.label(figure), "width": width, "type": "numericColumn",
            "headerTooltip": figures.tooltip(figure, statuses, min_calls), "cellClass": "numeric"}


def _judged(field: str, figure: str, formatter: str, width: int = 130, statuses: StatusBuckets | None = None,
            min_calls: int = figures.DEFAULT_JUDGE_MIN_CALLS) -> dict[str, Any]:
    """A column whose cells say their level in words, and show it in colour too; a figure on too few calls to
    be judged has no level and says its count instead ("0 % · n=3")."""
    shown = f"{formatter}(params.value)"
    counted = f"(params.data.{field}_n != null && {shown} ? {shown} + ' \u00b7 n=' + params.data.{field}_n : {shown})"
    return {**_count(field, figure, width, statuses, min_calls),
            "valueFormatter": {"function": f"switchboardLevelled({counted}, params.data.{field}_lv)"},
            "cellClass": {"function": f"'numeric level level-' + (params.data.{field}_lv || 'none')"}}


def column_defs(links: bool = True, statuses: StatusBuckets | None = None,
                min_calls: int = figures.DEFAULT_JUDGE_MIN_CALLS) -> list[dict[str, Any]]:
    """Return the table's columns, labelled and explained by the figures' definitions (`statuses`: the map's
    buckets, named in the tooltips); the company links to the feed unless `links` is off (the wallboard)."""
    company = {"field": "co", "headerName": "Company", "minWidth": 170, "flex": 2, "pinned": "left"}
    if links:
        company["cellRenderer"] = "SwitchboardCompanyLink"
    words = {"statuses": statuses, "min_calls": min_calls}
    columns = [
        company,
        _count("on", "ongoing", 100, **words),
        {**_count("n", "calls", 110, **words), "sort": "desc"},
        _count("in", "inbound", 80, **words),
        _count("out", "outbound", 80, **words),
        _count("ans", "answered", 105, **words),
        _judged("ans_r", "answered_rate", "switchboardPercent", **words),
        _count("mis", "missed", 95, **words),
        _judged("mis_r", "missed_rate", "switchboardPercent", **words),
        _count("fail", "failed", 90, **words),
        _judged("fail_r", "failed_rate", "switchboardPercent", **words),
        _count("oth", "other", 90, **words),
        {**_count("avg", "average_talk", 100, **words),
         "valueFormatter": {"function": "switchboardDuration(params.value)"}},
        _judged("p90", "p90_talk", "switchboardDuration", **words),
        _count("bk", "booked_today", 110, **words),
        _judged("bk_r", "booking_rate", "switchboardPercent", **words),
        {"field": "last", "headerName": figures.label("last_call"), "width": 110,
         "headerTooltip": figures.tooltip("last_call"),
         "valueFormatter": {"function": "params.value ? switchboardClock(params.value) : 'none today'"}},
    ]
    for column in columns:
        if column["field"] in DROP_ORDER:
            column["context"] = {"drop": DROP_ORDER.index(column["field"]) + 1}
    return columns


def layout(poll_seconds: int, min_calls: int = figures.DEFAULT_JUDGE_MIN_CALLS,
           statuses: StatusBuckets | None = None) -> html.Section:
    """Return the per-company panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "kpi-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Companies today", id="kpi-title"),
            html.Span("", id=CAPTION, className="caption"),
            html.Span("", id=STATUS, className="freshness"),
        ]),
        dag.AgGrid(
            id=GRID, columnDefs=column_defs(statuses=statuses, min_calls=min_calls), rowData=[],
            getRowId="params.data.id",
            defaultColDef={"sortable": True, "resizable": True, "filter": False},
            # Focusable cells: the grid is one Tab stop and Enter on a company's name follows its link (a link per
            # row in the Tab order was one stop per company).
            dashGridOptions={**grid_options("No companies", focusable=True), "tooltipShowDelay": 300},
            # No columnSize: the page's fitting sizes these columns and drops the least important (DROP_ORDER);
            # dash-ag-grid's own sizing, run after it, widened them past the grid again.
            className="grid", style={"height": "360px"},
        ),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


def mapped_statuses(config: dict[str, Any]) -> StatusBuckets:
    """Return the status buckets of the schema map in force, for the headers' words (the map was checked at the
    start: a file that cannot be read now leaves the default words)."""
    try:
        return load_schema_map(config.get("SCHEMA_MAP_FILE")).statuses
    except SchemaMapError:
        return StatusBuckets()


def panel(config: dict[str, Any]) -> html.Section:
    return layout(int(config[POLL_SETTING]), int(config["JUDGE_MIN_CALLS"]), mapped_statuses(config))


def level(value: float | None, levels: tuple[float, float]) -> str | None:
    """Return how a figure fares against its levels (GOOD, BAD): ok, watch or alert; None without a figure."""
    if value is None:
        return None
    good, bad = levels
    if good > bad:  # higher is better
        return OK if value >= good else WATCH if value >= bad else ALERT
    return OK if value <= good else WATCH if value <= bad else ALERT


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def _seconds(value: Any) -> float | None:
    return None if value is None or value != value else round(float(value), 1)


def compact_rows(result: CompanyKpis, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the rows as the browser needs them: short keys, rates in %, each judged figure's level; a figure
    that stands on fewer than JUDGE_MIN_CALLS calls gets no level but its count (`<key>_n`)."""
    min_calls = int(config.get("JUDGE_MIN_CALLS", figures.DEFAULT_JUDGE_MIN_CALLS))
    rows = []
    for row in result.rows.itertuples(index=False):
        answered, missed, failed = int(row.answered), int(row.missed), int(row.failed)
        outcomes = answered + missed + failed
        converted = int_or_none(row.converted)
        record: dict[str, Any] = {
            "id": int(row.company_id), "co": str(row.company_name), "on": int(row.ongoing), "n": int(row.calls),
            "in": int_or_none(row.inbound), "out": int_or_none(row.outbound), "ans": answered, "mis": missed,
            "fail": failed, "oth": int(row.other),
            "ans_r": _percent(answered, outcomes), "mis_r": _percent(missed, outcomes),
            "fail_r": _percent(failed, outcomes), "avg": _seconds(row.average_talk),
            "p90": int_or_none(row.p90_talk), "bk": int_or_none(row.booked),
            "bk_r": None if converted is None else _percent(converted, answered),
            "last": epoch(row.last_call_at, config["DATABASE_TIMEZONE"]),
        }
        for key, figure in JUDGED.items():
            _, volume = judged_figure(row, figure)  # the calls it stands on, as the alert rules count them
            if record[key] is not None and not figures.judged_enough(volume, min_calls):
                record[f"{key}_n"] = volume  # too few to judge: shown neutral, with its count
            else:
                record[f"{key}_lv"] = level(record[key], config[LEVEL_SETTINGS[key]])
        rows.append(without_empty(record))
    return rows


def caption(result: CompanyKpis, notes: list[str] = ()) -> str:
    """Return the caption: where the table was cut, and the figures the platform keeps nothing for."""
    return " · ".join([*([f"the first {len(result.rows):,} companies"] if result.capped else []), *notes])


# The features the table's figures come from: where the platform lacks one, its columns stay empty, with a note.
FEATURES = ("direction", "duration", "appointments")


def table_payload(result: CompanyKpis, config: dict[str, Any], notes: list[str] = ()) -> dict[str, Any]:
    """Return what the browser is sent: the compact rows and the caption."""
    return {"rows": compact_rows(result, config), "caption": caption(result, notes)}


def cached_table(services, company_ids) -> Any:
    """Return the table's payload for these companies from the query cache (computed when due): what the
    panel and the wallboard show, one computation per scope and poll interval."""
    config = services.config

    def compute() -> dict[str, Any]:
        now = services.now()
        return table_payload(fetch_company_kpis(services.reader, now, services.today_start(now), company_ids,
                                                int(config["BOOKING_WINDOW_HOURS"])), config,
                             schema_of(services.reader).notes(*FEATURES))

    return cached_refresh(TITLE, lambda: services.queries.get_or_compute(
        QUERY_NAME, {"company_ids": company_ids, "display_timezone": config["DISPLAY_TIMEZONE"],
                     "booking_window_hours": config["BOOKING_WINDOW_HOURS"]},
        services.poll_seconds(POLL_SETTING), compute), config["STATEMENT_TIMEOUT_MS"])


def refresh(previous_freshness) -> dict[str, Any]:
    """Fetch (or take from the cache) the viewer's companies; on a failure the last rows stay."""
    services = current_services()
    # The viewer's companies, never the browser's, bound into the query; one cache entry per scope.
    result = cached_table(services, current_viewer().scoped(None))
    shown = result.cached.value if result.cached else {}
    return {"rows": shown.get("rows", no_update), "caption": shown.get("caption", no_update),
            "freshness": result.freshness(previous_freshness)}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    register_poll(app, {"rows": Output(GRID, "rowData"), "caption": Output(CAPTION, "children"),
                        "freshness": Output(FRESHNESS, "data")}, refresh, INTERVAL, FRESHNESS)


WIDGET = Widget(
    area="company_kpis", title=TITLE, roles=frozenset({ADMIN, SUPPORT}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, freshness=FRESHNESS, status=STATUS, grid=GRID,
    response_output=GRID, queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples, build=panel,
)
