"""The rules: built-in ones tuned by settings, and a TOML file (ALERT_RULES_FILE) that adds or overrides.

A rule is a state-machine Rule (alerts/state.py) plus the source that observes its value (alerts/probes.py),
how often it is evaluated and whether it reads the business database (such rules are held, neither judged
nor notified, while the database itself is unreachable: one page at 3 am says "database unreachable", not
five).

The rules file, e.g.:

    [rules.call_storm]          # a built-in rule, tuned
    threshold = 350
    for_seconds = 120

    [rules.php_fpm_heavy]       # a rule of its own, from one of the sources
    source = "memory_group"
    group = "php-fpm"
    title = "php-fpm over 1 GB"
    threshold = 1024            # MB
    for_seconds = 300
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, time as clock_time
from pathlib import Path
from typing import Any

from alerts.state import ABOVE, BELOW, Rule

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_ENTRY = re.compile(r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")
# Sources whose value comes from the business database (held while it is unreachable).
DATABASE_SOURCES = frozenset({"widget_failing", "widget_stale", "ongoing_calls", "calls_drop", "agent_silent",
                              "company_figure"})
# The company table's judged figures a `company_figure` rule may watch (queries/figures.py), and their levels.
COMPANY_FIGURES = {"answered_rate": "KPI_ANSWERED_RATE_LEVELS", "missed_rate": "KPI_MISSED_RATE_LEVELS",
                   "failed_rate": "KPI_FAILED_RATE_LEVELS", "booking_rate": "KPI_BOOKING_RATE_LEVELS",
                   "p90_talk": "KPI_P90_TALK_LEVELS"}
SOURCES = frozenset({"database", "memory_limit", "memory_warning", "memory_group", "host_available",
                     "host_swapping", "rule_errors"}) | DATABASE_SOURCES
RULE_KEYS = {f.name for f in fields(Rule)} - {"name"}
FILE_KEYS = RULE_KEYS | {"source", "group", "figure", "every_seconds"}


@dataclass(frozen=True)
class RuleSpec:
    rule: Rule
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    every_seconds: float = 0.0  # evaluated at most this often (0: every period)

    @property
    def needs_database(self) -> bool:
        return self.source in DATABASE_SOURCES

    @property
    def name(self) -> str:
        return self.rule.name


def parse_business_hours(text: str) -> tuple[tuple[int, clock_time, clock_time], ...]:
    """Parse "Mon-Fri 08:00-18:00; Sat 09:00-13:00" into (weekday, start, end) entries (Monday = 0)."""
    entries = []
    for part in (piece.strip().lower() for piece in text.split(";") if piece.strip()):
        entries += _hours_entry(part)
    return tuple(entries)


def _hours_entry(part: str) -> list[tuple[int, clock_time, clock_time]]:
    """Parse one "Mon-Fri 08:00-18:00" entry into its (weekday, start, end) entries."""
    match = HOURS_ENTRY.match(part)
    if not match or match["first"] not in DAYS or (match["last"] and match["last"] not in DAYS):
        raise ValueError(f"expected days and hours such as 'Mon-Fri 08:00-18:00', got {part!r}")
    start, end = (_hhmm(match[key]) for key in ("start", "end"))
    if end <= start:
        raise ValueError(f"business hours must end after they start, got {part!r}")
    first, last = DAYS.index(match["first"]), DAYS.index(match["last"] or match["first"])
    return [(day, start, end) for day in _weekdays(first, last)]


def _weekdays(first: int, last: int) -> list[int]:
    """Return the weekdays from first to last, across Sunday when the range wraps (e.g. Sat-Mon)."""
    return [day for day in range(7) if first <= day <= last or (last < first and (day >= first or day <= last))]


def _hhmm(text: str) -> clock_time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return clock_time(23, 59, 59)
    return clock_time(hours, minutes)


def in_business_hours(hours: tuple[tuple[int, clock_time, clock_time], ...], local: datetime) -> bool:
    """Tell whether a local time falls within the business hours."""
    return any(day == local.weekday() and start <= local.time() < end for day, start, end in hours)


def built_in(config: dict[str, Any]) -> list[RuleSpec]:
    """Return the built-in rules, tuned by the settings."""
    clear = float(config["ALERT_CLEAR_SECONDS"])
    memory_for = float(config["ALERT_MEMORY_SECONDS"])
    repeat = max(0.0, float(config["ALERT_REPEAT_SECONDS"]))
    return [replace(spec, rule=replace(spec.rule, repeat_seconds=repeat)) for spec in _built_in(config, clear, memory_for)]


def _built_in(config: dict[str, Any], clear: float, memory_for: float) -> list[RuleSpec]:
    return [
        RuleSpec(Rule("database_down", "database unreachable", threshold=1, unit="",
                      for_seconds=float(config["ALERT_DATABASE_DOWN_SECONDS"]), clear_seconds=0,
                      resolved_title="database reachable again", view="/"), "database"),
        RuleSpec(Rule("widget_failing", "widget refreshes failing",
                      threshold=float(config["ALERT_WIDGET_FAILING_SECONDS"]), unit="s", clear_seconds=clear,
                      resolved_title="widget refreshes succeed again", view="/"), "widget_failing"),
        RuleSpec(Rule("widget_stale", "widget stale", threshold=int(config["ALERT_WIDGET_STALE_POLLS"]),
                      unit=" failed refreshes in a row", clear_seconds=clear, resolved_title="widget fresh again",
                      view="/"), "widget_stale"),
        RuleSpec(Rule("memory_limit", "memory over its limit", threshold=100, clear=95, unit="% of its limit",
                      for_seconds=memory_for, clear_seconds=clear, resolved_title="memory back under its limit",
                      view="/#memory-title"), "memory_limit"),
        RuleSpec(Rule("memory_warning", "memory over its warning level", threshold=100, clear=95,
                      unit="% of its warning level", for_seconds=memory_for, clear_seconds=clear,
                      resolved_title="memory back under its warning level", view="/#memory-title"), "memory_warning"),
        RuleSpec(Rule("host_memory_low", "host low on available memory", direction=BELOW,
                      threshold=int(config["ALERT_HOST_AVAILABLE_MB"]), clear=int(config["ALERT_HOST_AVAILABLE_MB"]) * 1.2,
                      unit=" MB available", for_seconds=memory_for, clear_seconds=clear,
                      resolved_title="host memory available again", view="/#memory-title"), "host_available"),
        RuleSpec(Rule("host_swapping", "host swapping", threshold=int(config["ALERT_HOST_SWAP_MB"]),
                      unit=" MB swapped out in 5 min", for_seconds=0, clear_seconds=max(clear, 300),
                      resolved_title="host no longer swapping", view="/#memory-title"), "host_swapping"),
        RuleSpec(Rule("call_storm", "ongoing calls above the ceiling", threshold=int(config["ALERT_ONGOING_CALLS_MAX"]),
                      clear=int(config["ALERT_ONGOING_CALLS_MAX"]) * 0.9, unit=" ongoing calls", for_seconds=60,
                      clear_seconds=clear, resolved_title="ongoing calls below the ceiling again", view="/"),
                 "ongoing_calls"),
        RuleSpec(Rule("calls_drop", "calls far below last week", direction=BELOW,
                      threshold=int(config["ALERT_CALLS_DROP_PERCENT"]),
                      clear=min(100, int(config["ALERT_CALLS_DROP_PERCENT"]) * 1.5), unit="% of the same hour last week",
                      for_seconds=900, clear_seconds=max(clear, 600), resolved_title="calls back to last week's level",
                      view="/"), "calls_drop",
                 {"min_calls": int(config["ALERT_CALLS_DROP_MIN_CALLS"])}, every_seconds=60),
        RuleSpec(Rule("agent_silent", "AI agent silent", threshold=1, unit=" silent agents", clear_seconds=clear,
                      resolved_title="AI agents taking calls again", view="/"), "agent_silent",
                 {"minutes": int(config["ALERT_AGENT_SILENT_MINUTES"]), "min_calls": float(config["ALERT_AGENT_MIN_CALLS"])},
                 every_seconds=60),
        company_figure_rule(config, "missed_rate", "missed calls", clear),
        # Judged last, from the others' states: a rule that cannot judge must not stay silent for ever.
        RuleSpec(Rule("rules_failing", "alert rules cannot be evaluated", threshold=1, unit=" rules in error",
                      clear_seconds=clear, resolved_title="alert rules evaluated again", view="/#alerts-title"),
                 "rule_errors", {"seconds": float(config["ALERT_RULE_ERROR_SECONDS"])}),
    ]


def company_figure_rule(config: dict[str, Any], figure: str, what: str, clear: float, name: str = "",
                        title: str = "") -> RuleSpec:
    """Return a rule on one of the company table's judged figures, firing past its alert level (the second of
    its KPI_*_LEVELS) in the worst company that has at least JUDGE_MIN_CALLS calls behind it: the table's own
    figure and judgement (queries/figures.py), never a second definition."""
    good, bad = config[COMPANY_FIGURES[figure]]
    lower_is_worse = good > bad
    unit = " s" if figure == "p90_talk" else " %"
    return RuleSpec(Rule(name or figure, title or f"{what} past the alert level in a company",
                         direction=BELOW if lower_is_worse else ABOVE, threshold=bad, clear=good, unit=unit,
                         for_seconds=300, clear_seconds=max(clear, 300),
                         resolved_title=f"{what} back within the alert level", view="/#kpi-title"),
                    "company_figure", {"figure": figure, "min_calls": int(config["JUDGE_MIN_CALLS"])},
                    every_seconds=60)


class RulesFileError(ValueError):
    """The rules file cannot be used (named, with the rule and the key at fault)."""


def load_rules(config: dict[str, Any]) -> list[RuleSpec]:
    """Return the rules in force: the built-in ones, the file's overrides and additions, less the disabled."""
    specs = {spec.name: spec for spec in built_in(config)}
    path = config.get("ALERT_RULES_FILE")
    if path:
        specs.update(_file_specs(config, specs, path))
    disabled = {name.strip() for name in str(config.get("ALERT_DISABLED_RULES") or "").split(",") if name.strip()}
    return [spec for spec in specs.values() if spec.rule.enabled and spec.name not in disabled]


