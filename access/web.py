"""Logins, sessions and the one check every request passes, whatever route it asks for.

- With no user in the store, Switchboard is a one-person local demo: it answers
  loopback clients only, as an admin, with a "local demo, no login" banner.
- Once a user exists, every route but the login page, its stylesheet and the
  health check needs a session (Flask-Login, signed cookie: HttpOnly,
  SameSite=Lax, Secure over HTTPS, expiring after SESSION_HOURS). The cookie
  holds a session key the user store must still know (access/users.py), so
  signing out, remove-user and add-user --replace end it on every worker.
- The viewer's role decides the page's panels, the callbacks the browser is told
  of (/_dash-dependencies) and which callback requests are served (the rest get
  403); `current_viewer()` gives widgets the company scope and phone masking.
- /metrics takes `Authorization: Bearer METRICS_TOKEN`, or an ops/admin session.
- Sign-in attempts are limited per address, per account and address, and per
  account (access/login_limits.py); security headers come from Flask-Talisman.

The routes and hooks are the `access` blueprint; `init_access` attaches it, the
shared login manager and what is each app's own (its user store, callback
roles, login limits: `Access`, in the app's extensions).
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping

from flask import (Blueprint, Flask, Response, current_app, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_talisman import Talisman
from flask_talisman.talisman import ONE_YEAR_IN_SECS
from werkzeug.middleware.proxy_fix import ProxyFix

from access.exposure import is_loopback_address
from access.gate import HEALTH_PATH
from access.login_limits import LoginLimits, LoginLimitsUnavailable, install_login_limits
from access.pages import MAIN_PAGE, WALL_PATH, WallPageRequests, callbacks_of_page, may_run, page_for
from access.request_context import this_request
from access.roles import LOCAL_DEMO_VIEWER, METRICS_ROLES, WALLBOARD, WARM_UP_VIEWER, Viewer, is_warm_up
from access.users import User, UserStore
from access.callback_guard import json_error
from access.dash_internals import DASH_DEPENDENCIES_PATH


log = logging.getLogger("switchboard.access")

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
LOGIN_STYLESHEET = "/assets/login.css"
PUBLIC_PATHS = frozenset({LOGIN_PATH, HEALTH_PATH, LOGIN_STYLESHEET})
METRICS_PATH = "/metrics"
LIMITS_DOWN_RETRY_SECONDS = 30
CSRF_FIELD = "csrf_token"
HSTS = f"max-age={ONE_YEAR_IN_SECS}; includeSubDomains"  # Talisman's default
SECRET_KEY_FILE = "secret_key"


LIFETIME_KEY = "lifetime_seconds"  # a session's own lifetime, when its role's differs (a wallboard's)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, marked Secure whenever the request came over HTTPS; a session that
    carries its own lifetime (a wallboard's) expires after it."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)

    def get_expiration_time(self, app: Flask, session) -> datetime | None:
        lifetime = session.get(LIFETIME_KEY) if session.permanent else None
        if lifetime:
            return datetime.now(timezone.utc) + timedelta(seconds=float(lifetime))
        return super().get_expiration_time(app, session)


def session_lifetime(role: str) -> timedelta:
    """Return how long a login of this role lasts: WALLBOARD_SESSION_DAYS for a TV, SESSION_HOURS for people."""
    if role == WALLBOARD:
        return timedelta(days=float(_access().wallboard_session_days))
    return current_app.permanent_session_lifetime


def current_viewer() -> Viewer:
    """Return who is asking; the access check has refused the request already if nobody may."""
    viewer = this_request().viewer
    if viewer is None:
        raise PermissionError("no viewer for this request")
    return viewer


def csrf_token() -> str:
    """Return this session's token for forms that change something (login, logout)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def _csrf_ok() -> bool:
    sent = request.form.get(CSRF_FIELD, "")
    return bool(sent) and hmac.compare_digest(sent, session.get(CSRF_FIELD, ""))


def secret_key(config: dict, instance_path: str) -> str:
    """Return SECRET_KEY, or a key kept in the instance folder for a loopback-only server."""
    if config["SECRET_KEY"]:
        return config["SECRET_KEY"]
    path = Path(instance_path) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Created once, readable by its owner only; workers forked later read the same key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


# What a browser drops from a URL before parsing it (WHATWG URL standard, "basic URL parser"): every tab, LF and
# CR anywhere; C0 controls and spaces at either end.
_REMOVED_ANYWHERE = str.maketrans("", "", "\t\n\r")
_STRIPPED_AT_THE_ENDS = "".join(map(chr, range(0x21)))


def safe_next(target: str | None) -> str:
    """Return the path on this site to go to after login (its query kept: shared /?call=… links), else "/".

    Hand-written because neither werkzeug nor urllib parses as browsers do: "/", a tab, "/evil.example" is a
    path to urllib but `//evil.example`, another site, to a browser. So the target is first
    cleaned as a browser cleans it, then must be one "/" followed by neither "/" nor "\\" (which browsers read
    as "/"); any other control character left is refused rather than put in a Location header.
    """
    cleaned = (target or "").translate(_REMOVED_ANYWHERE).strip(_STRIPPED_AT_THE_ENDS)
    if not cleaned.startswith("/") or cleaned[1:2] in ("/", "\\") \
            or any(ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0 for character in cleaned):
        return "/"
    return cleaned


