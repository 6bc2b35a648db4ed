"""The users of the access tests: one of each role, support for one company, all with one password."""
from __future__ import annotations

from access.users import UserStore, default_users_url

PASSWORD = "correct horse battery staple"
SUPPORT_COMPANY = 1


def add_users(instance_path) -> None:
    store = UserStore(default_users_url(instance_path))
    try:
        store.add("ada", "admin", (), PASSWORD)
        store.add("sam", "support", (SUPPORT_COMPANY,), PASSWORD)
        store.add("olga", "ops", (), PASSWORD)
        store.add("wally", "wallboard", (), PASSWORD)
    finally:
        store.dispose()


# The activity feed's controls as a page first sends them.
ACTIVITY_STATE = {"activity-kind.value": [], "activity-status.value": [], "activity-direction.value": [],
                  "activity-window.value": "90d", "activity-search.value": ""}
