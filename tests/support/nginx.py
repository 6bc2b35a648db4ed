"""Run nginx with the repository's deploy/nginx/switchboard.conf in front of a test's gunicorn, on 127.0.0.1.

nginx runs as a child process in the foreground, with every file it writes in the test's directory. The
shipped site file is used as it stands except for its ports and paths (render_site); the main file written
here stands in for Debian's /etc/nginx/nginx.conf, which includes the site file inside `http { }`.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tests.support.dash_client import HttpDashClient

ROOT = Path(__file__).resolve().parents[2]
SITE_CONF = ROOT / "deploy" / "nginx" / "switchboard.conf"
NGINX = "/usr/sbin/nginx"
SERVER_NAME = "switchboard.example.com"
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def site_setting(name: str) -> str:
    """Return the arguments of directive `name` in the shipped site file (e.g. client_max_body_size); where it
    appears in several blocks, they must agree."""
    found = set(re.findall(rf"^\s*{re.escape(name)}\s+([^;]+);", SITE_CONF.read_text(), re.MULTILINE))
    assert len(found) == 1, f"{name}: {found}"
    return found.pop().strip()


def size_bytes(text: str) -> int:
    """Return nginx's size ("256k", "1m", "512") in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", text).groups()
    return int(number) * SIZE_UNITS[unit.lower()]


def render_site(upstream_port: int, https_port: int, http_port: int, directory: Path) -> str:
    """Return the shipped site file with only its ports and paths changed; each is replaced exactly once, so
    a file that drifts from what the test expects fails here instead of being tested half."""
    replacements = {
        "server 127.0.0.1:8050;": f"server 127.0.0.1:{upstream_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        f"/etc/ssl/certs/{SERVER_NAME}.pem": str(directory / "cert.pem"),
        f"/etc/ssl/private/{SERVER_NAME}.key": str(directory / "key.pem"),
        "/var/log/nginx/switchboard.access.log": str(directory / "access.log"),
    }
    text = SITE_CONF.read_text()
    for production, test in replacements.items():
        assert text.count(production) == 1, f"{production!r} should appear once in {SITE_CONF}"
        text = text.replace(production, test)
    return text


def main_conf(directory: Path, site: Path) -> str:
    """Return the stand-in for Debian's nginx.conf: one worker, logs and temporary files in the directory."""
    # As root, nginx's workers would run as "nobody", who cannot enter pytest's private temporary directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi"))
    return (f"{user}worker_processes 1;\nerror_log {directory / 'error.log'} info;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n    default_type application/octet-stream;\n{temp}\n    include {site};\n}}\n")


def make_certificate(directory: Path) -> Path:
    """Write a self-signed certificate for SERVER_NAME (cert.pem, key.pem); return the certificate's path."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", f"/CN={SERVER_NAME}",
                    "-addext", f"subjectAltName=DNS:{SERVER_NAME}",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, capture_output=True, timeout=30)
    return directory / "cert.pem"


@dataclass
class Nginx:
    port: int  # HTTPS
    http_port: int
    directory: Path
    tls: ssl.SSLContext
    site: str  # the rendered site file

    def connect(self, timeout: float = 5.0) -> ssl.SSLSocket:
        """Open a TLS connection to nginx as a browser asking for SERVER_NAME would (the address is 127.0.0.1)."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            return self.tls.wrap_socket(raw, server_hostname=SERVER_NAME)
        except BaseException:
            raw.close()
            raise

    def connection(self, timeout: float = 5.0) -> http.client.HTTPSConnection:
        """Return an HTTPS connection to nginx for SERVER_NAME (Host header and certificate checked)."""
        connection = http.client.HTTPSConnection(SERVER_NAME, self.port, timeout=timeout, context=self.tls)
        # Only the address changes: SNI, the certificate check and the Host header keep the public name.
        connection._create_connection = lambda address, *args: socket.create_connection(
            ("127.0.0.1", address[1]), *args)
        return connection


class NginxDashClient(HttpDashClient):
    """HttpDashClient over HTTPS through nginx."""

    def __init__(self, proxy: Nginx, timeout: float = 30.0):
        self.connection = proxy.connection(timeout)
        status, body = self.request("GET", "/_dash-dependencies")
        assert status == 200, status
        self.dependencies = json.loads(body)


def wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited while starting"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nginx did not start listening")


@contextmanager
def running_nginx(upstream_port: int, directory: Path) -> Iterator[Nginx]:
    """Start nginx with the shipped site file in front of 127.0.0.1:upstream_port; stop it after."""
    from tests.support.gunicorn import free_port

    directory.mkdir(parents=True, exist_ok=True)
    certificate = make_certificate(directory)
    https_port, http_port = free_port(), free_port()
    site = render_site(upstream_port, https_port, http_port, directory)
    (directory / "switchboard.conf").write_text(site)
    (directory / "nginx.conf").write_text(main_conf(directory, directory / "switchboard.conf"))
    tls = ssl.create_default_context(cafile=str(certificate))
    process = subprocess.Popen([NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"),
                                "-g", f"daemon off; pid {directory / 'nginx.pid'};"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_listening(https_port, process)
        yield Nginx(https_port, http_port, directory, tls, site)
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            _, errors = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    assert "[emerg]" not in errors, errors