def content_security_policy(inline_script_hashes: list[str]) -> dict[str, str | list[str]]:
    """The CSP Dash works with: its own inline loader by hash; eval for AG Grid's cell functions."""
    return {
        "default-src": "'self'",
        "script-src": ["'self'", "'unsafe-eval'", *inline_script_hashes],
        # Dash and Plotly set style attributes on elements.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",
        "worker-src": ["'self'", "blob:"],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


ACCESS_KEY = "switchboard.access"

# Unbound and shared by every app in the process, as Flask-Login allows: what it keeps is the same for all of
# them, and the user store it loads from is the app's own (load_user reaches it through current_app).
login_manager = LoginManager()
login_manager.session_protection = "basic"
blueprint = Blueprint("access", __name__)


@dataclass(frozen=True)
class Access:
    """What one app's access check needs, kept in its extensions: two apps in one process never share it."""

    users: UserStore
    login_limits: LoginLimits
    metrics_token: str
    # On which pages of which roles each callback is (by its output key), as (role, page) pairs: a role may run
    # a callback of any of its pages, and each page learns of its own.
    callback_pages: Mapping[str, frozenset[tuple[str, str]]]
    role_pages: Mapping[str, tuple[str, ...]]  # the pages each role has, the one it lands on first
    wallboard_session_days: float = 30.0


def init_access(server: Flask, dash_app, users: UserStore, config: dict,
                callback_pages: Mapping[str, frozenset[tuple[str, str]]],
                role_pages: Mapping[str, tuple[str, ...]]) -> None:
    """Put every request behind the access check; callback requests are checked further with `may_call`."""
    _init_sessions(server, config)
    # One Talisman per app, not an unbound one: its init_app keeps the options and the app on the instance,
    # so a shared one would give every app the last one's CSP. Login limits are per app for the same reason
    # (Flask-Limiter keeps its storage on the instance).
    Talisman(server, force_https=False, session_cookie_secure=False, frame_options="DENY",
             # HSTS is ours (hsts_over_https): Talisman would also believe a client's own X-Forwarded-Proto.
             referrer_policy="same-origin", strict_transport_security=False,
             content_security_policy=content_security_policy(dash_app.csp_hashes()))
    login_manager.init_app(server)
    server.wsgi_app = WallPageRequests(server.wsgi_app)
    server.extensions[ACCESS_KEY] = Access(users, install_login_limits(server, config), config["METRICS_TOKEN"],
                                           callback_pages, role_pages, config["WALLBOARD_SESSION_DAYS"])
    server.register_blueprint(blueprint)


def _init_sessions(server: Flask, config: dict) -> None:
    """Trust FORWARDED_PROXIES, sign the cookie and set how long a session lasts."""
    if config["FORWARDED_PROXIES"]:
        count = config["FORWARDED_PROXIES"]
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=count, x_proto=count, x_host=count)
    server.secret_key = secret_key(config, server.instance_path)
    server.session_interface = SessionCookies()
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_NAME="switchboard_session",
                         # The session lasts SESSION_HOURS from sign-in, however busy the page is.
                         SESSION_REFRESH_EACH_REQUEST=False,
                         PERMANENT_SESSION_LIFETIME=timedelta(hours=config["SESSION_HOURS"]))


def _access() -> Access:
    return current_app.extensions[ACCESS_KEY]


@login_manager.user_loader
def load_user(session_key: str):
    """Return the signed-in user whose session key the cookie carries, if the app's store still knows it."""
    return _access().users.by_session(session_key)


def may_call(output_key: str) -> bool:
    """Tell whether this request's viewer may run the callback that writes output_key (access/pages.py)."""
    viewer = this_request().viewer
    return viewer is not None and may_run(_access().callback_pages.get(output_key, ()), viewer.role)


@blueprint.after_app_request
def hsts_over_https(response: Response) -> Response:
    # request.is_secure is the connection's scheme, or what FORWARDED_PROXIES trusted proxies said (ProxyFix).
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def show_login(error: str = "", status: int = 200, name: str = "") -> tuple[str, int]:
    return render_template("login.html", error=error, name=name, next=safe_next(request.args.get("next")),
                           csrf_field=CSRF_FIELD, csrf_token=csrf_token()), status


