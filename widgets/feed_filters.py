"""The activity feed's filters: read from the link, written to it, fitted to each other in the controls, and
validated into the filter a viewer may run.

The filters live in the page's query string (`?kind=call&status=missed&q=anna`), so a pasted link shows a
colleague the same view. Values in a link that make no sense are dropped with a visible notice, never an error
page. The status choices follow the kind (and an upcoming window, which shows appointments only): a status that
no longer fits is dropped with a notice.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from dash import no_update

from access.roles import Viewer
from queries import figures
from queries.activity import (APPOINTMENT_STATUSES, DEFAULT_WINDOW, DIRECTIONS, KINDS, SAME_CHOICE,
                              SEARCH_MAX_LENGTH, STATUS_BUCKET, STATUSES, UPCOMING_WINDOWS, WINDOWS, ActivityFilter,
                              status_misfit, statuses_of)
from queries.figures import BUCKET_LABELS
from widgets.choices import MAX_CHOSEN_COMPANIES, checked_choices, company_cap, is_company_id, is_name
from widgets.common import status_label
from widgets.feed_ids import COMPANY, DIRECTION, KIND, SEARCH, STATUS_FILTER, WINDOW
from widgets.registry import URL


@dataclass(frozen=True)
class FilterNames:
    """One filter of the feed by each name it has: `name` in the callbacks (the control's value, see
    filter_values), `link_key` in the link's query string, `field` in ActivityFilter, `control` its component."""

    name: str
    link_key: str
    field: str
    control: str


FILTERS = (
    FilterNames("kinds", "kind", "kinds", KIND),
    FilterNames("statuses", "status", "statuses", STATUS_FILTER),
    FilterNames("directions", "direction", "directions", DIRECTION),
    FilterNames("companies", "company", "company_ids", COMPANY),
    FilterNames("window", "window", "window", WINDOW),
    FilterNames("search", "q", "search", SEARCH),
)
FILTER_IDS = tuple(f.control for f in FILTERS)
# The filter controls by the names the callbacks give their values (filter_from_controls' arguments).
FILTER_FIELDS = {f.name: f.control for f in FILTERS}
# The names a link may choose from, by its keys; at most as many values as a control offers (widgets/choices.py).
LINK_CHOICES = {"kind": KINDS, "status": STATUSES, "direction": DIRECTIONS}
LINK_CAPS = {"kind": len(KINDS), "status": len(STATUSES), "direction": len(DIRECTIONS),
             "company": MAX_CHOSEN_COMPANIES}
# Keys of the query string that other panels own (the call details' `?call=`, the customer history's
# `?customer=`): not filters, kept as they are.
OTHER_PANELS_KEYS = ("call", "customer")


# --- the status choices -----------------------------------------------------------------------------------

def status_options(kinds: Any = None, window: Any = None) -> list[dict[str, str]]:
    """Return the statuses to choose from for these kinds and window: a call status is a whole bucket
    (queries/figures.py), labelled and titled with what it selects; in_progress stands for ongoing too, and
    missed for busy and no_answer."""
    chosen = tuple(k for k in kinds if k in KINDS) if isinstance(kinds, list) else ()
    upcoming = window in UPCOMING_WINDOWS
    calls = "call" in (chosen or KINDS) and not upcoming
    appointments = "appointment" in (chosen or KINDS)
    return [_status_option(status, calls, appointments) for status in statuses_of(chosen, upcoming)
            if status not in SAME_CHOICE]


def _status_option(status: str, calls: bool, appointments: bool) -> dict[str, str]:
    """Return one status choice: where calls are offered, a call status reads and is titled as its bucket."""
    option = {"label": status_label(status), "value": status}
    if not (calls and status in STATUS_BUCKET):
        return option
    bucket = STATUS_BUCKET[status]
    return {**option, "label": _bucket_choice_label(status, bucket, appointments and status in APPOINTMENT_STATUSES),
            "title": f"Calls: {figures.bucket_meaning(bucket)}"}


def _bucket_choice_label(status: str, bucket: str, appointments_too: bool) -> str:
    """Return a call status's label: its bucket's, beside the appointment status of the same name when there is one."""
    if appointments_too:
        return f"{BUCKET_LABELS[bucket]} calls / {status_label(status)} appointments"
    return BUCKET_LABELS[bucket] if bucket != "ongoing" else status_label(status)


# --- the link ---------------------------------------------------------------------------------------------

