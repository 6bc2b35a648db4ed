"""What the access checks learned about one request, in one typed record: the one hand-off kept on flask.g.

The access check (access/web.py, `check_access`) writes who asks and which page the request is for; the callback
guard (access/callback_guard.py) writes the callback body it accepted. What runs after them in the same request
(the callback rate, the viewer's page and its scripts, the viewer's callbacks, the answers) reads them here, and
nothing else is passed between modules through flask.g.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g

from access.roles import Viewer

CONTEXT_KEY = "switchboard_request"  # the record's one name on flask.g


@dataclass
class RequestContext:
    viewer: Viewer | None = None  # None: the access check did not run (a public path) or refused the request
    page: str | None = None  # the page the request is for (access/pages.py); None before the access check
    callback_body: dict[str, Any] | None = None  # the callback body the guard accepted, parsed once


def this_request() -> RequestContext:
    """Return this request's record, empty until the checks write it."""
    context = g.get(CONTEXT_KEY)
    if context is None:
        context = RequestContext()
        setattr(g, CONTEXT_KEY, context)
    return context
