"""Who may see what: roles, the parts of the dashboard each may use, and the viewer of a request.

The dashboard is made of areas (one per widget, plus the page shell). Each widget
names the roles that see it (widgets/registry.py); the pages each role has and the
callbacks each page may run follow from those (access/pages.py).

- admin: everything, the wallboard too (at /wall, to see what the floor sees);
- support: ongoing calls and the activity feed of their own companies, phone
  numbers masked but for the last 3 digits;
- ops: headline counts, memory and what each widget costs; no names or numbers;
- wallboard: a TV on the call-center floor: the wallboard only (headline figures and the per-company
  table, every company), read-only, no customer names or numbers; it lands on the wallboard.
"""
from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
SUPPORT = "support"
OPS = "ops"
WALLBOARD = "wallboard"
ROLES = (ADMIN, SUPPORT, OPS, WALLBOARD)

SHELL = "shell"  # the page around the widgets: every role's
METRICS_ROLES = frozenset({ADMIN, OPS})
VISIBLE_PHONE_DIGITS = 3
MASK = "•"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: what the widgets need to scope and mask their rows."""

    name: str
    role: str
    company_ids: tuple[int, ...] | None  # None: every company

    @property
    def masks_phones(self) -> bool:
        return self.role == SUPPORT

    @property
    def sees_one_company(self) -> bool:
        """Tell whether this viewer is scoped to a single company (no company filter or column needed)."""
        return self.company_ids is not None and len(set(self.company_ids)) == 1

    def scoped(self, chosen: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Return the companies a query may read: the chosen ones within this viewer's (all of its if none)."""
        if self.company_ids is None:
            return chosen
        if chosen is None:
            return self.company_ids
        allowed = set(self.company_ids)
        return tuple(company for company in chosen if company in allowed)


LOCAL_DEMO_VIEWER = Viewer(name="local demo", role=ADMIN, company_ids=None)
# Who gunicorn's master is while it warms the page up before forking (serving/warm_up.py): every panel, counted by no limit.
WARM_UP_VIEWER = Viewer(name="warm-up", role=ADMIN, company_ids=None)
# The warm-up's requests carry this object in their WSGI environ (serving/warm_up.py sets it): no request from
# outside can, so only the master's own requests are its viewer.
WARM_UP_ENVIRON_KEY = "switchboard.warm_up"
WARM_UP_MARK = object()


def is_warm_up(environ) -> bool:
    """Tell whether a request is the master's own warm-up (never true for a request from outside)."""
    return environ.get(WARM_UP_ENVIRON_KEY) is WARM_UP_MARK


def mask_phone(number: str | None) -> str | None:
    """Return a phone number with every digit but the last three masked: '+4930…' -> '+•••••••456'."""
    if number is None:
        return None
    digits_seen = 0
    masked = []
    for character in reversed(number):
        if character.isdigit():
            digits_seen += 1
            masked.append(character if digits_seen <= VISIBLE_PHONE_DIGITS else MASK)
        else:
            masked.append(character)
    return "".join(reversed(masked))
