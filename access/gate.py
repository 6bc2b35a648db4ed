"""What every request passes first, before any hook, view or log reads it (issue 12).

- Only trusted host names are answered (Flask's TRUSTED_HOSTS; by default the
  loopback names): a web page whose name was rebound to 127.0.0.1 gets 400, not
  the no-user demo's data. /healthz answers any host: it says only "ok", and
  load balancers and probes send their target's address as the Host.
- A body larger than the callback guard's cap is refused with 413 by its
  Content-Length, unread, whoever asks (Flask's MAX_CONTENT_LENGTH). A chunked
  body without a length is bounded by the same setting: werkzeug stops any
  read past the cap with 413.
"""
from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge, SecurityError

from callback_guard import MAX_BODY_BYTES, json_error

HEALTH_PATH = "/healthz"


def too_large() -> Response:
    return json_error(413, f"request too large: at most {MAX_BODY_BYTES // 1024} KB")


def health() -> Response:
    return Response("ok\n", mimetype="text/plain")


def install_gate(server: Flask, config: dict) -> None:
    """Refuse unknown hosts and oversized bodies before anything reads them; call it before any other hook."""
    server.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, TRUSTED_HOSTS=list(config["TRUSTED_HOSTS"]))
    server.add_url_rule(HEALTH_PATH, "health", health)

    @server.before_request
    def gate() -> Response | None:
        # Flask keeps an untrusted Host's error for after the hooks; answered here, no hook runs for it.
        if isinstance(request.routing_exception, SecurityError):
            if request.path == HEALTH_PATH:
                return health()
            return json_error(400, "this host name is not served here (see the TRUSTED_HOSTS setting)")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return too_large()
        return None

    @server.errorhandler(RequestEntityTooLarge)
    def body_past_the_cap(_error) -> Response:  # a chunked body that went past the cap while being read
        return too_large()
