"""The retry loop, written once, as a sans-IO state machine the sync and async clients drive.

:class:`Attempts` holds where one request is (attempt number, started, whether a cache object was
already recovered) and answers, for each outcome the client saw, what to do next: wait and try again
(:class:`Wait`), rebuild the call once after a recoverable refusal (:class:`Recover`), or stop (it
raises the coded error). It never sleeps, sends or reads: the caller does, with ``time.sleep`` or
``asyncio.sleep`` and httpx's sync or async client.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Callable

import httpx

from promptc.runtime.errors import ProviderError

_RETRY_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter; a server's ``retry-after`` wins when given.

    ``deadline_s`` bounds the whole request — retries, waits and every read of the answer included.
    """

    max_retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    timeout_s: float = 120.0
    deadline_s: float = 600.0

    @staticmethod
    def retryable_status(status: int) -> bool:
        return status in _RETRY_STATUS or status >= 500

    def delay(self, attempt: int, headers: httpx.Headers | None) -> float:
        if headers is not None:
            ms = headers.get("retry-after-ms")
            if ms:
                try:
                    return max(0.0, float(ms) / 1000)
                except ValueError:
                    pass
            ra = headers.get("retry-after")
            if ra:
                try:
                    return max(0.0, float(ra))
                except ValueError:
                    pass
                try:  # an HTTP date
                    return max(0.0, email.utils.parsedate_to_datetime(ra).timestamp() - time.time())
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass  # unreadable: fall back to backoff
        base = min(self.backoff_max_s, self.backoff_s * (2 ** attempt))
        return base * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Wait:
    """Sleep ``seconds``, then send the same call again."""

    seconds: float


@dataclass(frozen=True)
class Recover:
    """Ask the cache-object manager for a rebuilt call (once); no rebuilt call means raise ``error``."""

    error: ProviderError


class Attempts:
    """One request's retry state. ``attempt`` counts the tries so far (1 while the first is in flight)."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy, self.clock = policy, clock
        self.started = clock()
        self.retries = 0
        self.recovered = False

    @property
    def attempt(self) -> int:
        return self.retries + 1

    @property
    def deadline(self) -> float:
        """The ``clock()`` value after which nothing more is read."""
        return self.started + self.policy.deadline_s

    def timeout(self) -> httpx.Timeout:
        """httpx's per-operation timeout for the next try: never past the deadline."""
        left = max(0.001, self.deadline - self.clock())
        return httpx.Timeout(min(self.policy.timeout_s, left))

    def _wait(self, err: ProviderError, headers: httpx.Headers | None) -> Wait:
        if self.retries >= self.policy.max_retries:
            raise err
        delay = self.policy.delay(self.retries, headers)
        if self.clock() - self.started + delay > self.policy.deadline_s:
            raise err
        self.retries += 1
        return Wait(delay)

    def failed(self, err: ProviderError) -> Wait:
        """No answer (connection error, timeout): wait and retry, or raise ``err``."""
        return self._wait(err, None)

    def refused(self, err: ProviderError, headers: httpx.Headers | None) -> Wait | Recover:
        """An error status: retry a retryable one, offer one recovery for the others, else raise ``err``."""
        if err.retryable:
            return self._wait(err, headers)
        if self.recovered:
            raise err
        return Recover(err)

    def rebuilt(self) -> None:
        """The manager gave a rebuilt call: it is sent as the next attempt (only once per request)."""
        self.recovered = True
        self.retries += 1
