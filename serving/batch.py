"""One request per page per tick: the polls a page's widgets send together, answered in one round trip.

A page's widgets poll on their own intervals, each through its own Dash callback, so that each keeps its own
cache entry, freshness line, failure state and figures on the cost panel and /metrics. Their intervals start
together and are multiples of one another, so the polls that fall due at a tick leave the page within a few
milliseconds; the page sends them as the parts of one POST to BATCH_PATH (assets/switchboard.js) instead of one
request each. What one request costs beyond its callback (the HTTP exchange, the proxy, the worker's dispatch)
is paid once per tick instead of once per widget.

Each part is dispatched here as the request it stands for: a POST of its body to the page's own
/_dash-update-component, through the whole application (the trusted-host gate, the access check, the callback
guard and its limits, Dash, the cost and size records), a few at once, and answered in the order sent. A part
refused (a forbidden callback, a limit reached, a malformed body) gets its own answer, and the other parts
theirs. The parts' cookies (a refreshed session) are the batch's. Nothing a part names can choose another path,
method or host.

Only the parts are read from the body: {"parts": [<a callback request>, ...]}; the answer is
{"answers": [{"status": int, "type": content type, "body": text}, ...]}, one per part, in order.
"""
from __future__ import annotations

import io
import json
import threading
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.datastructures import Headers
from werkzeug.test import run_wsgi_app

from access.callback_guard import json_error
from access.dash_internals import DASH_UPDATE_PATH
from access.pages import BATCH_PATH, WALL_PATH

# A page of every panel has about ten polled callbacks; a batch holds at most this many parts.
MAX_PARTS = 32
# Parts run at once, as a browser runs requests over its connections to one host (six): a batch of many parts
# never takes more of a worker than this many threads.
PARALLEL_PARTS = 6
# The part's own request: these keys of the batch's environ are not passed on (the part has its own body, and
# its answer is sent uncompressed inside the batch's, which is compressed as a whole).
NOT_PASSED_ON = ("CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_ACCEPT_ENCODING", "HTTP_CONTENT_LENGTH", "QUERY_STRING")


def install_batches(server: Flask) -> None:
    """Answer BATCH_PATH (and the wallboard's, under WALL_PATH) with the answers of its parts."""
    server.add_url_rule(BATCH_PATH, "switchboard_batch", answer_batch, methods=["POST"])
    server.add_url_rule(WALL_PATH + BATCH_PATH, "switchboard_wall_batch", answer_batch, methods=["POST"])


def answer_batch() -> Response:
    """Dispatch each part of the batch as its own callback request; return their answers, in order."""
    parts = _parts(_body())
    if isinstance(parts, str):
        return json_error(400, parts)
    answers, cookies = [], []
    for status, headers, body in _dispatch_all(parts):
        cookies.extend(headers.getlist("Set-Cookie"))
        answers.append({"status": status, "type": headers.get("Content-Type", ""),
                        "body": body.decode("utf-8", "replace")})
    response = jsonify({"answers": answers})
    response.headers["Cache-Control"] = "no-store"
    for cookie in cookies:
        response.headers.add("Set-Cookie", cookie)
    return response


def _body() -> Any:
    """Return the request's JSON (None when it is not JSON, or nested past what the parser can walk: Python's
    parser raises RecursionError, not a ValueError, for a body of a hundred thousand "[")."""
    if not request.is_json:
        return None
    try:
        return json.loads(request.get_data())
    except (ValueError, RecursionError):
        return None


def _parts(body: Any) -> list[dict] | str:
    """Return the batch's parts, or why the body is not a batch."""
    if not isinstance(body, dict) or not isinstance(body.get("parts"), list):
        return 'a batch is a JSON object {"parts": [callback requests]}'
    parts = body["parts"]
    if not parts or len(parts) > MAX_PARTS:
        return f"a batch holds 1 to {MAX_PARTS} parts"
    if not all(isinstance(part, dict) for part in parts):
        return "each part of a batch is a callback request (a JSON object)"
    return parts


Answer = tuple[int, Headers, bytes]  # status, headers, body


def _dispatch_all(parts: list[dict]) -> list[Answer]:
    """Run the parts PARALLEL_PARTS at a time (this thread and threads made for the batch), and return their
    answers in order: a part waiting on the database holds up none of the others, and the batch is answered when
    its slowest part is, as the same requests sent together over a browser's connections would be. Threads made
    per batch, not a pool: a pool made before gunicorn forks would have no threads in the workers."""
    # PATH_INFO as the batch's own, its last segment replaced: the wallboard's parts stay the wall's requests.
    path = request.environ.get("PATH_INFO", BATCH_PATH)
    base = {key: value for key, value in request.environ.items()
            if key not in NOT_PASSED_ON and (key.isupper() or key.startswith("wsgi."))}
    base.update({"REQUEST_METHOD": "POST", "PATH_INFO": path[: -len(BATCH_PATH)] + DASH_UPDATE_PATH,
                 "QUERY_STRING": "", "CONTENT_TYPE": "application/json"})
    # The application with every middleware around it, as a request from outside meets it.
    application = current_app.wsgi_app
    answers: list[Answer | BaseException | None] = [None] * len(parts)

    def run(index: int) -> None:
        try:
            answers[index] = _dispatch(application, base, json.dumps(parts[index]).encode())
        except BaseException as error:  # raised again in the batch's own thread, as the request's error
            answers[index] = error

    waiting, taking = iter(range(len(parts))), threading.Lock()

    def work() -> None:
        while True:
            with taking:
                index = next(waiting, None)
            if index is None:
                return
            run(index)

    threads = [threading.Thread(target=work, name="switchboard-batch-part", daemon=True)
               for _ in range(min(PARALLEL_PARTS, len(parts)) - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers  # type: ignore[return-value]


def _dispatch(application, base: dict[str, Any], body: bytes) -> Answer:
    """Run one part through the application as a POST of `body` to the page's callback path."""
    environ = {**base, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    chunks, status, headers = run_wsgi_app(application, environ, buffered=True)
    return int(status.split(" ", 1)[0]), headers, b"".join(chunks)
