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
from queries.company_kpis import CompanyKpis, fetch_company_kpis
from services import current_services
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
# Each judged figure: its key in a row, and the setting of its levels.
LEVEL_SETTINGS = {"ans_r": "KPI_ANSWERED_RATE_LEVELS", "mis_r": "KPI_MISSED_RATE_LEVELS",
                  "fail_r": "KPI_FAILED_RATE_LEVELS", "bk_r": "KPI_BOOKING_RATE_LEVELS",
                  "p90": "KPI_P90_TALK_LEVELS"}


def _count(field: str, header: str, tooltip: str, width: int = 100) -> dict[str, Any]:
    return {"field": field, "headerName": header, "headerTooltip": tooltip, "width": width, "type": "numericColumn",
            "cellClass": "numeric"}


def _judged(field: str, header: str, tooltip: str, formatter: str, width: int = 130) -> dict[str, Any]:
    """A column whose cells say their level in words, and show it in colour too."""
    return {"field": field, "headerName": header, "headerTooltip": tooltip, "width": width,
            "type": "numericColumn",
            "valueFormatter": {"function": f"switchboardLevelled({formatter}(params.value), params.data.{field}_lv)"},
            "cellClass": {"function": f"'numeric level level-' + (params.data.{field}_lv || 'none')"}}


def column_defs(links: bool = True) -> list[dict[str, Any]]:
    """Return the table's columns; the company links to the feed unless `links` is off (the wallboard)."""
    company = {"field": "co", "headerName": "Company", "minWidth": 170, "flex": 2, "pinned": "left"}
    if links:
        company["cellRenderer"] = "SwitchboardCompanyLink"
    return [
        company,
        _count("on", "Ongoing", "Calls ongoing now", 100),
        {**_count("n", "Calls today", "Calls since midnight (display timezone)", 110), "sort": "desc"},
        _count("in", "In", "Inbound calls today", 80),
        _count("out", "Out", "Outbound calls today", 80),
        _count("ans", "Answered", "Answered (completed) calls today", 105),
        _judged("ans_r", "Answered %", "Answered, of today's calls with an outcome", "switchboardPercent"),
        _count("mis", "Missed", "Missed, busy or unanswered calls today", 95),
        _judged("mis_r", "Missed %", "Missed, of today's calls with an outcome", "switchboardPercent"),
        _count("fail", "Failed", "Failed calls today", 90),
        _judged("fail_r", "Failed %", "Failed, of today's calls with an outcome", "switchboardPercent"),
        {**_count("avg", "Avg. talk", "Average length of today's answered calls", 100),
         "valueFormatter": {"function": "switchboardDuration(params.value)"}},
        _judged("p90", "p90 talk", "90 % of today's answered calls were at most this long", "switchboardDuration"),
        _count("bk", "Booked", "Appointments booked today", 95),
        _judged("bk_r", "Booking %", "Answered calls today whose customer booked within the booking window",
                "switchboardPercent"),
        {"field": "last", "headerName": "Last call", "width": 110, "headerTooltip": "When today's newest call began",
         "valueFormatter": {"function": "params.value ? switchboardClock(params.value) : 'none today'"}},
    ]


def layout(poll_seconds: int) -> html.Section:
    """Return the per-company panel."""
    return html.Section(className="panel panel-wide", **{"aria-labelledby": "kpi-title"}, children=[
        html.Header(className="panel-header", children=[
            html.H2("Companies today", id="kpi-title"),
            html.Span("", id=CAPTION, className="caption"),
            html.Span("", id=STATUS, className="freshness"),
        ]),
        dag.AgGrid(
            id=GRID, columnDefs=column_defs(), rowData=[], getRowId="params.data.id",
            defaultColDef={"sortable": True, "resizable": True, "filter": False},
            # Focusable cells: the grid is one Tab stop and Enter on a company's name follows its link (a link per
            # row in the Tab order was one stop per company).
            dashGridOptions={**grid_options("No companies", focusable=True), "tooltipShowDelay": 300},
            columnSize="autoSize", className="grid", style={"height": "360px"},
        ),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
        dcc.Store(id=FRESHNESS),
    ])


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
    """Return the rows as the browser needs them: short keys, rates in %, each judged figure's level."""
    rows = []
    for row in result.rows.itertuples(index=False):
        answered, missed, failed = int(row.answered), int(row.missed), int(row.failed)
        outcomes = answered + missed + failed
        record: dict[str, Any] = {
            "id": int(row.company_id), "co": str(row.company_name), "on": int(row.ongoing), "n": int(row.calls),
            "in": int(row.inbound), "out": int(row.outbound), "ans": answered, "mis": missed, "fail": failed,
            "ans_r": _percent(answered, outcomes), "mis_r": _percent(missed, outcomes),
            "fail_r": _percent(failed, outcomes), "avg": _seconds(row.average_talk),
            "p90": int_or_none(row.p90_talk), "bk": int(row.booked),
            "bk_r": _percent(int(row.converted), answered), "last": epoch(row.last_call_at, config["DATABASE_TIMEZONE"]),
        }
        for key, setting in LEVEL_SETTINGS.items():
            record[f"{key}_lv"] = level(record[key], config[setting])
        rows.append(without_empty(record))
    return rows


def caption(result: CompanyKpis) -> str:
    return f"the first {len(result.rows):,} companies" if result.capped else ""


def table_payload(result: CompanyKpis, config: dict[str, Any]) -> dict[str, Any]:
    """Return what the browser is sent: the compact rows and the caption."""
    return {"rows": compact_rows(result, config), "caption": caption(result)}


def cached_table(services, company_ids) -> Any:
    """Return the table's payload for these companies from the query cache (computed when due): what the
    panel and the wallboard show, one computation per scope and poll interval."""
    config = services.config

    def compute() -> dict[str, Any]:
        now = services.now()
        return table_payload(fetch_company_kpis(services.reader, now, services.today_start(now), company_ids,
                                                int(config["BOOKING_WINDOW_HOURS"])), config)

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
    response_output=GRID, queries={QUERY_NAME: TITLE}, plan_examples=queries.plan_examples,
)
