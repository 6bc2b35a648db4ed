"""Switchboard's own users: names, hashed passwords, a role and, for support, their companies.

The store is a small database of Switchboard's own (USERS_DATABASE_URL; by
default a SQLite file in the instance folder), never the platform's: the
dashboard's database user only needs SELECT on the platform. Passwords are
hashed with werkzeug's scrypt; only `python app.py add-user` writes here.

Sessions live here too: each sign-in records a random
key, the signed cookie carries it, and every request looks it up (trusted for at
most LOOKUP_SECONDS per worker). Signing out deletes the key; removing or
replacing a user deletes all of its keys. Every worker and host sharing the
store so stops honouring the cookie within LOOKUP_SECONDS, while a cookie alone,
however well signed, opens nothing once its row is gone.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash, generate_password_hash

# How new passwords are hashed: werkzeug's scrypt, slow on purpose against a stolen store. A check follows the
# method stored with each hash, so lowering this (the test suite does: thousands of sign-ins there test signing
# in, not the hash's strength) changes only the users created afterwards.
PASSWORD_HASH_METHOD = "scrypt"

from access.roles import ROLES, SUPPORT

MIN_PASSWORD_LENGTH = 12
MAX_NAME_LENGTH = 64
LOOKUP_SECONDS = 5.0  # how long a worker trusts what it read; sign-outs and removals take effect within this
SESSION_CACHE_ENTRIES = 10_000  # past this, a worker forgets the session lookups it would re-read anyway

metadata = sa.MetaData()
users_table = sa.Table(
    "switchboard_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(MAX_NAME_LENGTH), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=sa.func.current_timestamp()),
)
user_companies = sa.Table(
    "switchboard_user_companies", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("switchboard_users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("company_id", sa.BigInteger, primary_key=True, autoincrement=False),
)
sessions_table = sa.Table(
    "switchboard_sessions", metadata,
    # The key's SHA-256, not the key: whoever reads the store (a backup, a replica) learns no live session.
    sa.Column("key_hash", sa.String(64), primary_key=True),
    # No foreign key: rows are deleted with their user explicitly (see _delete_user), on SQLite too.
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
)


class UserError(ValueError):
    """A user could not be added or removed (the message says why)."""


@dataclass(frozen=True)
class User:
    """A dashboard user as Flask-Login sees it."""

    id: int
    name: str
    role: str
    company_ids: tuple[int, ...] | None  # None: every company (admin, ops)
    password_hash: str
    # The key of the session this user object was loaded for (UserStore.start_session); kept out of reprs and logs.
    session_key: str | None = dataclasses.field(default=None, repr=False, compare=False)

    # Flask-Login's protocol
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """The id Flask-Login keeps in the cookie: this session's key, never the user's id alone."""
        if self.session_key is None:
            raise ValueError("a user signs in through UserStore.start_session")
        return self.session_key


@dataclass(frozen=True)
class _SessionLookup:
    user_id: int | None  # None: no such session (signed out, removed, expired)
    expires_at: datetime | None
    read_at: float


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC: what every backend's DateTime stores


def default_users_url(instance_path: str | Path) -> str:
    return f"sqlite:///{Path(instance_path) / 'users.sqlite'}"


def open_user_store(config: dict, instance_path: str | Path,
                    clock: Callable[[], float] = time.monotonic) -> "UserStore":
    """Return the store USERS_DATABASE_URL names, or the default file in the instance folder."""
    return UserStore(config["USERS_DATABASE_URL"] or default_users_url(instance_path), clock=clock)


def check_new_user(name: str, role: str, company_ids: tuple[int, ...]) -> None:
    """Raise UserError with a clear message when these cannot make a user (the password is checked apart)."""
    _check_name(name)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    _check_companies(role, company_ids)


def _check_name(name: str) -> None:
    """Raise UserError when the name is empty, too long, unprintable or has surrounding spaces."""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable() or name.strip() != name:
        raise UserError(f"a user name is 1-{MAX_NAME_LENGTH} printable characters without surrounding spaces")


def _check_companies(role: str, company_ids: tuple[int, ...]) -> None:
    """Raise UserError unless the companies fit the role: some for a support user, none for any other, all
    positive."""
    if role == SUPPORT and not company_ids:
        raise UserError("a support user sees only its companies: give at least one --company ID")
    if role != SUPPORT and company_ids:
        raise UserError(f"the {role} role sees every company; --company is for support users")
    if any(company <= 0 for company in company_ids):
        raise UserError("company ids are positive whole numbers")


def check_password(password: str) -> None:
    """Raise UserError when the password is too short to use."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")


