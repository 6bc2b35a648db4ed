"""Where alert state lives, shared by every worker: Redis with CACHE_REDIS_URL, else SQLite in the instance folder.

Both hold the same things:
- the evaluator's lease, one per deployment (taken or renewed only by its holder, as the memory sampler's is
  per host: monitoring/store.py);
- each rule's state (alerts/state.py RuleState) and the episodes, open and closed (the history);
- the outbox: one entry per notification and destination, keyed by the event's id (an episode's "firing" or
  "resolved"), written in the same transaction as the state that caused it and only while the writer holds
  the lease. An entry that exists is never written again, so an evaluator that takes over after another died
  re-sends nothing, and an entry the dead one had not delivered is still there for it to deliver;
- mutes (who muted which rule until when) and each widget query's latest outcome (the failure memory);
- the trail of mute changes: every mute, re-mute and unmute appended with who, when, what and until, and the
  mute it replaced, in the same write as the change itself. A record is never rewritten or removed: a later
  mute replaces the mute in force, never the trail. A person makes a handful a day (about 200 bytes each), so
  the trail is kept whole.

Every write that acts on the evaluation is fenced by the lease: a worker that lost it (stalled past its TTL)
writes nothing.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

import orjson
import redis

from alerts.state import RuleState
from monitoring.sqlite_file import SqliteFile
from monitoring.store import LEAD_SCRIPT  # the same lease: set when free or ours, never over another holder's

SQLITE_FILENAME = "switchboard-alerts.sqlite3"
REDIS_TIMEOUT_SECONDS = 2
HISTORY_KEPT = 500  # episodes kept (newest); their outbox entries go with them
MUTE = "mute"
UNMUTE = "unmute"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class AlertStore(Protocol):
    def try_lead(self, holder: str, ttl: float) -> bool: ...
    def leader(self) -> str | None: ...
    def states(self) -> dict[str, RuleState]: ...
    def commit(self, holder: str, states: dict[str, RuleState], episodes: list[dict], outbox: list[dict]) -> bool: ...
    def episodes(self, limit: int = 50) -> list[dict]: ...
    def outbox(self, episode_ids: list[str] | None = None) -> list[dict]: ...
    def due(self, now: float, limit: int = 20) -> list[dict]: ...
    def update_delivery(self, holder: str, entry: dict, due_at: float | None, sent: bool = False) -> bool:
        """Write an outbox entry while `holder` leads; `sent` records a delivery that happened whoever leads
        now (a lease that lapsed during the send must not leave it claimed, to be sent again)."""
    def mutes(self) -> dict[str, dict]: ...
    def mute(self, rule: str, until: float, by: str, at: float) -> None: ...
    def unmute(self, rule: str, by: str = "", at: float | None = None) -> None: ...
    def mute_changes(self, limit: int = 50) -> list[dict]: ...
    def widget_outcome(self, query: str, at: float, reason: str | None) -> None: ...
    def widget_outcomes(self) -> dict[str, dict]: ...
    def close(self) -> None: ...


def change_record(action: str, rule: str, by: str, at: float | None, until: float | None) -> dict:
    """Return one change of the trail: what was done to which rule, by whom, when, and until when."""
    return {"action": action, "rule": rule, "by": by, "at": time.time() if at is None else at, "until": until}


def open_alert_store(config: dict, instance_path: str | Path) -> AlertStore:
    """Open Redis when CACHE_REDIS_URL is set, else the SQLite file in the instance folder."""
    if config.get("CACHE_REDIS_URL"):
        return RedisAlertStore(config["CACHE_REDIS_URL"], config.get("CACHE_KEY_PREFIX") or "switchboard:")
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteAlertStore(folder / SQLITE_FILENAME)


# KEYS: lease, state, episodes, episode index, outbox, due; ARGV: holder, JSON {states, episodes, outbox, keep},
# the prefix of each episode's set of outbox ids (so an episode dropped from the history takes its entries along).
COMMIT_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local data = cjson.decode(ARGV[2])
for rule, state in pairs(data.states) do redis.call('HSET', KEYS[2], rule, state) end
for _, episode in ipairs(data.episodes) do
  redis.call('HSET', KEYS[3], episode.id, episode.json)
  redis.call('ZADD', KEYS[4], episode.started_at, episode.id)
end
for _, entry in ipairs(data.outbox) do
  if redis.call('HSETNX', KEYS[5], entry.id, entry.json) == 1 then
    redis.call('SADD', ARGV[3] .. entry.episode, entry.id)
    if entry.due then redis.call('ZADD', KEYS[6], entry.due_at, entry.id) end
  end
end
local old = redis.call('ZRANGE', KEYS[4], 0, -(data.keep + 1))
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  local entries = redis.call('SMEMBERS', ARGV[3] .. id)
  for _, entry in ipairs(entries) do
    redis.call('HDEL', KEYS[5], entry)
    redis.call('ZREM', KEYS[6], entry)
  end
  redis.call('DEL', ARGV[3] .. id)
end
return 1
"""

