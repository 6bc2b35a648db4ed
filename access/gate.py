"""What every request passes first, before any hook, view or log reads it.

- Only trusted host names are answered (the TRUSTED_HOSTS setting; by default the
  loopback names): a web page whose name was rebound to 127.0.0.1 gets 400, not
  the no-user demo's data. /healthz answers any host: it says only "ok", and
  load balancers and probes send their target's address as the Host. Names are
  matched by werkzeug's own `host_is_trusted`, the check behind Flask's
  TRUSTED_HOSTS; bracketed IPv6 literals ([::1]) are compared here, by address,
  because werkzeug cuts a trusted name at its first colon: 3.1.8 then trusted
  every IPv6 literal for "[::1]", and 3.1.9 none (so Flask's TRUSTED_HOSTS itself
  cannot be set: it would refuse [::1] before any hook runs).
- A body larger than the callback guard's cap is refused with 413 by its
  Content-Length, unread, whoever asks (Flask's MAX_CONTENT_LENGTH). A chunked
  body without a length is bounded by the same setting: werkzeug stops any
  read past the cap with 413.
- A wrong method (405, with its Allow header) or content type (415) gets the
  same short JSON answer as every other refusal, not werkzeug's HTML page.
"""
from __future__ import annotations

import ipaddress
import re

from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed, RequestEntityTooLarge, SecurityError, UnsupportedMediaType
from werkzeug.sansio.utils import host_is_trusted

from access.callback_guard import MAX_BODY_BYTES, json_error

HEALTH_PATH = "/healthz"
IPV6_HOST = re.compile(r"\[(?P<address>[0-9a-f:.]+)\](?::(?P<port>[1-9][0-9]{0,4}))?", re.IGNORECASE)


def _ipv6(text: str) -> ipaddress.IPv6Address | None:
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def host_is_served(host: str | None, trusted: tuple[str, ...]) -> bool:
    """Tell whether a Host header (name or address, any port) is one of the trusted names."""
    literal = IPV6_HOST.fullmatch(host or "")
    if literal is None:
        return host_is_trusted(host, [name for name in trusted if not name.startswith("[")])
    return _ipv6_literal_is_served(literal, trusted)


def _ipv6_literal_is_served(literal: re.Match, trusted: tuple[str, ...]) -> bool:
    """Tell whether a bracketed IPv6 Host, with a port in range if it has one, is by address one of the
    bracketed trusted names."""
    address = _ipv6(literal["address"])
    return address is not None and (literal["port"] is None or int(literal["port"]) <= 65535) and any(
        _ipv6(name[1:-1]) == address for name in trusted if name.startswith("[") and name.endswith("]"))


def too_large() -> Response:
    return json_error(413, f"request too large: at most {MAX_BODY_BYTES // 1024} KB")


def health() -> Response:
    return Response("ok\n", mimetype="text/plain")


def install_gate(server: Flask, config: dict) -> None:
    """Refuse unknown hosts and oversized bodies before anything reads them; call it before any other hook."""
    server.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    trusted = tuple(config["TRUSTED_HOSTS"])
    server.add_url_rule(HEALTH_PATH, "health", health)

    @server.before_request
    def gate() -> Response | None:
        # The Host as the client (or a trusted proxy, see FORWARDED_PROXIES) sent it; first, so no hook runs for
        # a host this server does not answer.
        try:
            served = host_is_served(request.host, trusted)
        except SecurityError:  # characters no host name has
            served = False
        if not served:
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

    @server.errorhandler(MethodNotAllowed)
    def wrong_method(error: MethodNotAllowed) -> Response:
        response = json_error(405, f"{request.method} is not allowed here")
        if error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @server.errorhandler(UnsupportedMediaType)
    def wrong_content_type(_error) -> Response:
        return json_error(415, "the body must be sent as application/json")