def parse_query_string(search: str | None) -> tuple[dict[str, Any], list[str]]:
    """Return the filter values a link asks for (by the link's keys), and a notice for each value that was
    ignored."""
    values: dict[str, Any] = {"kind": [], "status": [], "direction": [], "company": [], "window": DEFAULT_WINDOW,
                              "q": ""}
    try:
        raw = parse_qs(search.lstrip("?") if isinstance(search, str) else "", keep_blank_values=False,
                       max_num_fields=50)
    except ValueError:
        return values, ["the link's filters could not be read; showing everything"]
    notices: list[str] = []
    for key, entries in raw.items():
        notices += _read_link_key(values, key, entries)
    # `ongoing` is offered as `in_progress`, `busy` and `no_answer` as `missed`: each the same bucket, which
    # either name selects whole.
    values["status"] = list(dict.fromkeys(SAME_CHOICE.get(s, s) for s in values["status"]))
    return values, notices + fit_to_kind(values)


def _read_link_key(values: dict[str, Any], key: str, entries: list[str]) -> list[str]:
    """Read one key of a link into `values`; return a notice for each value ignored."""
    items = _distinct_items(entries)
    if key in LINK_CAPS and len(items) > LINK_CAPS[key]:
        return [f"ignored {key}: more than {LINK_CAPS[key]} values"]
    if key in LINK_CHOICES:
        return _read_choices(values[key], key, items)
    if key == "company":
        return _read_companies(values["company"], items)
    if key == "window":
        return _read_window(values, items)
    if key == "q":
        return _read_search(values, entries[-1])
    return [] if key in OTHER_PANELS_KEYS else [f"ignored {key[:40]!r}: not a filter"]


def _distinct_items(entries: list[str]) -> list[str]:
    """Return a key's comma-separated values, each once: a list longer than a control offers is ignored whole,
    before any value is looked at (a forged link's)."""
    return list(dict.fromkeys(item for entry in entries for item in entry.split(",") if item != ""))


def _read_choices(chosen: list[str], key: str, items: list[str]) -> list[str]:
    """Add the known names among `items` to `chosen`; return a notice for each unknown one."""
    notices = []
    for item in items:
        if item in LINK_CHOICES[key]:
            chosen.append(item)
        else:
            notices.append(f"ignored {key}={item[:40]!r}: not a known {key}")
    return notices


def _read_companies(chosen: list[int], items: list[str]) -> list[str]:
    """Add the company ids among `items` to `chosen`, each once; return a notice for each that is not one."""
    notices = []
    for item in items:
        company = int(item) if item.isascii() and item.isdigit() else 0
        if not is_company_id(company):
            notices.append(f"ignored company={item[:40]!r}: not a company id")
        elif company not in chosen:
            chosen.append(company)
    return notices


def _read_window(values: dict[str, Any], items: list[str]) -> list[str]:
    """Set the window the link names last, or return why it cannot be."""
    if items and items[-1] in WINDOWS:
        values["window"] = items[-1]
        return []
    return [f"ignored window={(items[-1] if items else '')[:40]!r}: choose one of {', '.join(WINDOWS)}"]


def _read_search(values: dict[str, Any], text: str) -> list[str]:
    """Set the search the link holds last, or return why it cannot be."""
    if len(text) > SEARCH_MAX_LENGTH:
        return [f"ignored the search: longer than {SEARCH_MAX_LENGTH} characters"]
    values["q"] = text
    return []


def fit_to_kind(values: dict[str, Any]) -> list[str]:
    """Drop the window and statuses a link's kind cannot have (calls are never upcoming; a call status never
    fits appointments), changing `values`; return a notice for each."""
    notices = []
    if values["window"] in UPCOMING_WINDOWS and values["kind"] == ["call"]:
        notices.append(f"ignored window={values['window']}: calls are never upcoming (the upcoming windows show "
                       "appointments)")
        values["window"] = DEFAULT_WINDOW
    fitting = statuses_of(tuple(values["kind"]), values["window"] in UPCOMING_WINDOWS)
    for status in [s for s in values["status"] if s not in fitting]:
        notices.append(f"ignored status={status}: "
                       f"{status_misfit([status], tuple(values['kind']), values['window'] in UPCOMING_WINDOWS)}")
        values["status"].remove(status)
    return notices


def build_query_string(kinds, statuses, directions, companies, window, search) -> str:
    """Return the query string for these filter values (defaults left out)."""
    texts = {"kinds": _listed(kinds), "statuses": _listed(statuses), "directions": _listed(directions),
             "companies": _listed([str(c) for c in companies or []]),
             "window": window if window and window != DEFAULT_WINDOW else "", "search": (search or "").strip()}
    encoded = urlencode([(f.link_key, texts[f.name]) for f in FILTERS if texts[f.name]])
    return f"?{encoded}" if encoded else ""