# KEYS: lease, outbox, due; ARGV: holder, id, json, due_at ('' = delivered or given up)
DELIVERY_SCRIPT = """
if ARGV[5] ~= '1' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] == '' then redis.call('ZREM', KEYS[3], ARGV[2]) else redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2]) end
return 1
"""

# KEYS: the query's outcome hash, the set of queries with outcomes; ARGV: query, at, reason ('' = success)
OUTCOME_SCRIPT = """
redis.call('SADD', KEYS[2], ARGV[1])
if ARGV[3] == '' then
  redis.call('HSET', KEYS[1], 'ok_at', ARGV[2], 'failures', 0)
  redis.call('HDEL', KEYS[1], 'failing_since', 'reason')
else
  redis.call('HINCRBY', KEYS[1], 'failures', 1)
  redis.call('HSET', KEYS[1], 'failed_at', ARGV[2], 'reason', ARGV[3])
  redis.call('HSETNX', KEYS[1], 'failing_since', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""


# KEYS: mutes, changes; ARGV: rule, the new mute's JSON ("" to unmute), the change's JSON. The change is appended
# with the mute it replaced, read in the same script: two people muting at once each record what they replaced.
MUTE_SCRIPT = """
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('RPUSH', KEYS[2], '{"change":' .. ARGV[3] .. ',"replaced":' .. (previous or 'null') .. '}')
return 1
"""


def _change(text: str) -> dict:
    entry = orjson.loads(text)
    return {**entry["change"], "replaced": entry["replaced"]}


class RedisAlertStore:
    """Alert state in Redis, shared by every worker on every host."""

    def __init__(self, url: str, prefix: str = "switchboard:"):
        self.keys = prefix + "alerts:"
        self._redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                           socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        self._lead = self._redis.register_script(LEAD_SCRIPT)
        self._commit = self._redis.register_script(COMMIT_SCRIPT)
        self._delivery = self._redis.register_script(DELIVERY_SCRIPT)
        self._outcome = self._redis.register_script(OUTCOME_SCRIPT)
        self._mute = self._redis.register_script(MUTE_SCRIPT)

    def _key(self, name: str) -> str:
        return self.keys + name

    def try_lead(self, holder: str, ttl: float) -> bool:
        """Take or renew the evaluator's lease; True while `holder` holds it."""
        return self._lead(keys=[self._key("lease")], args=[holder, max(1, round(ttl * 1000))]) == 1

    def leader(self) -> str | None:
        return self._redis.get(self._key("lease"))

    def states(self) -> dict[str, RuleState]:
        return {rule: RuleState.from_json(orjson.loads(text))
                for rule, text in self._redis.hgetall(self._key("state")).items()}

    def commit(self, holder: str, states: dict[str, RuleState], episodes: list[dict], outbox: list[dict]) -> bool:
        """Write the rules' states, the episodes they touched and new outbox entries at once, if still leading."""
        data = {"states": {rule: _dumps(state.to_json()) for rule, state in states.items()},
                "episodes": [{"id": e["id"], "started_at": e["started_at"], "json": _dumps(e)} for e in episodes],
                "outbox": [{"id": o["id"], "episode": o["episode"], "due": o["due_at"] is not None,
                            "due_at": o["due_at"] or 0, "json": _dumps(o)} for o in outbox],
                "keep": HISTORY_KEPT}
        keys = [self._key(name) for name in ("lease", "state", "episodes", "episodes:index", "outbox", "due")]
        return self._commit(keys=keys, args=[holder, _dumps(data), self._key("outbox:of:")]) == 1

    def episodes(self, limit: int = 50) -> list[dict]:
        ids = self._redis.zrevrange(self._key("episodes:index"), 0, limit - 1)
        texts = self._redis.hmget(self._key("episodes"), ids) if ids else []
        return [orjson.loads(text) for text in texts if text]

    def outbox(self, episode_ids: list[str] | None = None) -> list[dict]:
        if episode_ids is None:
            return [orjson.loads(text) for text in self._redis.hvals(self._key("outbox"))]
        pipe = self._redis.pipeline(transaction=False)
        for episode in episode_ids:
            pipe.smembers(self._key("outbox:of:") + episode)
        ids = sorted(set().union(*pipe.execute())) if episode_ids else []
        return [orjson.loads(text) for text in (self._redis.hmget(self._key("outbox"), ids) if ids else []) if text]

    def due(self, now: float, limit: int = 20) -> list[dict]:
        ids = self._redis.zrangebyscore(self._key("due"), "-inf", now, start=0, num=limit)
        texts = self._redis.hmget(self._key("outbox"), ids) if ids else []
        return [orjson.loads(text) for text in texts if text]

    def update_delivery(self, holder: str, entry: dict, due_at: float | None, sent: bool = False) -> bool:
        keys = [self._key("lease"), self._key("outbox"), self._key("due")]
        return self._delivery(keys=keys, args=[holder, entry["id"], _dumps(entry),
                                               "" if due_at is None else repr(due_at), "1" if sent else ""]) == 1

    def mutes(self) -> dict[str, dict]:
        return {rule: orjson.loads(text) for rule, text in self._redis.hgetall(self._key("mutes")).items()}

    def mute(self, rule: str, until: float, by: str, at: float) -> None:
        self._mute(keys=[self._key("mutes"), self._key("mute_changes")],
                   args=[rule, _dumps({"until": until, "by": by, "at": at}),
                         _dumps(change_record(MUTE, rule, by, at, until))])

    def unmute(self, rule: str, by: str = "", at: float | None = None) -> None:
        self._mute(keys=[self._key("mutes"), self._key("mute_changes")],
                   args=[rule, "", _dumps(change_record(UNMUTE, rule, by, at, None))])

    def mute_changes(self, limit: int = 50) -> list[dict]:
        """Return the newest changes of the trail, newest first."""
        return [_change(text) for text in reversed(self._redis.lrange(self._key("mute_changes"), -limit, -1))]

    def widget_outcome(self, query: str, at: float, reason: str | None) -> None:
        """Record one computation of a widget query: a success resets its failures, a failure counts one more
        (one script call: every widget computation of every worker makes one)."""
        self._outcome(keys=[self._key("widget:" + query), self._key("widgets")], args=[query, repr(at), reason or ""])

    def widget_outcomes(self) -> dict[str, dict]:
        queries = sorted(self._redis.smembers(self._key("widgets")))
        pipe = self._redis.pipeline(transaction=False)
        for query in queries:
            pipe.hgetall(self._key("widget:" + query))
        return {query: _outcome(fields) for query, fields in zip(queries, pipe.execute()) if fields}

    def close(self) -> None:
        self._redis.close()


