"""Serve Switchboard in its own process for multi-process tests:
`python -m tests.support.app_server [--port PORT] [--instance FOLDER]`.

Settings come from the environment, as in production; the app's clock too (tests/support/clock.py:
SWITCHBOARD_TEST_FROZEN_AT, SWITCHBOARD_TEST_NOW). The process serves on PORT
(default: a free one) with its instance folder at FOLDER (default: the app's), prints
`listening on PORT` once it accepts requests, and serves until terminated. A test that
kills it can start another on the same port and folder.
"""
from __future__ import annotations

import argparse
import sys

from werkzeug.serving import make_server


def main() -> None:
    """Build the app from the environment and serve it on the loopback port given, or a free one."""
    from app import create_app
    from tests.support.clock import clock_from_environment

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--instance", default=None)
    options = parser.parse_args()
    app = create_app(instance_path=options.instance, clock=clock_from_environment())
    server = make_server("127.0.0.1", options.port, app.server, threaded=True)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
