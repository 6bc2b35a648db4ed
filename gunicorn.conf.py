"""Gunicorn settings for Switchboard in production: `gunicorn -c gunicorn.conf.py`.

Sized for a 2-core host: four worker processes of four threads each. Callbacks
spend most of their time waiting on the database or Redis, so threads serve
many watchers per process, and four processes keep both cores busy.

The app is loaded in the master before forking (`preload_app`), so the workers
share the pages of Dash, pandas and Plotly instead of each importing its own
copy. Each worker then drops the database connections it inherited and opens
its own (`post_fork`).

Every setting can be overridden on the command line or with GUNICORN_CMD_ARGS;
SWITCHBOARD_BIND, SWITCHBOARD_WORKERS and SWITCHBOARD_THREADS are read here.
"""
import os

wsgi_app = "app:create_server()"
bind = os.environ.get("SWITCHBOARD_BIND", "127.0.0.1:8050")
workers = int(os.environ.get("SWITCHBOARD_WORKERS", "4"))
worker_class = "gthread"
threads = int(os.environ.get("SWITCHBOARD_THREADS", "4"))
preload_app = True

# A leak guard: each worker is replaced after about a thousand requests, never all at once.
max_requests = 1000
max_requests_jitter = 200

timeout = 30  # a callback never legitimately takes this long: the statement limit is 5 s
graceful_timeout = 20
keepalive = 5

# No query strings (they carry searches: names, phone numbers) and no client addresses in the access log.
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"


def post_fork(server, worker):
    """Give the new worker its own database connections, not copies of the master's."""
    from services import EXTENSION_KEY

    app = worker.app.wsgi()
    services = app.extensions.get(EXTENSION_KEY)
    if services is not None:
        services.reader.dispose(close=False)
