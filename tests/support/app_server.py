"""Serve Switchboard in its own process for multi-process tests: `python -m tests.support.app_server`.

Settings come from the environment, as in production. The process prints
`listening on PORT` once it accepts requests, and serves until terminated.
"""
from __future__ import annotations

import sys

from werkzeug.serving import make_server


def main() -> None:
    """Build the app from the environment and serve it on a free loopback port."""
    from app import create_app

    app = create_app()
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    print(f"listening on {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
