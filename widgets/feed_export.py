"""The activity feed's export: the current filter's rows (up to the export cap) as plain CSV or as CSV for Excel.

Both keep the stored status and say the bucket each call is counted in, so a spreadsheet's count of "Missed" is
the company table's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import phonenumbers
from dash import dcc, no_update

from access.masking import mask_field
from access.roles import mask_phone
from access.web import current_viewer
from access.work_limits import WorkRefused
from queries import figures
from queries.activity import ActivityPage, fetch_activity
from queries.schema_map import StatusBuckets, schema_of
from widgets.common import DATABASE_ERRORS, describe_failure, int_or_none, log_failure, text_or_none
from widgets.export_files import TEXT_MARKER, minutes_and_seconds, write_csv
from widgets.feed_filters import viewer_filter
from widgets.feed_ids import EXPORT, EXPORT_EXCEL
from widgets.services import current_services


def export(triggered: str | None, filters: dict[str, Any]) -> dict[str, Any]:
    """Run the export whose button was pressed (`triggered`)."""
    if triggered not in (EXPORT, EXPORT_EXCEL):
        return {"download": no_update, "notice": no_update}
    download, notice = export_file(triggered, filters)
    return {"download": download, "notice": notice}


def export_file(which: str, filters: dict[str, Any]):
    """Send the current filter's rows (up to the export cap) as a CSV file: plain (EXPORT) or for Excel."""
    services = current_services()
    viewer = current_viewer()
    try:
        activity = viewer_filter(filters, viewer, services.config["PHONE_REGION"])
    except ValueError as error:
        return no_update, f"Not exported: {error}"
    cap = int(services.config["ACTIVITY_EXPORT_ROW_CAP"])
    now = services.now()
    try:
        # The user's one export slot is held while the file is built too: that is their share of a worker.
        with services.work_limits.exporting(viewer):
            page = fetch_activity(services.reader, activity, now, None, cap, with_agent=which == EXPORT_EXCEL)
            return export_download(which, page, now, cap, services.config, viewer.masks_phones,
                                   schema_of(services.reader).statuses)
    except WorkRefused as refusal:
        return no_update, f"Not exported: {refusal}"
    except DATABASE_ERRORS as error:
        log_failure("activity export", error)
        return no_update, f"Not exported: {describe_failure(error, services.config['STATEMENT_TIMEOUT_MS'])}"


def export_download(which: str, page: ActivityPage, now: datetime, cap: int, config: dict[str, Any],
                    mask_phones: bool, statuses: StatusBuckets | None = None):
    """Return the download of an export's rows, and a note when the cap cut them; each call says the bucket it
    is counted in (`statuses`: the map's), so a spreadsheet's count of "Missed" is the company table's."""
    zones = config["DATABASE_TIMEZONE"], config["DISPLAY_TIMEZONE"]
    note = f"Exported the newest {cap:,} rows; narrow the filter for older ones." if page.next_cursor else ""
    if which == EXPORT_EXCEL:
        content = excel_csv(page, *zones, mask_phones, statuses)
        filename = f"switchboard-activity-{now:%Y%m%d-%H%M}-excel.csv"
    else:
        frame = csv_frame(page, *zones, mask_phones, statuses)
        content = write_csv(list(frame.columns), frame.astype(object).where(frame.notna(), None).itertuples(
            index=False, name=None))
        filename = f"switchboard-activity-{now:%Y%m%d-%H%M}.csv"
    return dcc.send_string(content, filename, type="text/csv"), note


def csv_frame(page: ActivityPage, database_timezone: str, display_timezone: str,
              mask_phones: bool = False, statuses: StatusBuckets | None = None) -> pd.DataFrame:
    """Return the plain export's columns, times in the display timezone, and the bucket each call counts in."""
    rows = page.rows
    return pd.DataFrame({
        "kind": rows["kind"], "time": _display_times(rows, database_timezone, display_timezone),
        "customer": _names(rows, mask_phones), "phone": _phones(rows, mask_phones),
        "company": rows["company_name"], "service": rows["service_name"], "direction": rows["direction"],
        "status": rows["status"], "duration_sec": rows["duration_sec"].astype("Int64"),
        "counted_as": _counted_as(rows, statuses),
    })


def excel_csv(page: ActivityPage, database_timezone: str, display_timezone: str, mask_phones: bool = False,
              statuses: StatusBuckets | None = None) -> str:
    """Return the Excel file: a byte order mark, the timezone in the header, agent, and durations as m:ss too."""
    rows = page.rows
    header = ("Kind", "ID", f"Time ({display_timezone})", "Customer", "Phone", "Company", "Agent", "Service",
              "Direction", "Status", "Duration (s)", "Duration (m:ss)", "Counted as")
    durations = [int_or_none(d) for d in rows["duration_sec"]]
    columns = zip(
        rows["kind"], (int(i) for i in rows["id"]), _display_times(rows, database_timezone, display_timezone),
        _names(rows, mask_phones), _phones(rows, mask_phones, formatted=True),
        map(text_or_none, rows["company_name"]), map(text_or_none, rows["agent_name"]),
        map(text_or_none, rows["service_name"]), map(text_or_none, rows["direction"]),
        map(text_or_none, rows["status"]), durations,
        # Excel reads '2:05' as two hours and five minutes: the text marker keeps it minutes and seconds.
        (None if d is None else TEXT_MARKER + minutes_and_seconds(d) for d in durations),
        _counted_as(rows, statuses))
    return write_csv(header, columns, for_excel=True)


def _display_times(rows: pd.DataFrame, database_timezone: str, display_timezone: str) -> list[str | None]:
    viewer = ZoneInfo(display_timezone)
    stored = ZoneInfo(database_timezone)
    return [None if pd.isna(at) else at.to_pydatetime().replace(tzinfo=stored).astimezone(viewer)
            .strftime("%Y-%m-%d %H:%M:%S") for at in rows["at"]]


def _phones(rows: pd.DataFrame, mask_phones: bool, formatted: bool = False) -> list[str | None]:
    phones = [text_or_none(p) for p in rows["phone"]]
    if mask_phones:
        return [mask_phone(p) for p in phones]
    return [international(p) for p in phones] if formatted else phones


def _names(rows: pd.DataFrame, mask_phones: bool) -> list[str | None]:
    """Return the customers' names, masked like any text that may hold a number for a viewer of masked numbers."""
    names = [text_or_none(name) for name in rows["customer_name"]]
    return [mask_field(name) for name in names] if mask_phones else names


def international(number: str | None) -> str | None:
    """Return a stored number in international format (+49 30 5000001), or as stored when it is not one."""
    if number is None:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _counted_as(rows: pd.DataFrame, statuses: StatusBuckets | None) -> list[str | None]:
    return [figures.counted_as(kind, text_or_none(status), statuses) for kind, status in zip(rows["kind"],
                                                                                            rows["status"])]
