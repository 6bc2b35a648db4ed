"""What every request passes first, before any hook, view or log reads it (issue 12).

- A body larger than the callback guard's cap is refused with 413 by its
  Content-Length, unread, whoever asks (Flask's MAX_CONTENT_LENGTH). A chunked
  body without a length is bounded by the same setting: werkzeug stops any
  read past the cap with 413.
"""
from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from callback_guard import MAX_BODY_BYTES, json_error


def too_large() -> Response:
    return json_error(413, f"request too large: at most {MAX_BODY_BYTES // 1024} KB")


def install_gate(server: Flask) -> None:
    """Refuse oversized bodies before anything reads them; call it before any other hook is registered."""
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @server.before_request
    def refuse_oversized_bodies() -> Response | None:
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return too_large()
        return None

    @server.errorhandler(RequestEntityTooLarge)
    def body_past_the_cap(_error) -> Response:  # a chunked body that went past the cap while being read
        return too_large()
