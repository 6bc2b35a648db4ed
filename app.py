"""Switchboard: the live operations dashboard for AI phone-agent and appointment-booking platforms.

`python app.py` serves the demo; `python app.py --help` lists the commands (they live in cli.py). Settings come
from the environment (config.py, docs/settings.md). The app itself is built in serving/factory.py; gunicorn
starts it as `app:create_server()`.
"""
from __future__ import annotations

from serving.factory import create_app, create_server

__all__ = ["create_app", "create_server"]

if __name__ == "__main__":
    from cli import cli  # the commands build the app through serving.factory, never through this file

    cli()
