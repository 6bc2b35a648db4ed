"""Switchboard's settings, declared once: name, default, type and help.

The environment, the README's configuration table and the tests all derive
from the SETTINGS table below (the Datasette shape). A setting is read from the
environment variable of the same name; `load_config(overrides)` layers the
defaults, then the environment, then explicit overrides (a test's or the CLI's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive whole number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected a whole number of 0 or more, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def _host_names(text: str) -> tuple[str, ...]:
    """Parse "name,name:port,[::1],.example.com" into the host names Flask's TRUSTED_HOSTS takes."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names or any(character in name for name in names for character in " /*@"):
        raise ValueError(f"expected host names separated by commas (a leading dot for subdomains), got {text!r}")
    return names


def _rate_limits(text: str) -> str:
    """Check "5 per minute;20 per hour" rate limits (the `limits` notation); keep the text."""
    from limits import parse_many  # imported on use: only these settings need it

    parse_many(text)
    return text


def _process_groups(text: str) -> str:
    """Check "name=regex,…" process group patterns; keep the text."""
    from monitoring.memory import parse_group_patterns  # imported on use: only this setting needs it

    parse_group_patterns(text)
    return text


def _rate(text: str) -> str:
    """Check a rate such as "30 per minute" (the `limits` notation); keep the text."""
    from access.work_limits import rate_limit  # imported on use: only these settings need it

    return rate_limit(text)


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL of the platform database (mysql+pymysql://…, mysql+mysqldb://…). "
            "Default: the embedded SQLite demo database instance/switchboard-demo.sqlite3."),
    Setting("DATABASE_READ_URL", None,
            "Optional read replica for the widget queries (same form as DATABASE_URL); "
            "migrations and the demo always use DATABASE_URL."),
    Setting("STATEMENT_TIMEOUT_MS", 5000,
            "Longest a widget query may run before the database cancels it (ms). The reader also waits at most "
            "this plus 1 s to connect and for any one network read or write, so a database that never answers "
            "frees the thread.", _positive_int),
    Setting("QUERY_WAIT_MS", 500,
            "Longest a request waits for another request's computation of the same query before it answers "
            "stale ('waiting for the database') instead of running the query too (ms).", _positive_int),
    Setting("DISPLAY_TIMEZONE", "UTC",
            "Timezone whose midnight starts 'today' in the headline stats, and in which times are shown."),
    Setting("DATABASE_TIMEZONE", "UTC",
            "Timezone the platform stores its timestamps in (the platform's default is UTC)."),
    Setting("ONGOING_CALLS_ROW_CAP", 500,
            "Most ongoing calls one refresh returns (the total is still counted).", _positive_int),
    Setting("ACTIVITY_PAGE_SIZE", 50,
            "Rows per page of the recent customer activity feed.", _positive_int),
    Setting("ACTIVITY_RECENT_ROWS", 2000,
            "Newest feed rows fetched once per poll interval; filtered views and pages among them are answered "
            "from these rows instead of a statement of their own.", _positive_int),
    Setting("ACTIVITY_EXPORT_ROW_CAP", 5000,
            "Most rows a CSV export of the activity feed contains.", _positive_int),
    Setting("SEARCH_RATE_LIMIT", "30 per minute",
            "Most activity searches one user may send to the database (cached answers are not counted), "
            "in the notation of the limits library: '30 per minute', '200 per hour'. Counted in Redis with "
            "CACHE_REDIS_URL, shared by every worker.", _rate),
    Setting("EXPORT_RATE_LIMIT", "6 per minute",
            "Most CSV exports one user may run (each reaches the database), same notation; a user runs one "
            "export at a time.", _rate),
    Setting("PHONE_REGION", "",
            "Country (ISO 3166 code such as DE) of phone numbers typed without their country code in a search, "
            "as in '030 5000001'. Empty: numbers are searched as typed, with their country code (+49… or 0049…)."),
    Setting("PAYLOAD_PREVIEW_KB", 64,
            "Most of one call's provider payload, transcript or analysis read at once when a person opens it "
            "(KB); the database cuts it, so a larger payload never crosses the wire whole.", _positive_int),
    Setting("ONGOING_CALLS_POLL_SECONDS", 5,
            "Poll interval and cache lifetime of the ongoing-calls widget (s).", _positive_int),
    Setting("ACTIVITY_POLL_SECONDS", 15,
            "Poll interval and cache lifetime of the activity feed (s).", _positive_int),
    Setting("HEADLINE_STATS_POLL_SECONDS", 60,
            "Poll interval and cache lifetime of the headline stats (s).", _positive_int),
    Setting("MEMORY_POLL_SECONDS", 10,
            "Poll interval and cache lifetime of the memory charts (s).", _positive_int),
    Setting("SELF_COST_POLL_SECONDS", 10,
            "Poll interval of the self-cost panel (s).", _positive_int),
    Setting("CACHE_REDIS_URL", None,
            "Redis URL; when set, the query cache and monitoring state are shared by all workers."),
    Setting("CACHE_KEY_PREFIX", "switchboard:",
            "Prefix of Switchboard's keys in Redis; cache-clear deletes only these. "
            "Give each deployment sharing one Redis its own."),
    Setting("SECRET_KEY", None,
            "Key that signs session cookies; required to serve on a non-loopback address. Without it a key is "
            "kept in instance/secret_key (loopback only)."),
    Setting("USERS_DATABASE_URL", None,
            "SQLAlchemy URL of Switchboard's own user store (names, password hashes, roles). "
            "Default: instance/users.sqlite. Several hosts share one store on MySQL/MariaDB."),
    Setting("SESSION_HOURS", 12.0,
            "Hours a login lasts before the session cookie expires.", _positive_float),
    Setting("LOGIN_LIMIT_PER_ACCOUNT_ADDRESS", "5 per minute;20 per hour",
            "Sign-in attempts (right or wrong) checked per account name from one client address; past it the "
            "form answers 429 without checking the password.", _rate_limits),
    Setting("LOGIN_LIMIT_PER_ACCOUNT", "100 per hour",
            "Sign-in attempts checked per account name from all addresses together: what it takes to lock a "
            "named user out.", _rate_limits),
    Setting("LOGIN_LIMIT_PER_ADDRESS", "20 per minute;100 per hour",
            "Sign-in attempts checked per client address, whatever the name.", _rate_limits),
    Setting("METRICS_TOKEN", None,
            "Bearer token that lets a scraper read /metrics (Authorization: Bearer …); without it /metrics "
            "needs an ops or admin login."),
    Setting("FORWARDED_PROXIES", 0,
            "Reverse proxies in front of Switchboard whose X-Forwarded-For/-Proto to trust (0: none). Behind one "
            "HTTPS proxy, set 1: client addresses and the Secure cookie flag then come from its headers.",
            _non_negative_int),
    Setting("TRUSTED_HOSTS", ("localhost", "127.0.0.1", "[::1]"),
            "Host names (Host header, any port) Switchboard answers, separated by commas; a leading dot admits "
            "subdomains (.example.com). Others get 400, so a page whose name was rebound to this machine cannot "
            "read it. Behind a reverse proxy: the names people type, which the proxy must pass on as Host.",
            _host_names),
    Setting("SIMULATOR_PERIOD_SECONDS", 3.0,
            "Seconds between two steps of the demo's live simulator.", _positive_float),
    Setting("SIMULATE", True,
            "Run the live simulator in demo mode (the embedded SQLite database only).", _bool),
    Setting("MEMORY_LIMIT_MB", 512,
            "Per-process memory limit drawn on the memory charts (MB).", _positive_int),
    Setting("MEMORY_WARNING_MB", 250,
            "Per-process memory warning level drawn on the memory charts (MB).", _positive_int),
    Setting("MEMORY_SAMPLE_SECONDS", 5.0,
            "Seconds between two memory samples.", _positive_float),
    Setting("MEMORY_RETENTION_HOURS", 24.0,
            "Hours of memory samples kept in the store; older samples are dropped.", _positive_float),
    Setting("MEMORY_PROCESS_GROUPS", "php-fpm=php-fpm,mysqld=mysqld|mariadbd,gunicorn=gunicorn,redis=redis-server",
            "Process groups whose memory is summed: name=regex pairs separated by commas, each regex "
            "searched in the process name and its command line.", _process_groups),
    Setting("MEMORY_SAMPLER", True,
            "Run the memory sampler in this process (one per host is elected).", _bool),
    # Read by gunicorn.conf.py (production serving), not by the app: here so that they are documented and
    # checked like every other setting.
    Setting("SWITCHBOARD_BIND", "127.0.0.1:8050",
            "Address gunicorn listens on (HOST:PORT, unix:PATH); anything but loopback needs SECRET_KEY and "
            "a user."),
    Setting("SWITCHBOARD_WORKERS", 4,
            "gunicorn worker processes.", _positive_int),
    Setting("SWITCHBOARD_THREADS", 4,
            "Threads of each gunicorn worker.", _positive_int),
)

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


class ConfigError(ValueError):
    """A setting has a value Switchboard cannot use."""


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return every setting: defaults, then the environment, then overrides."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        config[setting.name] = setting.default
        raw = environ.get(setting.name)
        if raw is not None and raw != "":
            try:
                config[setting.name] = setting.parse(raw)
            except ValueError as error:
                raise ConfigError(f"{setting.name}: {error}") from None
    for name, value in (overrides or {}).items():
        if name not in SETTINGS_BY_NAME:
            raise ConfigError(f"unknown setting {name!r}")
        config[name] = value
    return config
