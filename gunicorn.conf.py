"""Gunicorn settings for Switchboard in production: `gunicorn -c gunicorn.conf.py`.

Sized for a 2-core host: four worker processes of four threads each. Callbacks
spend most of their time waiting on the database or Redis, so threads serve
many watchers per process, and four processes keep both cores busy.

The app is loaded in the master before forking (`preload_app`), so the workers
share the pages of Dash, pandas and Plotly instead of each importing its own
copy. Each worker then drops the database connections it inherited and opens
its own (`post_fork`).

Every setting can be overridden on the command line or with GUNICORN_CMD_ARGS;
SWITCHBOARD_BIND, SWITCHBOARD_WORKERS and SWITCHBOARD_THREADS are read here, through config.py's
settings table like every other setting (a bad value stops gunicorn with the message the CLI gives).
"""
import ctypes
import ctypes.util
import functools
import gc
import sys

from config import ConfigError, load_config

# Fewer copy-on-write pages: no collections while the master loads the app, then its objects are
# frozen out of the collector's reach right before each fork (see the gc module's documentation).
gc.disable()

# A server never runs in a notebook, but Dash's Jupyter support imports IPython whenever it is installed:
# 680 modules and 26 MB in the master, and so in every worker's pages. A None entry in sys.modules makes
# that import fail as if IPython were absent (the import system's documented behaviour).
if "IPython" not in sys.modules:
    sys.modules["IPython"] = None

try:
    _settings = load_config()
except ConfigError as error:
    # A SystemExit passes gunicorn's "Failed to read config file" handler, which would print a traceback.
    raise SystemExit(f"invalid setting: {error}") from None

wsgi_app = "app:create_server()"
bind = _settings["SWITCHBOARD_BIND"]
workers = _settings["SWITCHBOARD_WORKERS"]
worker_class = "gthread"
threads = _settings["SWITCHBOARD_THREADS"]
preload_app = True

# A leak guard: each worker is replaced after about a thousand requests, never all at once.
max_requests = 1000
max_requests_jitter = 200

timeout = 30  # a callback never legitimately takes this long: the statement limit is 5 s
graceful_timeout = 20
# Longer than the slowest poll (60 s), so a browser's kept-alive connection is never closed just as it is reused.
keepalive = 75

# gunicornc's control socket is off: Switchboard does not use it, and its default path ($HOME/.gunicorn/gunicorn.ctl)
# is one socket for every gunicorn of the user, so two deployments would steer each other (signals do the same job:
# HUP reloads, TTIN/TTOU add or remove a worker).
control_socket_disable = True
# Only FORWARDED_PROXIES (werkzeug's ProxyFix in the app) decides whether a request came over HTTPS: gunicorn would
# otherwise take X-Forwarded-Proto from any loopback peer, including a client whose header a local proxy passed on.
secure_scheme_headers = {}

# No query strings (they carry searches: names, phone numbers) and no client addresses in the access log.
accesslog = "-"
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = "info"


# glibc's mallopt() parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
FIXED_THRESHOLD_BYTES = 128 * 1024
TRIM_EVERY_REQUESTS = 50
_requests_since_trim = 0


@functools.cache
def _glibc():
    """Return glibc (for mallopt and malloc_trim), or None on a C library without them."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def on_starting(server):
    """Refuse to bind beyond this machine without SECRET_KEY and a user (see access/exposure.py)."""
    from access.exposure import ExposureError, bind_host, check_exposure
    from access.users import open_user_store
    from config import INSTANCE_PATH

    store = open_user_store(_settings, INSTANCE_PATH)
    try:
        check_exposure([bind_host(address) for address in server.cfg.bind], _settings, store.has_users())
    except ExposureError as error:
        server.log.error("%s", error)
        raise SystemExit(1) from None
    finally:
        store.dispose()


def when_ready(server):
    """Before the first fork (gunicorn calls this once): connect the reader engine once, so the dialect's
    first-connect queries (server version, sql_mode, isolation level…) run here instead of in every worker
    and in every worker that max_requests restarts; then warm the app (serving/warm_up.py), so the workers share
    what first use builds instead of each copying it onto private pages. An unset PHONE_REGION that the stored
    numbers call for is a warning here, once (queries/phone_region.py)."""
    from widgets.services import EXTENSION_KEY
    from serving.warm_up import warm_up_before_fork

    flask_app = server.app.wsgi()
    services = flask_app.extensions.get(EXTENSION_KEY)
    if services is None:
        return
    try:
        with services.reader.connect():
            pass
    except Exception as error:  # the database may be down at start: the workers connect when it returns
        server.log.warning("database not reachable at start (%s); the workers will connect later",
                           type(error).__name__)
        services.reader.dispose()
        return
    if services.config["DATABASE_URL"]:  # a platform's database, not the embedded demo
        from queries.phone_region import check_phone_region

        warning = check_phone_region(services.config, services.reader)
        if warning:
            server.log.warning("%s", warning)
    server.log.info("%s", warm_up_before_fork(flask_app, services))


def pre_fork(server, worker):
    """Freeze the master's objects so the collector in a worker never writes to their pages, and give back
    the heap pages that loading the app used and freed, so no worker starts with them."""
    gc.freeze()
    if _glibc() is not None:
        _glibc().malloc_trim(0)


def post_fork(server, worker):
    """Give the new worker its own database connections, a collector, and few malloc arenas."""
    from widgets.services import EXTENSION_KEY

    gc.enable()
    libc = _glibc()
    if libc is not None:
        # Each thread may otherwise get a malloc arena of its own, memory that is rarely given back.
        libc.mallopt(M_ARENA_MAX, 2)
        # Fixed thresholds: glibc otherwise raises them after each large free, so a callback's
        # large buffers (result rows, pickles) come from the heap and stay there once freed.
        libc.mallopt(M_MMAP_THRESHOLD, FIXED_THRESHOLD_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, FIXED_THRESHOLD_BYTES)
    app = worker.app.wsgi()
    services = app.extensions.get(EXTENSION_KEY)
    if services is not None:
        services.reader.dispose(close=False)
        services.users.engine.dispose(close=False)
        if services.alerts is not None:
            if services.alerts.probe_engine is not None:
                services.alerts.probe_engine.dispose(close=False)
            # Alerts are evaluated from server start, not from a first request: every worker runs an
            # evaluator; the one holding the deployment's lease evaluates.
            services.alerts.start()


def post_request(worker, req, environ, resp):
    """Every TRIM_EVERY_REQUESTS requests, hand the heap's free pages back to the system.

    A callback's rows are freed when it returns, but glibc keeps the pages for reuse, so a worker's
    resident memory only ever grows to its busiest moment; malloc_trim (about a millisecond) gives
    them back.
    """
    global _requests_since_trim
    _requests_since_trim += 1
    if _glibc() is not None and _requests_since_trim >= TRIM_EVERY_REQUESTS:
        _requests_since_trim = 0
        _glibc().malloc_trim(0)