@blueprint.route(LOGIN_PATH, methods=["GET", "POST"])
def login():
    users, login_limits = _access().users, _access().login_limits
    if not users.has_users():
        return redirect("/")
    if request.method != "POST":  # GET, and HEAD as GET (a HEAD is no form: checking it would answer 400)
        return show_login()
    if not _csrf_ok():
        return show_login("The form expired; please sign in again.", 400)
    name, password = request.form.get("name", "")[:128], request.form.get("password", "")[:1024]
    refusal = _over_login_limits(login_limits, name)
    if refusal is not None:
        return refusal
    user = users.authenticate(name, password)
    if user is None:
        log.warning("login refused: wrong name or password")
        return show_login("Wrong name or password.", 401, name=name)
    login_limits.signed_in(name, request.remote_addr or "")
    _start_session(users, user)
    if user.role == WALLBOARD:  # a TV lands on the wallboard, whatever link it was sent from
        return redirect(WALL_PATH)
    return redirect(safe_next(request.args.get("next")))


def _over_login_limits(login_limits: LoginLimits, name: str) -> Response | tuple[str, int] | None:
    """Count this sign-in attempt; return its refusal when the limits say no or cannot be asked, else None."""
    try:
        # Counted before the password is checked, atomically: parallel guesses cannot outrun the count.
        allowed = login_limits.allow(name, request.remote_addr or "")
    except LoginLimitsUnavailable:
        log.error("login refused: the store of sign-in limits (CACHE_REDIS_URL) cannot be reached")
        page, status = show_login("Sign-in is unavailable for a moment; please try again shortly.", 503, name)
        return Response(page, status, headers={"Retry-After": str(LIMITS_DOWN_RETRY_SECONDS)})
    if not allowed:
        return show_login("Too many attempts; wait a few minutes and try again.", 429, name=name)
    return None


def _start_session(users: UserStore, user: User) -> None:
    """Sign the user in on a fresh session that lasts as long as the user's role allows."""
    session.clear()
    lifetime = session_lifetime(user.role)
    login_user(users.start_session(user, lifetime))
    session.permanent = True
    if lifetime != current_app.permanent_session_lifetime:
        session[LIFETIME_KEY] = lifetime.total_seconds()
    # A new token for the signed-in session, set now: the page's concurrent requests never change the
    # session afterwards, so none of their cookies can undo another's change.
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


@blueprint.route(LOGOUT_PATH, methods=["POST"])
def logout():
    if _csrf_ok():
        if current_user.is_authenticated:
            _access().users.end_session(current_user.get_id())  # on the server: a copy of the cookie opens nothing
        logout_user()
        session.clear()
    return redirect(LOGIN_PATH)


def _bearer_ok() -> bool:
    metrics_token = _access().metrics_token
    sent = request.headers.get("Authorization", "")
    return bool(metrics_token) and sent.startswith("Bearer ") \
        and hmac.compare_digest(sent[len("Bearer "):].encode(), metrics_token.encode())


@blueprint.before_app_request
def check_access() -> Response | None:
    path = request.path
    if path in PUBLIC_PATHS:
        return None
    if is_warm_up(request.environ):  # gunicorn's master warming the app in process (see serving/warm_up.py)
        context = this_request()
        context.viewer, context.page = WARM_UP_VIEWER, MAIN_PAGE
        return None
    if path == METRICS_PATH and _bearer_ok():
        return None
    refusal = _set_viewer()
    if refusal is not None:
        return refusal
    context = this_request()
    if path == METRICS_PATH and context.viewer.role not in METRICS_ROLES:
        return json_error(403, "metrics are for ops and admins")
    context.page = viewer_page(context.viewer.role)
    return None


def _set_viewer() -> Response | None:
    """Write who sends this request into its context, or return the refusal for a request from nobody."""
    if not _access().users.has_users():
        if not is_loopback_address(request.remote_addr):
            return json_error(403, "this Switchboard has no users yet and serves its own machine only; "
                                "add one with `python app.py add-user`")
        this_request().viewer = LOCAL_DEMO_VIEWER
        return None
    if current_user.is_authenticated:
        this_request().viewer = Viewer(name=current_user.name, role=current_user.role,
                                       company_ids=current_user.company_ids)
        return None
    return _sign_in_refusal(request.path)


def _sign_in_refusal(path: str) -> Response:
    """Send a page load to the sign-in form; answer anything else (callbacks, metrics) 401."""
    if request.method == "GET" and not path.startswith("/_dash") and path != METRICS_PATH:
        return redirect(url_for("access.login", next=request.full_path if request.query_string else path))
    response = json_error(401, "login required")
    if path == METRICS_PATH:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def viewer_page(role: str) -> str:
    """Return the page this request is for, of the pages the role has (access/pages.py, `page_for`)."""
    return page_for(_access().role_pages.get(role, (MAIN_PAGE,)), request.path, request.environ)


@blueprint.after_app_request
def only_the_viewers_callbacks(response: Response) -> Response:
    context = this_request()
    if request.path != DASH_DEPENDENCIES_PATH or context.viewer is None or response.status_code != 200:
        return response
    callbacks = json.loads(response.get_data())
    page = (context.viewer.role, context.page or MAIN_PAGE)
    response.set_data(json.dumps(callbacks_of_page(callbacks, _access().callback_pages, page)))
    return response