class UserStore:
    """Reads and writes the users; reads are kept for LOOKUP_SECONDS per worker, as `clock` counts seconds."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic):
        database = sa.engine.make_url(url)
        if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
            # A fresh checkout has no instance folder yet; SQLite can create the file, not its folder.
            Path(database.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = sa.create_engine(url, pool_pre_ping=True)
        self._lock = threading.Lock()
        self._snapshot: dict[int, User] | None = None
        self._read_at = 0.0
        self._sessions: dict[str, _SessionLookup] = {}
        self._sessions_table_ready = False
        self._clock = clock

    def create_tables(self) -> None:
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def _read_all(self) -> dict[int, User]:
        if not sa.inspect(self.engine).has_table(users_table.name):
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(users_table.c.id, users_table.c.name, users_table.c.role,
                                                users_table.c.password_hash)).all()
            scopes: dict[int, list[int]] = {}
            for user_id, company_id in connection.execute(
                    sa.select(user_companies.c.user_id, user_companies.c.company_id)):
                scopes.setdefault(user_id, []).append(int(company_id))
        return {row.id: User(id=row.id, name=row.name, role=row.role, password_hash=row.password_hash,
                             company_ids=tuple(sorted(scopes.get(row.id, ()))) if row.role == SUPPORT else None)
                for row in rows}

    def users(self, fresh: bool = False) -> dict[int, User]:
        """Every user by id, as read at most LOOKUP_SECONDS ago (or now, when fresh)."""
        with self._lock:
            if fresh or self._snapshot is None or self._clock() - self._read_at >= LOOKUP_SECONDS:
                self._snapshot = self._read_all()
                self._read_at = self._clock()
            return self._snapshot

    def has_users(self) -> bool:
        return bool(self.users())

    def start_session(self, user: User, lifetime: timedelta) -> User:
        """Record a new session for the user; return the user carrying its key (for login_user)."""
        self._ensure_sessions_table()
        key, now = secrets.token_urlsafe(32), _utcnow()
        with self.engine.begin() as connection:
            connection.execute(sessions_table.delete().where(sessions_table.c.expires_at <= now))
            connection.execute(sessions_table.insert().values(
                key_hash=_key_hash(key), user_id=user.id, created_at=now, expires_at=now + lifetime))
        return dataclasses.replace(user, session_key=key)

    def by_session(self, key: str) -> User | None:
        """Return the user whose live session has this key, or None (signed out, removed, replaced, expired)."""
        lookup = self._session_lookup(_key_hash(key))
        if lookup.user_id is None or lookup.expires_at <= _utcnow():
            return None
        user = self.users().get(lookup.user_id)
        if user is None:  # a user added since this worker's last read, signed in on another worker
            user = self.users(fresh=True).get(lookup.user_id)
        return dataclasses.replace(user, session_key=key) if user is not None else None

    def end_session(self, key: str) -> None:
        """Delete the session with this key (sign-out); other workers stop honouring it within LOOKUP_SECONDS."""
        key_hash = _key_hash(key)
        with self.engine.begin() as connection:
            connection.execute(sessions_table.delete().where(sessions_table.c.key_hash == key_hash))
        with self._lock:
            self._sessions.pop(key_hash, None)

    def _ensure_sessions_table(self) -> None:
        # A store made without the sessions table (by an older version) gains it on first use.
        if not self._sessions_table_ready:
            sessions_table.create(self.engine, checkfirst=True)
            self._sessions_table_ready = True

    def _session_lookup(self, key_hash: str) -> _SessionLookup:
        with self._lock:
            cached = self._sessions.get(key_hash)
        if cached is not None and self._clock() - cached.read_at < LOOKUP_SECONDS:
            return cached
        # Outside the lock: one slow read of the store must not hold every other request of this worker.
        self._ensure_sessions_table()
        read_at = self._clock()
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(sessions_table.c.user_id, sessions_table.c.expires_at)
                                     .where(sessions_table.c.key_hash == key_hash)).first()
        lookup = _SessionLookup(row.user_id if row else None, row.expires_at if row else None, read_at)
        with self._lock:
            if len(self._sessions) >= SESSION_CACHE_ENTRIES:
                self._sessions.clear()
            self._sessions[key_hash] = lookup
        return lookup

    def authenticate(self, name: str, password: str) -> User | None:
        """Return the user when the password is right (the hash is checked even for unknown names)."""
        user = next((u for u in self.users().values() if u.name == name), None)
        if user is None:
            # The same work either way, so the answer's timing does not tell which names exist.
            check_password_hash(_dummy_hash(), password)
            return None
        return user if check_password_hash(user.password_hash, password) else None

    def add(self, name: str, role: str, company_ids: tuple[int, ...], password: str, replace: bool = False) -> User:
        check_new_user(name, role, company_ids)
        check_password(password)
        self.create_tables()
        with self.engine.begin() as connection:
            existing = connection.execute(sa.select(users_table.c.id).where(users_table.c.name == name)).first()
            if existing and not replace:
                raise UserError(f"a user named {name!r} exists; use --replace to give it a new password and role")
            if existing:
                _delete_user(connection, existing.id)
            user_id = connection.execute(users_table.insert().values(
                name=name, role=role, password_hash=generate_password_hash(password, method=PASSWORD_HASH_METHOD))).inserted_primary_key[0]
            if company_ids:
                connection.execute(user_companies.insert(),
                                   [{"user_id": user_id, "company_id": c} for c in sorted(set(company_ids))])
        self._forget()
        return self.users()[user_id]

    def remove(self, name: str) -> None:
        if not sa.inspect(self.engine).has_table(users_table.name):
            raise UserError(f"no user named {name!r}")
        self.create_tables()  # the sessions table, in a store made before it existed
        with self.engine.begin() as connection:
            found = connection.execute(sa.select(users_table.c.id).where(users_table.c.name == name)).first()
            if found is None:
                raise UserError(f"no user named {name!r}")
            _delete_user(connection, found.id)
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._snapshot = None
            self._sessions.clear()


def _delete_user(connection: sa.Connection, user_id: int) -> None:
    """Delete the user, its companies and its sessions (remove-user, and add-user --replace)."""
    # Explicitly, not by the foreign key's cascade: SQLite enforces foreign keys only when asked to.
    connection.execute(sessions_table.delete().where(sessions_table.c.user_id == user_id))
    connection.execute(user_companies.delete().where(user_companies.c.user_id == user_id))
    connection.execute(users_table.delete().where(users_table.c.id == user_id))


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("switchboard: not a password of anyone", method=PASSWORD_HASH_METHOD)
