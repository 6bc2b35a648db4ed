"""Pages and permissions, declared once: the pages there are, which a role has and lands on, which page a
request is for, and on which pages of which roles each callback is (so who may run it and which page learns it).

Everything else reads this module:
- the shell builds a role's page (widgets/shell.py `page_of`) from `pages_of`;
- the access check tells which page a request is for (`page_for`, access/web.py), and the wall's own requests
  come through `WallPageRequests`;
- the callback guard lets a viewer run a callback of one of its role's pages (`may_run`), and each page learns
  of its own callbacks only (`callbacks_of_page`);
- the static files give each (role, page) the scripts of its components and the wall's its own request prefix
  (serving/static_assets.py, `requests_prefix`).

Which roles see a widget is the widget's own declaration (`Widget.roles`, widgets/registry.py); the role table
(`role_areas`) and the pages follow from those.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Protocol

from access.dash_internals import DASH_DEPENDENCIES_PATH, DASH_LAYOUT_PATH, DASH_UPDATE_PATH
from access.roles import ROLES, SHELL

# The dashboard, at / (and at any other path), and the wallboard, at /wall: a wallboard user's only page.
MAIN_PAGE = "main"
WALL_PAGE = "wall"
WALL_PATH = "/wall"
# The wall page's renderer asks for these under /wall/ (see WallPageRequests).
WALL_PAGE_REQUESTS = (DASH_LAYOUT_PATH, DASH_DEPENDENCIES_PATH, DASH_UPDATE_PATH)
# Where a page posts the polls of one tick together, under its own prefix (serving/batch.py).
BATCH_PATH = "/_switchboard-batch"
PAGE_ENVIRON_KEY = "switchboard.page"  # set by WallPageRequests for the wall page's own requests

Page = tuple[str, str]  # (role, page)


class OnPages(Protocol):
    """What a widget says of where it goes (widgets/registry.py `Widget`)."""

    area: str
    roles: frozenset[str]
    placement: str


def role_areas(widgets: Iterable[OnPages]) -> dict[str, frozenset[str]]:
    """Return the role table: the areas each role may use, the shell and the widgets that name it."""
    widgets = list(widgets)
    return {role: frozenset({SHELL, *(widget.area for widget in widgets if role in widget.roles)}) for role in ROLES}


def pages_of(widgets: Iterable[OnPages]) -> tuple[str, ...]:
    """Return the pages these widgets (one role's) make, the one it lands on first: the dashboard for any panel
    of it, the wall for the wallboard (a widget placed on the wall page); the dashboard when there are none."""
    placements = {widget.placement for widget in widgets}
    pages = tuple(page for page, shown in ((MAIN_PAGE, bool(placements - {WALL_PAGE})),
                                           (WALL_PAGE, WALL_PAGE in placements)) if shown)
    return pages or (MAIN_PAGE,)


def role_pages(widgets: Iterable[OnPages]) -> dict[str, tuple[str, ...]]:
    """Return the pages of each role, its first the one it lands on."""
    widgets = list(widgets)
    return {role: pages_of(widget for widget in widgets if role in widget.roles) for role in ROLES}


def page_for(pages: tuple[str, ...], path: str, environ: Mapping[str, Any]) -> str:
    """Return the page a request is for, of the pages its viewer's role has: the wallboard when it asks for /wall
    (or the role has no other page), else the dashboard (at / and any other path). The wallboard page's own
    requests, for its layout, its callbacks and their answers, come under /wall/ (WallPageRequests), so they are
    the wall's too; asked for a page the role lacks, a request gets the role's first page."""
    asked = WALL_PAGE if environ.get(PAGE_ENVIRON_KEY) == WALL_PAGE or path.rstrip("/") == WALL_PATH else MAIN_PAGE
    return asked if asked in pages else pages[0]


def requests_prefix(prefix: str, page: str | None) -> str:
    """Return where a page's renderer asks for its layout, callbacks and their answers (Dash's prefix, or the
    wall's under it)."""
    return f"{prefix}{WALL_PATH.strip('/')}/" if page == WALL_PAGE else prefix


class WallPageRequests:
    """Serve the wallboard page's own requests, /wall/_dash-layout, /wall/_dash-dependencies and
    /wall/_dash-update-component, as Dash's at /_dash-…, marked as the wall's (PAGE_ENVIRON_KEY).

    Dash asks for a page's layout and callbacks at fixed paths that do not say which page they are for; the wall's
    page tells its renderer to ask under /wall/ instead (`requests_prefix`), so the server gives it the wall's
    layout and callbacks whatever the browser sends or strips. Everything past this sees Dash's own paths: the
    access check, the callback guard and the limits hold for the wall's requests as for any other."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(WALL_PATH + "/") and path[len(WALL_PATH):] in WALL_PAGE_REQUESTS:
            # A copy: the server's own record of the request (gunicorn's access log) keeps the path asked for.
            environ = {**environ, "PATH_INFO": path[len(WALL_PATH):], PAGE_ENVIRON_KEY: WALL_PAGE}
        return self.wsgi_app(environ, start_response)


def callback_pages(callback_map: Mapping[str, dict], owners: Mapping[str, str], widgets: Iterable[OnPages],
                   ids_on_page: Mapping[Page, set[str]]) -> dict[str, frozenset[Page]]:
    """Return the pages, as (role, page) pairs, whose viewers may run each callback (by its output key).

    A callback belongs to the one widget whose components it writes to (the page's own components, such as the
    URL, may be written too); writing to the page's only, to every widget whose components it reads (the grids'
    clicks that open a call in the URL: not for a role without those grids); else to the page shell, every
    role's. Its roles are those of its widgets (`role_areas`), and it is on each of their pages that has every
    component it names: the renderer checks each callback against the page it shows, and a wallboard's page
    has no pause or theme button. `owners` maps each component id to its area, `ids_on_page` each page to its
    component ids."""
    table = role_areas(widgets)
    pages = {}
    for key, callback in callback_map.items():
        areas = _callback_areas(key, callback, owners)
        named = _written_ids(key) | _read_ids(callback)
        roles = {role for role, allowed in table.items() if areas <= allowed}
        pages[key] = frozenset((role, page) for (role, page), ids in ids_on_page.items()
                               if role in roles and named <= ids)
    return pages


def _written_ids(key: str) -> set[str]:
    """Return the ids of the components a callback writes to, from its output key."""
    return {output.rsplit(".", 1)[0] for output in key.strip(".").split("...")}


def _read_ids(callback: dict) -> set[str]:
    """Return the ids of the components a callback reads, as inputs or state."""
    return {item["id"] for item in [*callback["inputs"], *callback["state"]]}


def _callback_areas(key: str, callback: dict, owners: Mapping[str, str]) -> set[str | None]:
    """Return the widget areas a callback belongs to (see callback_pages): the one it writes to, else those it
    reads, else none (the page shell's)."""
    found = {owners.get(component) for component in _written_ids(key)}
    areas = found - {SHELL}
    if None in found or len(areas) > 1:
        raise RuntimeError(f"callback {key} must write to the components of one widget at most")
    if not areas:
        areas = {owners.get(component) for component in _read_ids(callback)} - {SHELL, None}
    return areas


def may_run(callback_pages_of_key: Iterable[Page], role: str) -> bool:
    """Tell whether a viewer of this role may run a callback on these pages: on any page of its role."""
    return any(page_role == role for page_role, _ in callback_pages_of_key)


def callbacks_of_page(callbacks: list[dict], pages_by_output: Mapping[str, frozenset[Page]],
                      page: Page) -> list[dict]:
    """Return the callbacks (Dash's dependency list) this page learns of: its own."""
    return [entry for entry in callbacks if page in pages_by_output.get(entry.get("output"), ())]