def _listed(values) -> str:
    return ",".join(values or [])


def _query_string_of(activity: ActivityFilter) -> str:
    """Return the query string of a validated filter."""
    return build_query_string(**{f.name: getattr(activity, f.field) for f in FILTERS})


def with_other_panels(query: str, search: Any) -> str:
    """Return the filters' query string with the keys other panels own taken over from `search` (the link)."""
    try:
        pairs = [(key, value) for key, value in parse_qsl((search or "").lstrip("?"), max_num_fields=50)
                 if key in OTHER_PANELS_KEYS] if isinstance(search, str) else []
    except ValueError:
        pairs = []
    if not pairs:
        return query
    return f"{query}&{urlencode(pairs)}" if query else f"?{urlencode(pairs)}"


# --- the link and the controls ----------------------------------------------------------------------------

def filter_values(kinds=None, statuses=None, directions=None, companies=None, window=DEFAULT_WINDOW,
                  search="") -> dict[str, Any]:
    """Return the filter controls' values by the names the callbacks use (see FILTERS)."""
    return {"kinds": kinds, "statuses": statuses, "directions": directions, "companies": companies,
            "window": window, "search": search}


def _unchanged_link() -> dict[str, Any]:
    return {"search": no_update, "filters": {name: no_update for name in FILTER_FIELDS}, "status_options": no_update}


