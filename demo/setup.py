"""The embedded demo database: created, migrated and seeded on first start, reused after."""
from __future__ import annotations

from typing import Callable

from sqlalchemy.engine import Engine

from demo.generator import SeedPlan, SeedSummary, database_is_empty, seed_database
from queries.timeutil import database_now
from schema.migrate import migrate

# Two weeks, so that today compares with yesterday and last week from the first start; as many calls ongoing
# as the load profile has at the hour the demo starts, so the live simulator carries on where the seed stopped.
DEMO_PLAN = SeedPlan(calls=24_000, appointments=6_000, companies=8, days=14, ongoing=None)


def prepare_demo_database(engine: Engine, plan: SeedPlan = DEMO_PLAN,
                          on_progress: Callable[[int], None] | None = None) -> SeedSummary | None:
    """Migrate the demo database and seed it when it is empty; return what was seeded, if anything."""
    migrate(engine)
    if not database_is_empty(engine):
        return None
    return seed_database(engine, plan, database_now(), on_progress)
