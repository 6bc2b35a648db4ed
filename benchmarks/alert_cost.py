"""What alerting costs the database and the server, and that a deployment of many workers notifies once.

Usage (from the repository root):

    python benchmarks/alert_cost.py [--database-url mysql+pymysql://root@127.0.0.1:3306/bench] [--calls 20000]
                                    [--minutes 10]
                                    [--redis redis://127.0.0.1:6379/0] [--evaluators 12]

Part 1, cost: seeds the database (`--calls`, default 20,000; default database: a temporary SQLite file), builds
Switchboard on it with every built-in rule on and business hours all week (so the call rules run), and
runs the elected evaluator for `--minutes` minutes of evaluations at ALERT_EVALUATE_SECONDS (one step per
period, the clock stepped, not waited for). Printed: statements per minute it sends to the business database
(counted on the reader and the probe engines), the database time, and the evaluating process's CPU per minute.

Part 2, duplicates (with `--redis`): starts `--evaluators` evaluators (as 4 workers on each of 3 hosts would
run) on one Redis, each on its own thread at a 0.2 s period, with a real JSON webhook receiving their
notifications through Apprise; the database probe is switched down for 2 s (the rule's duration is 1 s) and up
again. Printed: the notifications received (expected: 1 firing, 1 resolved) and the duplicates (expected: 0).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


SEED_NOW = datetime(2026, 3, 10, 11, 30)  # a Tuesday morning: the call rules have a week behind them


def seed(url: str, calls: int) -> str:
    """Migrate and seed the database at `url` (small payloads: the rules never read them)."""
    from database.engines import create_writer_engine
    from demo.generator import SeedPlan, seed_database
    from schema.migrate import migrate

    writer = create_writer_engine(url)
    migrate(writer)
    seed_database(writer, SeedPlan(calls=calls, appointments=calls // 4, raw_bytes=200), SEED_NOW)
    writer.dispose()
    return url


def cost(database_url: str, minutes: int, folder: Path) -> None:
    import sqlalchemy as sa

    from alerts.evaluator import AlertEvaluator
    from app import create_app
    from widgets.services import EXTENSION_KEY

    app = create_app({"DATABASE_URL": database_url, "MEMORY_SAMPLER": False, "ALERT_DISABLED_RULES": "",
                      "ALERT_BUSINESS_HOURS": "Mon-Sun 00:00-24:00"}, instance_path=folder,
                     clock=lambda: SEED_NOW)
    services = app.server.extensions[EXTENSION_KEY]
    alerts = services.alerts
    statements: list[float] = []
    started: dict[int, float] = {}
    for engine in (services.reader, alerts.probe_engine):
        sa.event.listen(engine, "before_cursor_execute",
                        lambda conn, cursor, *args: started.__setitem__(id(cursor), time.perf_counter()))
        sa.event.listen(engine, "after_cursor_execute",
                        lambda conn, cursor, *args: statements.append(time.perf_counter() - started.pop(id(cursor))))
    period = float(services.config["ALERT_EVALUATE_SECONDS"])
    clock = [time.time()]
    evaluator = AlertEvaluator(alerts.store, alerts.specs, alerts.evaluator.make_context, period, [],
                               where="benchmark", holder="bench", clock=lambda: clock[0])
    steps = int(minutes * 60 / period)
    evaluator.step()  # warm: the platform schema, the first connections
    statements.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        clock[0] += period
        evaluator.step()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    from database.engines import server_flavour

    print(f"cost on {server_flavour(services.reader)}: {len(alerts.specs)} rules, a step every {period:g} s, "
          f"{minutes} minutes of evaluations ({steps} steps)")
    print(f"  statements to the business database: {len(statements) / minutes:.1f} per minute "
          f"({sum(statements) * 1000 / minutes:.1f} ms of database time per minute, slowest "
          f"{max(statements) * 1000:.1f} ms)")
    print(f"  evaluator CPU: {cpu * 1000 / minutes:.1f} ms per minute ({100 * cpu / (minutes * 60):.3f} % of one "
          f"core); wall time per step {wall * 1000 / steps:.1f} ms")
    states = alerts.states()
    print("  states:", ", ".join(f"{name}={state.state}" for name, state in sorted(states.items())))
    services.shutdown()


def duplicates(redis_url: str, evaluators: int) -> None:
    from alerts.delivery import destinations
    from alerts.evaluator import AlertEvaluator
    from alerts.probes import Context
    from alerts.rules import RuleSpec
    from alerts.state import Rule
    from alerts.store import RedisAlertStore
    from tests.support.receivers import JsonReceiver

    prefix = f"sbbench-{uuid.uuid4().hex[:8]}:"
    down = [False]
    period = 0.2
    specs = [RuleSpec(Rule("database_down", "database unreachable", threshold=1, for_seconds=1.0,
                           resolved_title="database reachable again"), "database")]
    stores, running = [], []
    with JsonReceiver() as hook:
        for index in range(evaluators):
            store = RedisAlertStore(redis_url, prefix)
            stores.append(store)

            def context(now: float, store=store) -> Context:
                return Context(config={"DISPLAY_TIMEZONE": "UTC"}, wall=now, database_now=None,
                               probe=lambda: "OperationalError" if down[0] else "", database_label="db",
                               reader=None, memory_store=None, alert_store=store, database_queries={})

            evaluator = AlertEvaluator(store, specs, context, period, destinations([hook.apprise_url]),
                                       where="benchmark", holder=f"host{index // 4}:worker{index % 4}")
            evaluator.start()
            running.append(evaluator)
        time.sleep(1.0)
        down[0] = True
        time.sleep(2.0)
        down[0] = False
        messages = hook.wait_for(2, 10)
        time.sleep(1.5)
        messages = list(hook.messages)
        for evaluator in running:
            evaluator.stop()
    titles = [message["title"] for message in messages]
    firing = sum("FIRING" in title for title in titles)
    resolved = sum("RESOLVED" in title for title in titles)
    print(f"duplicates: {evaluators} evaluators on one Redis, the database down 2 s (rule: 1 s)")
    print(f"  received {len(titles)} notifications: {firing} firing, {resolved} resolved; "
          f"duplicates: {max(0, firing - 1) + max(0, resolved - 1)}")
    client = stores[0]._redis
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    for store in stores:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="an empty database to seed (default: a temporary SQLite file)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls to seed")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--redis", help="Redis URL for the duplicates part (skipped without it)")
    parser.add_argument("--evaluators", type=int, default=12)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = seed(options.database_url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}", options.calls)
        cost(url, options.minutes, Path(folder))
    if options.redis:
        duplicates(options.redis, options.evaluators)


if __name__ == "__main__":
    main()
