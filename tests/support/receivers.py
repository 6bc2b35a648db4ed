"""Real receivers for alert deliveries: a JSON webhook over HTTP and an SMTP server (aiosmtpd), on 127.0.0.1.

    with JsonReceiver() as hook, SmtpReceiver() as mail:
        urls = [hook.apprise_url, mail.apprise_url]       # Apprise's json:// and mailto:// to them
        hook.messages, mail.messages                       # what arrived: [{"title", "message"}], [email.Message]
        hook.fail_next(2)                                  # answer 500 to the next 2 posts
"""
from __future__ import annotations

import email
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.support.gunicorn import free_port


class JsonReceiver:
    def __init__(self):
        self.messages: list[dict] = []
        self.refused = 0
        self._fail = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    failing = receiver._fail > 0
                    receiver._fail -= failing
                    if failing:
                        receiver.refused += 1
                    else:
                        receiver.messages.append(json.loads(body or b"{}"))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.apprise_url = f"json://127.0.0.1:{self.port}/hook"

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail = count

    def wait_for(self, count: int, seconds: float) -> list[dict]:
        """Wait until `count` messages arrived (at most `seconds`); return them all."""
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def __enter__(self) -> "JsonReceiver":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Collect:
    def __init__(self, messages: list):
        self.messages = messages

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.port = free_port()
        self.controller = Controller(_Collect(self.messages), hostname="127.0.0.1", port=self.port)
        self.apprise_url = (f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&from=switchboard@example.com"
                            f"&to=oncall@example.com&mode=insecure")

    def wait_for(self, count: int, seconds: float) -> list:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def __enter__(self) -> "SmtpReceiver":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
