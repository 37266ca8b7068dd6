"""Login rate limiting: at most ``LOGIN_FAILURES`` wrong passwords per username and client
address in ``LOGIN_WINDOW_SECONDS``; past that the login answers 429 with a sentence.

The failure times live in storage (``ratelimit/login/<hash>.json``), not in process memory:
gunicorn runs several worker processes (and AWS mode several hosts), and a per-process counter
would multiply the allowance by their number. Flask-Limiter would need Redis or memcached for
the same guarantee, a service Teachbox does not otherwise run. A lost update between two
simultaneous failures undercounts by one at most, which this limit tolerates.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable

from teachbox.errors import TeachboxError
from teachbox.storage import ObjectNotFound, Storage

__all__ = ["LOGIN_FAILURES", "LOGIN_WINDOW_SECONDS", "TooManyAttempts", "LoginLimiter"]

_logger = logging.getLogger(__name__)

LOGIN_FAILURES = 10
LOGIN_WINDOW_SECONDS = 15 * 60.0


class TooManyAttempts(TeachboxError):
    status = 429
    code = "too_many_attempts"


def _key(username: str, address: str) -> str:
    # Hashed: usernames are user input, and a key must not carry them verbatim.
    digest = hashlib.sha256(f"{username.strip().lower()}\n{address}".encode()).hexdigest()
    return f"ratelimit/login/{digest}.json"


class LoginLimiter:
    """Counts failed logins per (username, client address) within a sliding window."""

    def __init__(
        self, storage: Storage, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.failures = failures
        self.window = window
        self.clock = clock

    def _recent(self, key: str) -> list[float]:
        try:
            times = self.storage.get_json(key)
        except ObjectNotFound:
            return []
        horizon = self.clock() - self.window
        return [t for t in times if isinstance(t, int | float) and t > horizon]

    def check(self, username: str, address: str) -> None:
        """Raise :class:`TooManyAttempts` when this pair has used up its failures."""
        recent = self._recent(_key(username, address))
        if len(recent) >= self.failures:
            wait_minutes = max(1, round((min(recent) + self.window - self.clock()) / 60))
            raise TooManyAttempts(
                f"Too many failed logins for this account from your address. "
                f"Wait {wait_minutes} minute{'s' if wait_minutes != 1 else ''} and try again."
            )

    def record_failure(self, username: str, address: str) -> None:
        key = _key(username, address)
        recent = self._recent(key)
        self.storage.put_json(key, [*recent, self.clock()])
        if len(recent) + 1 >= self.failures:
            _logger.warning("login for %r from %s locked for %.0f s after %d failures",
                            username, address, self.window, len(recent) + 1)

    def reset(self, username: str, address: str) -> None:
        """A successful login clears the count, so a typo now and then never adds up."""
        key = _key(username, address)
        if self.storage.exists(key):
            self.storage.delete(key)
