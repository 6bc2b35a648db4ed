"""Secure by default: refuse to listen beyond this machine without logins.

With no user, or no SECRET_KEY to sign their sessions, Switchboard is a local
demo and may listen on loopback addresses only (`serve` and gunicorn both ask
here before they bind).
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable


class ExposureError(RuntimeError):
    """Switchboard was asked to listen beyond this machine without what that needs."""


def is_loopback_address(address: str | None) -> bool:
    """Tell whether an IP address (an IPv6 zone allowed) is a loopback address; anything else is not."""
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """Tell whether every address a host name or address resolves to is a loopback address."""
    host = host.strip("[]")
    if host.startswith("unix:"):
        return True  # a Unix socket: only this machine reaches it
    try:
        ipaddress.ip_address(host.split("%")[0])
        return is_loopback_address(host)
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(is_loopback_address(address) for address in addresses)


def bind_host(bind: str) -> str:
    """Return the host of a gunicorn bind ('0.0.0.0:8000', '[::1]:8000', 'unix:/run/x.sock')."""
    if bind.startswith("unix:"):
        return bind
    if bind.startswith("["):
        return bind[1:bind.index("]")]
    return bind.rsplit(":", 1)[0] if ":" in bind else bind


def check_exposure(hosts: Iterable[str], config: dict, has_users: bool) -> None:
    """Raise ExposureError when a non-loopback host is asked for without SECRET_KEY and a user."""
    exposed = [host for host in hosts if not is_loopback_host(host)]
    if not exposed:
        return
    missing = [need for need, present in (("SECRET_KEY is not set", bool(config["SECRET_KEY"])),
                                          ("no user exists (python app.py add-user NAME --role admin)", has_users))
               if not present]
    if missing:
        raise ExposureError(
            f"refusing to listen on {', '.join(exposed)}: {'; '.join(missing)}. Without logins Switchboard "
            "serves this machine only (127.0.0.1).")
