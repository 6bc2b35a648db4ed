"""The embedded demo database: created, migrated and seeded on first start, reused after."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Engine

from demo.generator import COMPANY_TIMEZONE, SeedPlan, SeedSummary, database_is_empty, seed_database
from queries.timeutil import database_now
from schema.migrate import migrate

# Two weeks, so that today compares with yesterday and last week from the first start; as many calls ongoing
# as the load profile has at the hour the demo starts, so the live simulator carries on where the seed stopped.
# 180,000 calls are what the quietest hour (a Sunday night in Berlin) needs to keep about 15 calls ongoing, so a
# random moment of it rarely shows fewer than ten; their payloads are 2 KB rather than production's 16 KB, which
# keeps the file near 500 MB and the first start under half a minute.
DEMO_PLAN = SeedPlan(calls=180_000, appointments=25_000, companies=8, customers_per_company=2_500, days=14,
                     ongoing=None, raw_bytes=2_000, timezone=COMPANY_TIMEZONE)


def prepare_demo_database(engine: Engine, plan: SeedPlan = DEMO_PLAN,
                          on_progress: Callable[[int], None] | None = None,
                          now: datetime | None = None) -> SeedSummary | None:
    """Migrate the demo database and seed it, as of `now` (the wall clock's by default), when it is empty; return
    what was seeded, if anything."""
    migrate(engine)
    if not database_is_empty(engine):
        return None
    return seed_database(engine, plan, now or database_now(), on_progress)
