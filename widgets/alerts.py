"""Alerts for ops and admins: what is firing now, the history of episodes, and muting a rule.

Reads the alert store every worker shares (alerts/store.py), never the business database, so every worker
shows the same. A firing rule also shows in the page header (`header()`), for the roles that see this panel:
admin and ops. Support and wallboard screens do not get it: these are the deployment's alerts (database,
memory, call volume across every company), not a tenant's, and a support agent cannot act on them.

Muting a rule silences its notifications for a period; it is recorded with who muted it and when, and an
episode that starts while muted notifies neither its start nor its end. Every mute, re-mute and unmute is also
appended to the store's trail of changes (who, when, what, until, and the mute it replaced), shown below the
episodes, and written as one log line: a later change never hides an earlier one.
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from dash import Dash, Input, Output, State, dcc, html, no_update
from redis.exceptions import RedisError

from access.roles import ADMIN, OPS
from queries import alerts as queries
from alerts.state import FIRING, OK, PENDING
from alerts.store import UNMUTE
from widgets.services import current_services
from widgets.common import skeleton
from widgets.registry import OPS as OPS_COLUMN, REFRESH_SIGNAL, Widget

INTERVAL = "alerts-interval"
BADGE = "alerts-badge"
NOW_TABLE = "alerts-now"
HISTORY_TABLE = "alerts-history"
MUTE_RULE = "alerts-mute-rule"
MUTE_FOR = "alerts-mute-for"
MUTE_BUTTON = "alerts-mute-button"
MUTE_STATUS = "alerts-mute-status"
HEADER = "alerts-header"
TITLE = "alerts"
POLL_SETTING = "ALERTS_POLL_SECONDS"
MUTE_CHOICES = {"15m": 15 * 60, "1h": 3600, "4h": 4 * 3600, "24h": 24 * 3600, "unmute": 0}
HISTORY_ROWS = 20
CHANGES_ROWS = 20
STORE_ERRORS = (OSError, RuntimeError, ValueError, sqlite3.Error, RedisError)
STATE_WORDS = {OK: "ok", PENDING: "pending", FIRING: "FIRING", "nodata": "no data", "error": "error"}

log = logging.getLogger("switchboard.alerts")


def layout(poll_seconds: int) -> html.Section:
    """Return the alerts panel."""
    return html.Section(className="panel panel-wide", id="alerts-panel", **{"aria-labelledby": "alerts-title"},
                        children=[
        html.Header(className="panel-header", children=[
            html.H2("Alerts", id="alerts-title"),
            html.Span("–", id=BADGE, className="badge"),
        ]),
        html.Div(id=NOW_TABLE, className="table-box", children=skeleton(320)),
        html.Div(id=HISTORY_TABLE, className="table-box", children=skeleton(80)),
        html.Div(className="alerts-mute", role="group", **{"aria-labelledby": "alerts-mute-label"}, children=[
            html.Span("Mute a rule", id="alerts-mute-label", className="caption"),
            html.Label("Rule", htmlFor=MUTE_RULE, className="visually-hidden"),
            dcc.Dropdown(id=MUTE_RULE, options=[], placeholder="rule…", clearable=False, className="alerts-rule"),
            html.Label("For", htmlFor=MUTE_FOR, className="visually-hidden"),
            dcc.Dropdown(id=MUTE_FOR, options=[{"label": k, "value": k} for k in MUTE_CHOICES], value="1h",
                         clearable=False, className="alerts-for"),
            html.Button("Apply", id=MUTE_BUTTON, className="button", n_clicks=0),
            html.Span("", id=MUTE_STATUS, role="status", className="caption"),
        ]),
        dcc.Interval(id=INTERVAL, interval=poll_seconds * 1000),
    ])


def header() -> html.A:
    """Return the header's alert indicator (empty until a rule fires)."""
    # Not a live region itself: the page's announcer says "Alert: …" once when a rule starts firing.
    return html.A("", id=HEADER, href="#alerts-title", className="alerts-header alerts-header-quiet")


