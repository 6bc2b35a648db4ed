"""Browser fixtures: a session-wide headless Chromium and a fresh `page` per test.

`page` is a Playwright Page with `page.console_errors` (see tests/support/browser.py);
`proxied_dashboard(**settings)` serves the app on MariaDB through a TcpProxy the test can cut.
`demo_site` is the demo (its database made for the test clock's now, the live simulator running), one server
for the session, shared by every module that only reads it. A missing Chromium or Playwright skips these
tests, or fails them when SWITCHBOARD_REQUIRE_SERVICES=1.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy.engine import make_url

from app import create_app
from database.engines import create_writer_engine
from demo.generator import SeedPlan
from demo.setup import prepare_demo_database
from demo.simulator import LiveSimulator
from widgets.services import EXTENSION_KEY
from tests.support.clock import FakeClock, test_now
from tests.support.databases import SEED_NOW, unavailable
from serving.warm_up import warm_up_before_fork
from tests.support.browser import FAST_POLLING, browser_unavailable_reason, launch_chromium, serve_in_thread, watch_console
from tests.support.tcp_proxy import TcpProxy

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Launch headless Chromium once for the session."""
    reason = browser_unavailable_reason()
    if reason:
        unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """Open a page in a new browser context, recording its console errors."""
    context = browser.new_context()
    yield watch_console(context.new_page())
    context.close()


@pytest.fixture
def seed_clock() -> FakeClock:
    """The seeded data's moment, running at the wall clock's pace: a page polls, and its answers must change."""
    return FakeClock(SEED_NOW, running=True)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory) -> Iterator[str]:
    """The app on a freshly made demo database, with the live simulator running; one for the session."""
    folder = tmp_path_factory.mktemp("demo-site")
    clock = FakeClock(test_now(), running=True)
    # Every test of a worker's session browses as the local demo's one viewer, whose searches share one count: at
    # the default 30 a minute, the tests that search (a few searches each) would be refused one another's. The
    # limit itself is tested where it is the subject (tests/system/test_work_limits.py).
    app = create_app({"DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}", "SEARCH_RATE_LIMIT": "600 per minute",
                      **FAST_POLLING}, instance_path=folder, clock=clock)
    services = app.server.extensions[EXTENSION_KEY]
    writer = create_writer_engine(services.database_url)
    # Enough appointments that the last 7 days hold several of Müllers (one customer in 24), whatever the seed's
    # draws: the search test needs some, and 600 gave none once the demo's bookings followed its calls.
    prepare_demo_database(writer, SeedPlan(calls=3_000, appointments=3_000, raw_bytes=4_000), now=services.now())
    # Warmed as gunicorn's master warms it (serving/warm_up.py): the page's files compressed before the first browser asks
    # for them. Cold, the first test of the module waited seconds for brotli, more than a page's wait allows.
    warm_up_before_fork(app.server, services)
    services.simulator = LiveSimulator(writer, period=0.5, clock=services.now, random_seed=11, raw_bytes=1_000)
    services.simulator.start()
    with serve_in_thread(app.server) as server:
        yield server.url
    services.shutdown()
    writer.dispose()


@pytest.fixture
def proxied_dashboard(seeded_mariadb, make_dashboard):
    """Return a context manager serving the app on MariaDB through a proxy the test can cut: (url, proxy)."""
    @contextmanager
    def serve(**settings) -> Iterator[tuple[str, TcpProxy]]:
        url = make_url(seeded_mariadb.url)
        with TcpProxy(url.host, url.port or 3306) as proxy:
            app = make_dashboard(url.set(port=proxy.port).render_as_string(hide_password=False), **settings)
            with serve_in_thread(app.server) as server:
                yield server.url, proxy

    return serve
