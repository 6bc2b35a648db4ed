"""What each widget's callback response weighs on the wire, raw and gzip-compressed.

Usage (from the repository root):

    python benchmarks/response_sizes.py [--url sqlite:///instance/switchboard-demo.sqlite3]

It builds the app on the given database (default: the embedded demo database,
created and seeded if missing), calls each widget's callback over HTTP through
Flask's test client exactly as the browser does, with `Accept-Encoding: gzip`,
and prints the bytes of each response. The ongoing-calls response is expected
to stay under 20 KB compressed at about 125 ongoing calls.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ONGOING_BUDGET_BYTES = 20_000


def measure(client, payload: dict) -> tuple[int, int, int]:
    """Return (compressed bytes, raw bytes, rows) of one callback response."""
    response = client.post(payload, headers={"Accept-Encoding": "gzip"})
    body = gzip.decompress(response.data) if response.headers.get("Content-Encoding") == "gzip" else response.data
    parsed = json.loads(body)["response"]
    rows = sum(len(props.get("rowData") or []) for props in parsed.values())
    return len(response.data), len(body), rows


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app import create_app
    from config import INSTANCE_PATH
    from cli import prepare_demo
    from database.engines import resolve_database_url
    from tests.support.dash_client import DashClient

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: the demo database)")
    args = parser.parse_args()
    url = args.url or resolve_database_url({"DATABASE_URL": None}, INSTANCE_PATH)
    if not args.url:
        prepare_demo(url)
    app = create_app({"DATABASE_URL": url})
    client = DashClient(app.server)
    filters = {"activity-kind.value": None, "activity-status.value": None, "activity-direction.value": None,
               "activity-company.value": None, "activity-window.value": "7d", "activity-search.value": ""}
    widgets = {
        "ongoing calls": client.payload("ongoing-grid.rowData", {"ongoing-interval.n_intervals": 1,
                                                                 "refresh-signal.data": 0}),
        "activity feed (page of 50)": client.payload(
            "activity-grid.rowData", {"activity-interval.n_intervals": 1, "refresh-signal.data": 0,
                                      "activity-pager.data": {"cursors": [None], "page": 0}}, filters),
        "headline stats": client.payload("stats-cards.children", {"stats-interval.n_intervals": 1,
                                                                  "refresh-signal.data": 0}),
    }
    print(f"{'widget':<28} {'rows':>6} {'raw bytes':>10} {'gzip bytes':>11} {'ratio':>6}")
    for name, payload in widgets.items():
        compressed, raw, rows = measure(client, payload)
        print(f"{name:<28} {rows:>6} {raw:>10,} {compressed:>11,} {raw / compressed:>5.1f}x")
        if name == "ongoing calls":
            verdict = "PASS" if compressed < ONGOING_BUDGET_BYTES else "FAIL"
            print(f"{'':<28} ongoing calls under {ONGOING_BUDGET_BYTES:,} bytes compressed: {verdict}")


if __name__ == "__main__":
    main()
