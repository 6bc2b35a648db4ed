"""Switchboard's settings, declared once: name, default, type and help.

The environment, the README's configuration table and the tests all derive
from the SETTINGS table below (the Datasette shape). A setting is read from the
environment variable of the same name; `load_config(overrides)` layers the
defaults, then the environment, then explicit overrides (a test's or the CLI's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

# Where the secret key, the demo database, the user store and the alert and memory stores live unless settings
# say otherwise. Read from the environment at import, not by load_config: gunicorn's start and the CLI need the
# folder before any configuration is loaded (its setting below documents it with the others).
INSTANCE_PATH = Path(os.environ.get("SWITCHBOARD_INSTANCE_PATH") or Path(__file__).resolve().parent / "instance")


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


def _phone_region(text: str) -> str:
    """Check a country code phonenumbers knows (DE, AT, US…); keep it in capitals."""
    import phonenumbers  # imported on use: only this setting needs it

    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"expected a country code such as DE or US (ISO 3166), got {text!r}")
    return region


def _group_limits(text: str) -> str:
    """Check "name=warning:limit,…" per-group memory levels in MB; keep the text."""
    from monitoring.memory import parse_group_limits  # imported on use: only this setting needs it

    parse_group_limits(text)
    return text


def _urls(text: str) -> tuple[str, ...]:
    """Split comma-separated URLs (Apprise's), keeping their order."""
    return tuple(url.strip() for url in text.split(",") if url.strip())


def _weekly_hours(text: str) -> str:
    """Check business hours such as "Mon-Fri 08:00-18:00; Sat 09:00-13:00"; keep the text."""
    from alerts.rules import parse_business_hours  # imported on use: only this setting needs it

    parse_business_hours(text)
    return text


def _levels(text: str) -> tuple[float, float]:
    """Parse "GOOD,BAD": the last value still ok and the last still worth watching; past BAD is an alert.

    GOOD above BAD means higher is better (an answer rate: "85,70"), below it lower is better (a missed rate:
    "10,20")."""
    parts = [part.strip() for part in text.split(",")]
    try:
        good, bad = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"expected two numbers such as 85,70 (ok down to 85, watch down to 70), got {text!r}") from None
    if good == bad:
        raise ValueError(f"the two levels must differ, got {text!r}")
    return good, bad


def _rate(text: str) -> str:
    """Check a rate such as "30 per minute" (the `limits` notation); keep the text."""
    from access.work_limits import rate_limit  # imported on use: only these settings need it

    return rate_limit(text)


