"""The browser harness itself: a tiny Dash app served in a thread, opened in Chromium."""
from __future__ import annotations

import socket
import urllib.request

import dash
import pytest
from dash import Input, Output, dcc, html

from tests.support import browser as support
from tests.support.browser import count_requests, screenshot, serve_in_thread


def _tiny_app() -> dash.Dash:
    """Build a Dash app whose 500 ms interval and button update one div."""
    app = dash.Dash(__name__)
    app.layout = html.Div([
        html.Button("Go", id="go"),
        dcc.Interval(id="tick", interval=500),
        html.Div(id="out"),
    ])

    # app.callback, not dash.callback: a global registration would leak into other apps.
    @app.callback(Output("out", "children"), Input("tick", "n_intervals"), Input("go", "n_clicks"))
    def show(ticks, clicks):
        return f"ticks {ticks or 0}, clicks {clicks or 0}"

    return app


@pytest.fixture
def tiny_url():
    with serve_in_thread(_tiny_app().server) as handle:
        yield handle.url


def test_callback_output_arrives_without_console_errors(page, tiny_url):
    from playwright.sync_api import expect  # here, so a missing package skips instead of breaking collection

    page.goto(tiny_url)
    expect(page.locator("#out")).to_contain_text("ticks", timeout=10_000)
    page.click("#go")
    expect(page.locator("#out")).to_contain_text("clicks 1")
    assert count_requests(page, "/_dash-update-component", seconds=2.0) > 0
    assert page.console_errors == []


def test_console_and_page_errors_are_recorded(page):
    page.set_content("<script>console.error('boom'); setTimeout(() => { throw new Error('bang'); });</script>")
    page.wait_for_timeout(200)
    assert any("boom" in entry for entry in page.console_errors)
    assert any("bang" in entry for entry in page.console_errors)


def test_count_requests_ignores_other_urls(page, tiny_url):
    page.goto(tiny_url)
    assert count_requests(page, "/no-such-path", seconds=1.0) == 0


def test_screenshot_writes_a_png(page, tiny_url, tmp_path):
    page.goto(tiny_url)
    path = screenshot(page, tmp_path / "shots" / "tiny.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_serve_in_thread_serves_then_shuts_down():
    with serve_in_thread(_tiny_app().server) as handle:
        with urllib.request.urlopen(handle.url, timeout=5) as response:
            assert response.status == 200
    assert not handle.thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", handle.port), timeout=1).close()


def test_missing_chromium_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(support, "CHROMIUM", tmp_path / "chromium")
    assert "Chromium" in support.browser_unavailable_reason()