def sync_url_and_filters(triggered: str | None, search: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """Keep the query string and the filter controls in step, whichever one changed (`triggered`); the status
    choices follow the kind and window, and a chosen status that no longer fits is dropped with a notice."""
    if triggered in (URL, None):
        return _controls_from_link(search)
    fitted, notices = _fitted_controls(filters, triggered)
    try:
        activity = filter_from_controls(**fitted)
    except ValueError as error:
        return {**_unchanged_link(), "notice": f"Not applied: {error}"}
    query = with_other_panels(_query_string_of(activity), search)
    changed = {name: fitted[name] if fitted[name] != filters.get(name) else no_update for name in FILTER_FIELDS}
    return {"search": query if query != search else no_update, "filters": changed,
            "status_options": status_options(fitted.get("kinds"), fitted.get("window"))
            if triggered in (KIND, WINDOW) else no_update,
            "notice": "; ".join(notices)}


def _controls_from_link(search: Any) -> dict[str, Any]:
    """Return the controls' values and status choices the link asks for, the link as they read it (its ignored
    values left out), and the first notices of what it ignored."""
    values, notices = parse_query_string(search)
    controls = {f.name: values[f.link_key] for f in FILTERS}
    canonical = with_other_panels(build_query_string(**controls), search)
    return {"search": canonical if canonical != search else no_update, "filters": controls,
            "status_options": status_options(values["kind"], values["window"]),
            "notice": "; ".join(notices[:5]) if notices else ""}


def _fitted_controls(filters: dict[str, Any], triggered: str | None) -> tuple[dict[str, Any], list[str]]:
    """Return the controls' values with the window and statuses the chosen kind cannot have dropped, and a
    notice for each (values of the wrong shape are left for filter_from_controls to refuse); choosing an
    upcoming window while calls are chosen chooses appointments instead."""
    values = _known_link_values(filters.get("kinds"), filters.get("statuses"), filters.get("window"))
    if values is None:
        return filters, []
    notices = _appointments_when_upcoming(values) if triggered == WINDOW else []
    notices += [notice.replace("ignored ", "dropped ", 1) for notice in fit_to_kind(values)]
    if not notices:
        return filters, []
    return {**filters, "kinds": values["kind"], "statuses": values["status"], "window": values["window"]}, notices


def _known_link_values(kinds: Any, statuses: Any, window: Any) -> dict[str, Any] | None:
    """Return the kinds, statuses and window by the link's keys, or None when one is of the wrong shape or
    names what does not exist."""
    if not (_names_among(kinds, KINDS) and _names_among(statuses, STATUSES) and isinstance(window, str)):
        return None
    return {"kind": list(kinds or []), "status": list(statuses or []), "window": window}


def _names_among(value: Any, names: tuple[str, ...]) -> bool:
    """Tell whether a multi-choice's value is None or a list of strings, each one of `names`."""
    if value is None:
        return True
    return isinstance(value, list) and all(isinstance(item, str) for item in value) and all(
        item in names for item in value)


def _appointments_when_upcoming(values: dict[str, Any]) -> list[str]:
    """Choose appointments for an upcoming window chosen while calls are (changing `values`); say so."""
    if values["window"] in UPCOMING_WINDOWS and values["kind"] == ["call"]:
        values["kind"] = ["appointment"]
        return ["the upcoming windows show appointments: kind set to appointments"]
    return []


def link_from_controls(triggered: str | None, search: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """A filter control changed (`triggered`): write the link (the view follows it, see feed_page.show_view),
    with the controls fitted to each other and a notice for what was dropped or refused."""
    if triggered not in FILTER_IDS:  # only a control's change writes the link; the link's own change is read
        return {**_unchanged_link(), "notice": no_update}
    synced = sync_url_and_filters(triggered, search, filters)
    # A person's change that writes a new link says what it dropped, or clears an old notice; the link's reader
    # (show_view) then adds only what the link itself ignored. A change that writes no new link (the controls
    # set from the link) has nothing to say, and must not clear what show_view said of that link.
    writes_link = synced["search"] is not no_update
    return {**synced, "notice": synced["notice"] if synced["notice"] or writes_link else no_update}


def controls_for_link(triggered: str | None, synced: dict[str, Any], filters: dict[str, Any]) -> dict[str, Any]:
    """Return what the browser is to set for a link read by sync_url_and_filters (`synced`), by component: the
    filter controls (`filters`: what they show) and status choices it asks for, and the link as read, each only
    where it differs; the status choices on a page's first call (`triggered` None) too."""
    values = synced["filters"]
    controls = {FILTER_FIELDS[name]: {"value": value} for name, value in values.items()
                if not _same_control_value(name, value, filters.get(name))}
    if any(FILTER_FIELDS[name] in controls for name in ("kinds", "window")) or triggered is None:
        controls[STATUS_FILTER] = {**controls.get(STATUS_FILTER, {}), "options": synced["status_options"]}
    if synced["search"] is not no_update:
        controls[URL] = {"search": synced["search"]}
    return controls


def _same_control_value(name: str, value: Any, current: Any) -> bool:
    """Tell whether a control already shows what the link asks for: a multi-choice's None is its empty list,
    and the search box's spaces around the text are the typist's (the link keeps the text trimmed)."""
    if name == "search":
        return isinstance(current, str) and current.strip() == (value or "").strip()
    if isinstance(value, list) and current is None:
        return value == []
    return value == current


# --- the filter a viewer runs -----------------------------------------------------------------------------

def filter_from_controls(kinds, statuses, directions, companies, window, search,
                         company_limit: int = MAX_CHOSEN_COMPANIES) -> ActivityFilter:
    """Return the validated filter for the controls' values (ValueError with a clear message): every list
    checked, deduplicated and capped (widgets/choices.py), companies at `company_limit` (see company_cap)."""
    names = "filters must be lists of names"
    chosen_kinds = checked_choices(kinds, "kinds", len(KINDS), is_name, names)
    chosen_statuses = checked_choices(statuses, "statuses", len(STATUSES), is_name, names)
    chosen_directions = checked_choices(directions, "directions", len(DIRECTIONS), is_name, names)
    chosen_companies = checked_choices(companies, "companies", company_limit, is_company_id,
                                       "companies must be chosen from the list")
    if search is not None and not isinstance(search, str):
        raise ValueError("the search must be text")
    return ActivityFilter(kinds=chosen_kinds, statuses=chosen_statuses, directions=chosen_directions,
                          company_ids=chosen_companies or None,
                          window=window if isinstance(window, str) else DEFAULT_WINDOW,
                          search=(search or "").strip())


def scoped_filter(activity: ActivityFilter, viewer: Viewer, phone_region: str = "") -> ActivityFilter:
    """Return the filter with the companies the viewer may see (the browser's choice only narrows them); a viewer
    who sees masked numbers finds a number only by typing all of it."""
    return replace(activity, company_ids=viewer.scoped(activity.company_ids),
                   whole_numbers_only=viewer.masks_phones, phone_region=phone_region)


def viewer_filter(filters: dict[str, Any], viewer: Viewer, phone_region: str) -> ActivityFilter:
    """Return the filter the controls ask for (`filters`, by the callbacks' names) as this viewer may run it
    (ValueError with a clear message)."""
    return scoped_filter(filter_from_controls(**filters, company_limit=company_cap(viewer)), viewer, phone_region)