def _optional_rate(text: str) -> str:
    """Check a rate, or "none" (no limit), which reads as the empty text."""
    from access.work_limits import optional_rate  # imported on use: only this setting needs it

    return optional_rate(text)


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", None,
            "SQLAlchemy URL of the platform database (mysql+pymysql://…, mysql+mysqldb://…). "
            "Default: the embedded SQLite demo database instance/switchboard-demo.sqlite3."),
    Setting("DATABASE_READ_URL", None,
            "Optional read replica for the widget queries (same form as DATABASE_URL); "
            "migrations and the demo always use DATABASE_URL."),
    Setting("SCHEMA_MAP_FILE", "",
            "TOML schema map naming the platform's own tables and columns for each field Switchboard reads, its "
            "payload columns and its status buckets (`python app.py inspect` proposes one). Unset: the default "
            "map, the table and column names of the README's schema."),
    Setting("STATEMENT_TIMEOUT_MS", 5000,
            "Longest a widget query may run before the database cancels it (ms). The reader also waits at most "
            "this plus 1 s to connect and for any one network read or write, so a database that never answers "
            "frees the thread.", _positive_int),
    Setting("QUERY_WAIT_MS", 500,
            "Longest a request waits for another request's computation of the same query before it answers "
            "with the query's latest result (stale, 'waiting for the database', when older than an interval) "
            "instead of running the query too (ms).", _positive_int),
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
    Setting("PAYLOAD_RATE_LIMIT", "20 per minute",
            "Most payloads, transcripts or analyses one user may have read and prepared (opening one that is "
            "cached, for the call details' interval, is not counted), same notation.", _rate),
    Setting("CALLBACK_RATE_LIMIT", "150 per 10 seconds",
            "Most dashboard requests (callbacks) one signed-in user may send, same notation; over it they are "
            "answered 429 with Retry-After before any work is done. All of a user's tabs count together: a page load "
            "sends about 15, a watching tab 1 to 3 a second, a person clicking through calls and customers a few "
            "more, so this only stops floods. 'none': no limit. The no-user local demo is not counted.",
            _optional_rate),
    Setting("PHONE_REGION", "",
            "Country (ISO 3166 code such as DE) of phone numbers typed the national way in a search: with DE, "
            "'089 66636345' and the fragment '0896663…' match the numbers that start +4989666… Empty: national "
            "digits match as typed, anywhere in a number; +49… or 0049… always match the start. The embedded demo uses "
            "DE, its numbers' country, when this is empty.", _phone_region),
    Setting("CUSTOMER_HISTORY_PAGE_SIZE", 20,
            "Calls and appointments on one page of a customer's history.", _positive_int),
    Setting("PAYLOAD_PREVIEW_KB", 64,
            "Most of one call's provider payload, transcript or analysis read at once when a person opens it "
            "(KB); the database cuts it, so a larger payload never crosses the wire whole.", _positive_int),
    Setting("ONGOING_CALLS_POLL_SECONDS", 5,
            "Poll interval and cache lifetime of the ongoing-calls widget (s).", _positive_int),
    Setting("ACTIVITY_POLL_SECONDS", 15,
            "Poll interval and cache lifetime of the activity feed (s).", _positive_int),
    Setting("HEADLINE_STATS_POLL_SECONDS", 60,
            "Poll interval and cache lifetime of the headline stats (s).", _positive_int),
    Setting("COMPANY_KPIS_POLL_SECONDS", 15,
            "Poll interval and cache lifetime of the per-company live table and the wallboard's table (s).",
            _positive_int),
    Setting("BOOKING_WINDOW_HOURS", 2,
            "A call led to an appointment (the booking rate) when its customer's appointment was created within "
            "this many hours after the call began.", _positive_int),
    Setting("KPI_ANSWERED_RATE_LEVELS", (85.0, 70.0),
            "Answered calls, % of those with an outcome: ok down to the first level, watch down to the second, "
            "alert below (GOOD,BAD).", _levels),
    Setting("KPI_MISSED_RATE_LEVELS", (10.0, 20.0),
            "Missed calls (missed, busy, no answer), %: ok up to the first level, watch up to the second, alert "
            "above.", _levels),
    Setting("KPI_FAILED_RATE_LEVELS", (3.0, 8.0),
            "Failed calls, %: ok up to the first level, watch up to the second, alert above.", _levels),
    Setting("KPI_BOOKING_RATE_LEVELS", (25.0, 10.0),
            "Answered calls that led to an appointment, %: ok down to the first level, watch down to the second, "
            "alert below.", _levels),
    Setting("KPI_P90_TALK_LEVELS", (480.0, 720.0),
            "p90 length of answered calls, seconds: ok up to the first level, watch up to the second, alert "
            "above.", _levels),
    Setting("JUDGE_MIN_CALLS", 20,
            "Calls a rate or p90 must stand on before it is judged against its KPI_*_LEVELS (the calls with an "
            "outcome for the answered, missed and failed rates; the answered calls for the booking rate; the "
            "answered calls with a length for the p90). Below it the company table and the wallboard show the "
            "figure neutral with its count ('0 % · n=3'), and the alert rules on it do not fire.", _positive_int),
    Setting("WALLBOARD_ROTATE_SECONDS", 10,
            "Seconds the wallboard shows one page of companies before the next, when more companies exist than "
            "fit on the screen.", _positive_int),
    Setting("WALLBOARD_SESSION_DAYS", 30.0,
            "Days a wallboard user's login lasts (a TV signed in once stays signed in; other roles: SESSION_HOURS).",
            _positive_float),
    Setting("MEMORY_POLL_SECONDS", 10,
            "Poll interval and cache lifetime of the memory charts (s).", _positive_int),
    Setting("ALERTS_POLL_SECONDS", 10,
            "Poll interval of the alerts panel and the header's alert indicator (s).", _positive_int),
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
    Setting("COMPRESSED_FILES_FOLDER", None,
            "Folder where the page's scripts are kept compressed with brotli at its best (11), by content, so that "
            "only a release's first start compresses them (2-4 s a large file). Default: instance/compressed."),
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
            "Memory limit of each Switchboard worker, drawn on the workers' chart and judged by the badge and the "
            "memory alerts (MB); process groups have their own (MEMORY_GROUP_LIMITS).", _positive_int),
    Setting("MEMORY_WARNING_MB", 250,
            "Memory warning level of each Switchboard worker (MB).", _positive_int),
    Setting("MEMORY_SAMPLE_SECONDS", 5.0,
            "Seconds between two memory samples.", _positive_float),
    Setting("MEMORY_RETENTION_HOURS", 24.0,
            "Hours of memory samples kept in the store; older samples are dropped.", _positive_float),
    Setting("MEMORY_PROCESS_GROUPS", "php-fpm=php-fpm,mysqld=mysqld|mariadbd,gunicorn=gunicorn,redis=redis-server",
            "Process groups whose memory is summed: name=regex pairs separated by commas, each regex "
            "searched in the process name and its command line.", _process_groups),
    Setting("MEMORY_GROUP_LIMITS", "",
            "Memory warning and limit of each process group's sum, in MB: name=warning:limit pairs separated by "
            "commas (php-fpm=250:512; name=none: not judged). A group not listed is drawn without levels and "
            "never judged (MariaDB's own size is not a Switchboard worker's limit). The badge, the charts and "
            "the memory alerts use these figures.", _group_limits),
    Setting("MEMORY_SAMPLER", True,
            "Run the memory sampler in this process (one per host is elected).", _bool),
    Setting("ALERTS", True,
            "Evaluate the alert rules in this process from server start (one evaluator per deployment is "
            "elected; every worker shows the same state).", _bool),
    Setting("ALERT_NOTIFY_URLS", (),
            "Apprise URLs that alerts are sent to, separated by commas (mailto://…, json://…, slack://…, "
            "ntfy://…). Unset: alerts show on the page and in /metrics only.", _urls),
    Setting("ALERT_RULES_FILE", "",
            "TOML file that adds rules or overrides the built-in ones (README, Alerts). Unset: built-in rules only."),
    Setting("ALERT_EVALUATE_SECONDS", 15.0,
            "Seconds between two evaluations of the alert rules (rules may ask for less often).", _positive_float),
    Setting("ALERT_CLEAR_SECONDS", 60.0,
            "How long a firing rule's condition must stay clear before its episode resolves (s): a dip shorter "
            "than this keeps one episode open.", _positive_float),
    Setting("ALERT_REPEAT_SECONDS", 0.0,
            "A reminder while a rule keeps firing, every this many seconds; 0: none (one message when an episode "
            "starts, one when it ends). A rule of the rules file may set its own repeat_seconds.", float),
    Setting("ALERT_PUBLIC_URL", "",
            "Address people open the dashboard at (https://switchboard.example.com), for the links in alert "
            "messages. Unset: messages carry the path only."),
    Setting("ALERT_DISABLED_RULES", "memory_warning",
            "Built-in or file rules switched off, by name, separated by commas."),
    Setting("ALERT_DATABASE_DOWN_SECONDS", 60.0,
            "How long the database must be unreachable before 'database unreachable' fires (s). The rule "
            "probes the database itself (SELECT 1, bounded by ALERT_PROBE_TIMEOUT_SECONDS).", _positive_float),
    Setting("ALERT_PROBE_TIMEOUT_SECONDS", 3.0,
            "Longest the database probe waits to connect or for its answer (s).", _positive_float),
    Setting("ALERT_RULE_ERROR_SECONDS", 600.0,
            "How long a rule may stay unable to evaluate (its state 'error') before 'alert rules cannot be "
            "evaluated' fires (s); an error is never judged as a value.", _positive_float),
    Setting("ALERT_WIDGET_FAILING_SECONDS", 180.0,
            "How long a widget's refreshes may fail before 'widget failing' fires (s).", _positive_float),
    Setting("ALERT_WIDGET_STALE_POLLS", 10,
            "Failed refreshes in a row of one widget before 'widget stale' fires.", _positive_int),
    Setting("ALERT_MEMORY_SECONDS", 120.0,
            "How long memory must stay over a level (or the host low) before a memory rule fires (s).",
            _positive_float),
    Setting("ALERT_HOST_AVAILABLE_MB", 256,
            "'host memory low' fires when the host's available memory stays below this (MB).", _positive_int),
    Setting("ALERT_HOST_SWAP_MB", 64,
            "'host swapping' fires when the host swapped out more than this in 5 minutes (MB).", _positive_int),
    Setting("ALERT_ONGOING_CALLS_MAX", 200,
            "'call storm' fires when more calls than this are ongoing at once.", _positive_int),
    Setting("ALERT_CALLS_DROP_PERCENT", 30,
            "'calls dropped' fires when the last hour's calls are below this share (%) of the same hour on the "
            "same weekday a week before, during business hours.", _positive_int),
    Setting("ALERT_CALLS_DROP_MIN_CALLS", 20,
            "Calls the same hour a week before must have had for 'calls dropped' to judge (fewer: no data).",
            _positive_int),
    Setting("ALERT_AGENT_SILENT_MINUTES", 30,
            "'agent silent' fires for an AI agent without a call for this long during business hours...",
            _positive_int),
    Setting("ALERT_AGENT_MIN_CALLS", 3,
            "... when it had at least this many calls on average in the same minutes of the 7 days before.",
            _positive_int),
    Setting("ALERT_BUSINESS_HOURS", "Mon-Fri 08:00-18:00",
            "When the call rules apply, in DISPLAY_TIMEZONE: days and hours separated by semicolons "
            "('Mon-Fri 08:00-18:00; Sat 09:00-13:00').", _weekly_hours),
    # Read by gunicorn.conf.py (production serving), not by the app: here so that they are documented and
    # checked like every other setting.
    Setting("SWITCHBOARD_BIND", "127.0.0.1:8050",
            "Address gunicorn listens on (HOST:PORT, unix:PATH); anything but loopback needs SECRET_KEY and "
            "a user."),
    Setting("SWITCHBOARD_INSTANCE_PATH", "",
            "Folder of Switchboard's own files (secret key, embedded demo database, user, alert and memory "
            "stores); empty: `instance/` beside app.py."),
    Setting("SWITCHBOARD_WORKERS", 4,
            "gunicorn worker processes.", _positive_int),
    Setting("SWITCHBOARD_THREADS", 4,
            "Threads of each gunicorn worker.", _positive_int),
)

SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}

# The embedded demo's own defaults, in place of the settings' ones (a value the environment sets still wins): its
# companies are German, so a number typed the national way (030 …) finds theirs, and its day, its times and the
# hours its calls follow are Berlin's (demo.generator.COMPANY_TIMEZONE).
DEMO_DEFAULTS = {"PHONE_REGION": "DE", "DISPLAY_TIMEZONE": "Europe/Berlin"}


def demo_defaults(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the demo's defaults for the settings that `config` holds at their default and the environment
    leaves unset."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in DEMO_DEFAULTS.items()
            if config.get(name, SETTINGS_BY_NAME[name].default) == SETTINGS_BY_NAME[name].default
            and not environ.get(name)}


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
