"""Tiers and service markers, applied from where a test lives and what it uses, and held to at run time.

- The folder under tests/ is the tier: unit, app, services, system, browser.
- A MariaDB backend (the `mariadb` parameter of the backend fixtures, `seeded_mariadb`) marks `mariadb`;
  Redis (`redis_url`, `redis_settings`) marks `redis`.
- A test marked `serial` changes something server-wide (MariaDB's general log): under pytest-xdist every serial
  test runs on one worker, one after another (`--dist loadgroup`).
- A unit test that asks for a database, an app or a service fails at collection; a test that reaches MariaDB or
  Redis without its marker fails when it does (`require`), so the markers cannot fall behind the tests.
"""
from __future__ import annotations

import pytest

TIERS = {
    "unit": "pure functions: no database server, no app, no other process",
    "app": "the Flask/Dash app in process, on SQLite and (its mariadb cases) MariaDB",
    "services": "MariaDB and Redis themselves: plans, migrations, the shared cache and stores",
    "system": "several processes: gunicorn, nginx, TCP proxies, servers started and killed",
    "browser": "headless Chromium against a served dashboard",
}
SERVICES = {
    "mariadb": "runs on MariaDB/MySQL (needs SWITCHBOARD_TEST_MYSQL_URL)",
    "redis": "needs Redis (SWITCHBOARD_TEST_REDIS_URL)",
    "serial": "changes server-wide state: runs on one xdist worker, after one another",
}
SERVICE_FIXTURES = {"seeded_mariadb": "mariadb", "redis_url": "redis", "redis_settings": "redis"}
NOT_IN_UNIT = {"empty_database", "seeded_database", "seeded_sqlite", "seeded_mariadb", "reader", "make_dashboard",
               "cli_on", "redis_url", "redis_settings"}

_current: list[pytest.Item] = []
_spent: dict[str, list[float]] = {}  # tier -> the durations of its tests' phases, as the reports came in


BROWSER_LANES = 2
# Each browser module's seconds (setup, calls and teardown summed) in a run of the browser tier alone on a quiet
# machine (`pytest tests/browser -n 2 --durations=0`). The lanes are balanced by them, the heaviest module first onto
# the lightest lane; a module not listed counts as the median. Only the balance rests on them: figures gone stale
# cost minutes, never a result.
BROWSER_MODULE_SECONDS = {
    "test_accessibility.py": 145, "test_dashboard.py": 84, "test_customer_history.py": 57, "test_failures_shown.py": 46,
    "test_wallboard.py": 44, "test_call_details.py": 37, "test_layout_bounds.py": 35, "test_slow_answers.py": 28,
    "test_sign_in.py": 27, "test_page_assets.py": 22, "test_memory_panel.py": 18, "test_harness.py": 7,
    "test_alerts_panel.py": 7,
}

def register_markers(config) -> None:
    for name, meaning in {**TIERS, **SERVICES}.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def tier_of(item: pytest.Item) -> str:
    """Return the tier of a test: the first folder of its path under tests/."""
    tier = tier_of_nodeid(item.nodeid)
    if tier == "other":
        raise pytest.UsageError(f"{item.nodeid}: every test lives in a tier's folder ({', '.join(TIERS)})")
    return tier


def browser_lanes(modules: set[str]) -> dict[str, int]:
    """Return each browser module's lane: the heaviest first, each onto the lane with the fewest seconds so far."""
    known = sorted(BROWSER_MODULE_SECONDS.values())
    median = known[len(known) // 2] if known else 1.0
    seconds = {module: BROWSER_MODULE_SECONDS.get(module.rsplit("/", 1)[-1], median) for module in modules}
    loads, lanes = [0.0] * BROWSER_LANES, {}
    for module in sorted(modules, key=lambda name: (-seconds[name], name)):
        lane = loads.index(min(loads))
        lanes[module], loads[lane] = lane, loads[lane] + seconds[module]
    return lanes


def mark_items(items: list[pytest.Item]) -> None:
    """Mark each test with its tier and the services it uses; refuse a unit test that uses a database or app."""
    lanes = browser_lanes({item.nodeid.split("::")[0] for item in items if tier_of(item) == "browser"})
    for item in items:
        tier = tier_of(item)
        item.add_marker(tier)
        used = set(getattr(item, "fixturenames", ()))
        if tier == "unit" and used & NOT_IN_UNIT:
            raise pytest.UsageError(f"{item.nodeid} is in tests/unit but uses {sorted(used & NOT_IN_UNIT)}: "
                                    "move it to the tier of what it uses")
        services = {SERVICE_FIXTURES[name] for name in used & SERVICE_FIXTURES.keys()}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "mariadb" in {str(value) for value in callspec.params.values()}:
            services.add("mariadb")
        for name in sorted(services - {marker.name for marker in item.iter_markers()}):
            item.add_marker(name)
        if item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.xdist_group("serial"))
        elif tier == "browser":
            # At most BROWSER_LANES browsers at once, each module in one lane: on two cores, four Chromiums beside
            # their servers starved the pages past any sensible wait, while the other tiers keep the rest busy.
            item.add_marker(pytest.mark.xdist_group(f"browser-{lanes[item.nodeid.split('::')[0]]}"))


def entering(item: pytest.Item) -> None:
    _current.append(item)


def leaving(item: pytest.Item) -> None:
    if _current and _current[-1] is item:
        _current.pop()


def require(service: str) -> None:
    """Fail the running test if it reaches `service` (mariadb, redis) without being marked for it."""
    if _current and _current[-1].get_closest_marker(service) is None:
        pytest.fail(f"{_current[-1].nodeid} uses {service} but is not marked `{service}`: ask for its fixture "
                    f"(see tests/support/tiers.py) or mark it @pytest.mark.{service}", pytrace=False)


def tier_of_nodeid(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in TIERS else "other"


def record(report) -> None:
    """Add a test phase's duration to its tier (on the xdist controller too: it receives every report)."""
    _spent.setdefault(tier_of_nodeid(report.nodeid), []).append(report.duration)


def summary(terminalreporter) -> None:
    """Print each tier's tests and their summed time: where the suite's time goes."""
    if not _spent:
        return
    terminalreporter.section("time by tier (summed over the tests; workers run in parallel)")
    for tier in [*TIERS, "other"]:
        if tier in _spent:
            durations = _spent[tier]
            terminalreporter.write_line(f"{tier:<9} {sum(durations):8.1f} s")