def _outcome(fields: dict) -> dict:
    """Return a widget query's outcome with numbers as numbers."""
    numbers = {key: float(fields[key]) for key in ("ok_at", "failed_at", "failing_since") if fields.get(key)}
    return {**numbers, "failures": int(fields.get("failures") or 0), "reason": fields.get("reason") or ""}


SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, "
    "expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rule_state (rule TEXT PRIMARY KEY, state TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS episodes (id TEXT PRIMARY KEY, started_at REAL NOT NULL, episode TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS episodes_started ON episodes (started_at)",
    "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, episode TEXT NOT NULL, due_at REAL, entry TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (due_at)",
    "CREATE TABLE IF NOT EXISTS mutes (rule TEXT PRIMARY KEY, mute TEXT NOT NULL)",
    # Appended to only: no statement here updates or deletes a row of it.
    "CREATE TABLE IF NOT EXISTS mute_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT NOT NULL, "
    "replaced TEXT)",
    "CREATE TABLE IF NOT EXISTS widget_outcomes (query TEXT PRIMARY KEY, ok_at REAL, failed_at REAL, "
    "failing_since REAL, failures INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '')",
)


class SqliteAlertStore(SqliteFile):
    """Alert state in a SQLite file (WAL) shared by the workers of one host (a deployment without Redis)."""

    def __init__(self, path: str | Path):
        super().__init__(path, SQLITE_SCHEMA)

    @staticmethod
    def _holds(db: sqlite3.Connection, holder: str) -> bool:
        row = db.execute("SELECT holder, expires_at FROM lease WHERE id = 1").fetchone()
        return row is not None and row[0] == holder and row[1] >= time.time()

    def try_lead(self, holder: str, ttl: float) -> bool:
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO lease (id, holder, expires_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE lease.holder = excluded.holder OR lease.expires_at < ?", (holder, now + ttl, now))
            return cursor.rowcount == 1

    def leader(self) -> str | None:
        rows = self._query("SELECT holder FROM lease WHERE id = 1 AND expires_at >= ?", (time.time(),))
        return rows[0][0] if rows else None

    def states(self) -> dict[str, RuleState]:
        return {rule: RuleState.from_json(orjson.loads(text))
                for rule, text in self._query("SELECT rule, state FROM rule_state")}

    def commit(self, holder: str, states: dict[str, RuleState], episodes: list[dict], outbox: list[dict]) -> bool:
        with self._transaction() as db:
            if not self._holds(db, holder):
                return False
            db.executemany("INSERT OR REPLACE INTO rule_state (rule, state) VALUES (?, ?)",
                           [(rule, _dumps(state.to_json())) for rule, state in states.items()])
            db.executemany("INSERT OR REPLACE INTO episodes (id, started_at, episode) VALUES (?, ?, ?)",
                           [(e["id"], e["started_at"], _dumps(e)) for e in episodes])
            db.executemany("INSERT OR IGNORE INTO outbox (id, episode, due_at, entry) VALUES (?, ?, ?, ?)",
                           [(o["id"], o["episode"], o["due_at"], _dumps(o)) for o in outbox])
            db.execute("DELETE FROM episodes WHERE id NOT IN "
                       "(SELECT id FROM episodes ORDER BY started_at DESC LIMIT ?)", (HISTORY_KEPT,))
            db.execute("DELETE FROM outbox WHERE episode NOT IN (SELECT id FROM episodes)")
            return True

    def episodes(self, limit: int = 50) -> list[dict]:
        return [orjson.loads(text) for (text,) in
                self._query("SELECT episode FROM episodes ORDER BY started_at DESC LIMIT ?", (limit,))]

    def outbox(self, episode_ids: list[str] | None = None) -> list[dict]:
        entries = [orjson.loads(text) for (text,) in self._query("SELECT entry FROM outbox")]
        return entries if episode_ids is None else [e for e in entries if e["episode"] in set(episode_ids)]

    def due(self, now: float, limit: int = 20) -> list[dict]:
        return [orjson.loads(text) for (text,) in self._query(
            "SELECT entry FROM outbox WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?",
            (now, limit))]

    def update_delivery(self, holder: str, entry: dict, due_at: float | None, sent: bool = False) -> bool:
        with self._transaction() as db:
            if not sent and not self._holds(db, holder):
                return False
            db.execute("UPDATE outbox SET entry = ?, due_at = ? WHERE id = ?", (_dumps(entry), due_at, entry["id"]))
            return True

    def mutes(self) -> dict[str, dict]:
        return {rule: orjson.loads(text) for rule, text in self._query("SELECT rule, mute FROM mutes")}

    def mute(self, rule: str, until: float, by: str, at: float) -> None:
        with self._transaction() as db:
            self._record(db, rule, change_record(MUTE, rule, by, at, until))
            db.execute("INSERT OR REPLACE INTO mutes (rule, mute) VALUES (?, ?)",
                       (rule, _dumps({"until": until, "by": by, "at": at})))

    def unmute(self, rule: str, by: str = "", at: float | None = None) -> None:
        with self._transaction() as db:
            self._record(db, rule, change_record(UNMUTE, rule, by, at, None))
            db.execute("DELETE FROM mutes WHERE rule = ?", (rule,))

    @staticmethod
    def _record(db: sqlite3.Connection, rule: str, change: dict) -> None:
        """Append a change with the mute it replaces, in the transaction that makes it."""
        replaced = db.execute("SELECT mute FROM mutes WHERE rule = ?", (rule,)).fetchone()
        db.execute("INSERT INTO mute_changes (change, replaced) VALUES (?, ?)",
                   (_dumps(change), replaced[0] if replaced else None))

    def mute_changes(self, limit: int = 50) -> list[dict]:
        """Return the newest changes of the trail, newest first."""
        rows = self._query("SELECT change, replaced FROM mute_changes ORDER BY id DESC LIMIT ?", (limit,))
        return [{**orjson.loads(change), "replaced": orjson.loads(replaced) if replaced else None}
                for change, replaced in rows]

    def widget_outcome(self, query: str, at: float, reason: str | None) -> None:
        with self._transaction() as db:
            if reason is None:
                db.execute("INSERT INTO widget_outcomes (query, ok_at, failures) VALUES (?, ?, 0) "
                           "ON CONFLICT (query) DO UPDATE SET ok_at = excluded.ok_at, failures = 0, "
                           "failing_since = NULL, reason = ''", (query, at))
            else:
                db.execute("INSERT INTO widget_outcomes (query, failed_at, failing_since, failures, reason) "
                           "VALUES (?, ?, ?, 1, ?) ON CONFLICT (query) DO UPDATE SET failed_at = excluded.failed_at, "
                           "failures = failures + 1, reason = excluded.reason, "
                           "failing_since = coalesce(failing_since, excluded.failing_since)", (query, at, at, reason))

    def widget_outcomes(self) -> dict[str, dict]:
        rows = self._query("SELECT query, ok_at, failed_at, failing_since, failures, reason FROM widget_outcomes")
        return {query: {**{k: v for k, v in (("ok_at", ok), ("failed_at", failed), ("failing_since", since))
                           if v is not None}, "failures": failures, "reason": reason}
                for query, ok, failed, since, failures, reason in rows}