def _moment(at: float | None, timezone: str) -> str:
    if at is None:
        return "–"
    return datetime.fromtimestamp(at, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return (f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.1f}") + unit


def snapshot(alerts, now: float) -> dict[str, Any]:
    """Return what the panel shows, as plain data: each rule's state, the recent episodes with who was notified,
    and the mutes in force."""
    rules, states, mutes = alerts.rules(), alerts.states(), alerts.store.mutes()
    episodes = alerts.store.episodes(HISTORY_ROWS)
    sent: dict[str, list[str]] = {}
    for entry in alerts.store.outbox([episode["id"] for episode in episodes]):
        word = {"sent": "", "muted": " (muted)"}.get(entry["status"], f" ({entry['status']})")
        sent.setdefault(entry["episode"], []).append(f"{entry['kind']} → {entry['label'].split('?')[0]}{word}")
    rows = [{"rule": name, "title": spec.rule.title, "state": states[name].state, "value": states[name].value,
             "unit": spec.rule.unit, "threshold": spec.rule.threshold, "since": states[name].since,
             "reason": states[name].reason,
             "detail": states[name].episode.detail if states[name].episode else "",
             "muted": {**mutes[name]} if name in mutes and float(mutes[name]["until"]) > now else None}
            for name, spec in rules.items()]
    return {"rules": rows, "episodes": [{**episode, "notified": sent.get(episode["id"], [])} for episode in episodes],
            "changes": alerts.store.mute_changes(CHANGES_ROWS)}


def now_table(rows: list[dict], timezone: str) -> html.Table:
    """Return every rule's state; firing first."""
    order = {FIRING: 0, PENDING: 1, "error": 2, "nodata": 3, OK: 4}
    body = [html.Tr(className=f"alert-{row['state']}", children=[
        html.Td(row["title"]), html.Td(STATE_WORDS.get(row["state"], row["state"])),
        html.Td(_value(row["value"], row["unit"]), className="numeric"),
        html.Td(_value(row["threshold"], row["unit"]), className="numeric"),
        html.Td(_moment(row["since"], timezone)),
        html.Td(" · ".join(part for part in (row["detail"], row["reason"],
                                              f"muted until {_moment(row['muted']['until'], timezone)} by "
                                              f"{row['muted']['by']}" if row["muted"] else "") if part)),
    ]) for row in sorted(rows, key=lambda row: (order.get(row["state"], 5), row["rule"]))]
    return html.Table(className="data-table", children=[
        html.Caption("Rules now"),
        html.Thead(html.Tr([html.Th(name, scope="col") for name in
                            ("rule", "state", "value", "threshold", "since", "detail")])), html.Tbody(body)])


def history_table(episodes: list[dict], timezone: str) -> html.Table:
    """Return the recent episodes: start, end, peak and who was notified."""
    body = [html.Tr([html.Td(episode["title"]), html.Td(_moment(episode["breached_at"], timezone)),
                     html.Td(_moment(episode["ended_at"], timezone) if episode["ended_at"] else "open"),
                     html.Td(_value(episode["peak"], episode["unit"]), className="numeric"),
                     html.Td("; ".join(episode["notified"]) or "nobody (no ALERT_NOTIFY_URLS)")])
            for episode in episodes]
    return html.Table(className="data-table", children=[
        html.Caption("Episodes (newest first)"),
        html.Thead(html.Tr([html.Th(name, scope="col") for name in ("rule", "start", "end", "peak", "notified")])),
        html.Tbody(body or [html.Tr(html.Td("No episode yet.", colSpan=5))])])


def change_words(change: dict) -> str:
    """Return what a change of the trail did: muted, muted again over someone's mute still in force, unmuted."""
    replaced = change.get("replaced")
    in_force = replaced is not None and float(replaced["until"]) > float(change["at"])
    if change["action"] == UNMUTE:
        return f"unmuted (muted by {replaced['by']})" if in_force else "unmuted"
    return f"muted again (was by {replaced['by']})" if in_force else "muted"


def changes_table(changes: list[dict], titles: dict[str, str], timezone: str) -> html.Table:
    """Return the trail's newest changes: when, who, what and until."""
    body = [html.Tr([html.Td(_moment(change["at"], timezone)), html.Td(change["by"] or "–"),
                     html.Td(titles.get(change["rule"], change["rule"])), html.Td(change_words(change)),
                     html.Td(_moment(change["until"], timezone) if change["until"] else "–")])
            for change in changes]
    return html.Table(className="data-table", children=[
        html.Caption("Mute changes (newest first)"),
        html.Thead(html.Tr([html.Th(name, scope="col") for name in ("when", "who", "rule", "change", "until")])),
        html.Tbody(body or [html.Tr(html.Td("No change yet.", colSpan=5))])])


def badge(rows: list[dict]) -> tuple[str, str, str, str]:
    """Return the badge's text and class, and the header indicator's."""
    firing = [row["title"] for row in rows if row["state"] == FIRING]
    if not firing:
        return "quiet", "badge badge-ok", "", "alerts-header alerts-header-quiet"
    text = f"{len(firing)} firing · {', '.join(firing[:3])}{' …' if len(firing) > 3 else ''}"
    return text, "badge badge-bad", f"Alert: {text}", "alerts-header alerts-header-firing"


def refresh() -> dict[str, Any]:
    """Read the alert store and build the panel and the header indicator."""
    services = current_services()
    timezone = services.config["DISPLAY_TIMEZONE"]
    try:
        data = snapshot(services.alerts, services.clock())
    except STORE_ERRORS as error:
        reason = f"alert store unreachable ({type(error).__name__})"
        return {"badge": reason, "badge_class": "badge badge-warn", "now": no_update, "history": no_update,
                "rules": no_update, "header": "Alerts unknown: alert store unreachable",
                "header_class": "alerts-header alerts-header-firing"}
    text, css, header_text, header_css = badge(data["rules"])
    return {"badge": text, "badge_class": css, "now": now_table(data["rules"], timezone),
            "history": [history_table(data["episodes"], timezone),
                        changes_table(data["changes"], {row["rule"]: row["title"] for row in data["rules"]}, timezone)],
            "rules": [{"label": row["title"], "value": row["rule"]} for row in data["rules"]],
            "header": header_text, "header_class": header_css}


def mute(rule: Any, period: Any, viewer_name: str) -> str:
    """Mute (or unmute) a rule for a period on behalf of a viewer; return what the status line says."""
    services = current_services()
    rules = services.alerts.rules()
    if not isinstance(rule, str) or rule not in rules:
        return "Choose a rule to mute."
    if not isinstance(period, str) or period not in MUTE_CHOICES:
        return "Choose how long: " + ", ".join(MUTE_CHOICES) + "."
    now = services.clock()
    try:
        if MUTE_CHOICES[period] == 0:
            services.alerts.store.unmute(rule, viewer_name, now)
            log.info("alert rule %s unmuted by %s", rule, viewer_name)
            return f"{rules[rule].rule.title}: notifications on again."
        services.alerts.store.mute(rule, now + MUTE_CHOICES[period], viewer_name, now)
    except STORE_ERRORS as error:
        return f"Not muted: the alert store is unreachable ({type(error).__name__})."
    log.info("alert rule %s muted for %s (until %s UTC) by %s", rule, period,
             datetime.fromtimestamp(now + MUTE_CHOICES[period], ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
             viewer_name)
    return f"{rules[rule].rule.title}: muted for {period} by {viewer_name}."


def _mute_callback(n_clicks, rule, period) -> dict[str, Any]:
    from access.web import current_viewer

    if not n_clicks:
        return {"status": no_update}
    return {"status": mute(rule, period, current_viewer().name)}


def register(app: Dash) -> None:
    """Wire the panel's callbacks into the app."""
    app.callback(
        output={"badge": Output(BADGE, "children"), "badge_class": Output(BADGE, "className"),
                "now": Output(NOW_TABLE, "children"), "history": Output(HISTORY_TABLE, "children"),
                "rules": Output(MUTE_RULE, "options"), "header": Output(HEADER, "children"),
                "header_class": Output(HEADER, "className")},
        inputs={"_ticks": Input(INTERVAL, "n_intervals"), "_signal": Input(REFRESH_SIGNAL, "data"),
                "_muted": Input(MUTE_STATUS, "children")},
    )(lambda _ticks, _signal, _muted: refresh())
    app.callback(
        output={"status": Output(MUTE_STATUS, "children")},
        inputs={"n_clicks": Input(MUTE_BUTTON, "n_clicks")},
        state={"rule": State(MUTE_RULE, "value"), "period": State(MUTE_FOR, "value")},
        prevent_initial_call=True,
    )(_mute_callback)


WIDGET = Widget(
    area="alerts", title=TITLE, roles=frozenset({ADMIN, OPS}), layout=layout, register=register,
    poll_setting=POLL_SETTING, interval=INTERVAL, queries={}, placement=OPS_COLUMN,
    header=header, plan_examples=queries.plan_examples,  # the call rules' statements, checked by verify
)
