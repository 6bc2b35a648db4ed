"""How many sign-in attempts are checked: per address, per account and address, per account.

- Every attempt is counted before its password is checked, by the `limits`
  moving-window strategy's atomic hit on Flask-Limiter's storage: a Lua script
  in Redis, a per-key lock in memory. Counting after the check (Flask-Limiter's
  `deduct_when`) let 16 parallel guesses through a limit of 5: each was tested
  against the count before any of them added to it.
- The tight limit is per (account, address): a guesser locks only itself out.
  A successful sign-in clears it (it counts guesses since the last success).
  The account alone has a much wider limit across addresses, so locking a named
  user out takes many addresses and many attempts, not 20 guesses from one; it
  and the per-address limit count successes too (an office behind one address
  shares it, as it shares the reverse proxy's limit of deploy/nginx).
- The limits are the same for names that do not exist, so answers tell nothing
  about which do.
- With CACHE_REDIS_URL set and Redis unreachable, sign-in fails closed (503):
  counting in each worker instead would multiply every limit by the number of
  workers and hosts. Sessions are kept in the user store, so whoever is signed
  in carries on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import StorageError


class LoginLimitsUnavailable(RuntimeError):
    """The shared store the attempts are counted in cannot be reached."""


def _account(name: str) -> str:
    # Hashed: names never reach Redis; casefolded: "Sam" and "sam" share one budget.
    return hashlib.sha256(name.casefold().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoginLimits:
    limiter: Limiter
    prefix: str
    per_address: tuple[RateLimitItem, ...]
    per_account_address: tuple[RateLimitItem, ...]
    per_account: tuple[RateLimitItem, ...]

    def allow(self, name: str, address: str) -> bool:
        """Count one attempt against each limit in turn; False at the first limit it is over.

        The order matters: an attempt refused per (account, address) never reaches the account's own limit,
        so a guesser's refused attempts do not spend the account's budget.
        """
        account = _account(name)
        steps = ((self.per_address, ("address", address)),
                 (self.per_account_address, self._pair(account, address)),
                 (self.per_account, ("account", account)))
        try:
            return all(self.limiter.limiter.hit(item, self.prefix, "login", *identifiers)
                       for items, identifiers in steps for item in items)
        except StorageError as error:
            raise LoginLimitsUnavailable(str(error)) from error

    def signed_in(self, name: str, address: str) -> None:
        """Forget this account's guesses from this address: the person who knows the password is here."""
        try:
            for item in self.per_account_address:
                self.limiter.limiter.clear(item, self.prefix, "login", *self._pair(_account(name), address))
        except StorageError as error:
            raise LoginLimitsUnavailable(str(error)) from error

    @staticmethod
    def _pair(account: str, address: str) -> tuple[str, ...]:
        return "account-address", account, address


def install_login_limits(server: Flask, config: dict) -> LoginLimits:
    """Attach Flask-Limiter's storage (Redis when CACHE_REDIS_URL is set) and return the login limits."""
    redis_url = config["CACHE_REDIS_URL"]
    prefix = f"{config['CACHE_KEY_PREFIX']}limits"
    limiter = Limiter(
        get_remote_address, app=server, storage_uri=redis_url or "memory://", key_prefix=prefix,
        strategy="moving-window",
        # Storage errors surface as StorageError: login fails closed rather than counting per worker.
        storage_options={"socket_timeout": 1, "socket_connect_timeout": 1, "wrap_exceptions": True}
        if redis_url else {},
    )
    return LoginLimits(limiter, prefix, tuple(parse_many(config["LOGIN_LIMIT_PER_ADDRESS"])),
                       tuple(parse_many(config["LOGIN_LIMIT_PER_ACCOUNT_ADDRESS"])),
                       tuple(parse_many(config["LOGIN_LIMIT_PER_ACCOUNT"])))