def _file_specs(config: dict[str, Any], specs: dict[str, RuleSpec], path: str) -> dict[str, RuleSpec]:
    """Return the rules file's rules by name: the built-in ones it tunes and the ones it adds."""
    file_specs = {}
    for name, entry in read_rules_file(Path(path)).items():
        base = specs.get(name)
        if base is None and isinstance(entry, dict) and entry.get("source") == "company_figure":
            base = _company_figure_base(config, name, entry, path)
        file_specs[name] = _from_file(name, entry, base, path)
    return file_specs


def read_rules_file(path: Path) -> dict[str, dict[str, Any]]:
    """Return the [rules.<name>] tables of a TOML rules file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RulesFileError(f"ALERT_RULES_FILE {path}: {error}") from None
    rules = data.get("rules", {})
    if not isinstance(rules, dict) or set(data) - {"rules"}:
        raise RulesFileError(f"ALERT_RULES_FILE {path}: expected only [rules.<name>] tables")
    return rules


def _company_figure_base(config: dict[str, Any], name: str, entry: dict, path: str) -> RuleSpec:
    """Return a new rule on a company figure as the file names it, at the figure's own levels until the file
    sets its threshold."""
    if entry.get("figure") not in COMPANY_FIGURES:
        raise RulesFileError(f"ALERT_RULES_FILE {path}, rule {name!r}: source company_figure needs figure = one of "
                             f"{', '.join(COMPANY_FIGURES)}")
    return company_figure_rule(config, entry["figure"], entry["figure"].replace("_", " "),
                               float(config["ALERT_CLEAR_SECONDS"]), name, str(entry.get("title") or name))


def _from_file(name: str, entry: Any, base: RuleSpec | None, path: str) -> RuleSpec:
    """Return a rule from its file entry: an override of a built-in rule, or a new rule of a known source."""
    where = f"ALERT_RULES_FILE {path}, rule {name!r}"
    _check_entry(name, entry, base, where)
    if base is None:
        base = _new_spec(name, entry, where)
    elif "source" in entry and entry["source"] != base.source:
        raise RulesFileError(f"{where}: a built-in rule keeps its source ({base.source})")
    rule = _tuned_rule(base, entry, where)
    return replace(base, rule=rule, every_seconds=float(entry.get("every_seconds", base.every_seconds)))


def _check_entry(name: str, entry: Any, base: RuleSpec | None, where: str) -> None:
    """Refuse a file entry that is not a table of known keys under a valid name."""
    if not re.fullmatch(r"[a-z0-9_]+", name) or not isinstance(entry, dict):
        raise RulesFileError(f"{where}: a rule is a [rules.<name>] table, its name of a-z, 0-9 and _")
    unknown = set(entry) - FILE_KEYS
    if unknown:
        raise RulesFileError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(FILE_KEYS)})")
    if "figure" in entry and (base is None or base.source != "company_figure"):
        raise RulesFileError(f"{where}: `figure` is a key of source company_figure only")


def _new_spec(name: str, entry: dict[str, Any], where: str) -> RuleSpec:
    """Return the untuned rule a file entry adds, from its source, threshold and title."""
    source = entry.get("source")
    if source not in SOURCES or "threshold" not in entry:
        raise RulesFileError(f"{where}: a new rule needs a threshold and a source, one of {sorted(SOURCES)}")
    if source == "memory_group" and not isinstance(entry.get("group"), str):
        raise RulesFileError(f"{where}: source memory_group needs group = \"<process group name>\"")
    return RuleSpec(Rule(name, str(entry.get("title") or name), threshold=float(entry["threshold"])), source,
                    {"group": entry.get("group")} if source == "memory_group" else {})


def _tuned_rule(base: RuleSpec, entry: dict[str, Any], where: str) -> Rule:
    """Return the base rule with the file entry's rule keys applied."""
    values = {key: value for key, value in entry.items() if key in RULE_KEYS}
    if base.source == "company_figure" and "threshold" in values and "clear" not in values:
        values["clear"] = None  # the figure's ok level clears its own alert level, not the file's threshold
    try:
        rule = replace(base.rule, **values)
    except (TypeError, ValueError) as error:
        raise RulesFileError(f"{where}: {error}") from None
    if rule.direction not in (ABOVE, BELOW):
        raise RulesFileError(f"{where}: direction must be 'above' or 'below'")
    if base.source == "company_figure" and entry.get("figure", base.params["figure"]) != base.params["figure"]:
        raise RulesFileError(f"{where}: a built-in rule keeps its figure ({base.params['figure']})")
    return rule
