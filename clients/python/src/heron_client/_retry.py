"""When to retry and how long to wait: Braze's advice, bounded and configurable.

- 429: wait until `X-RateLimit-Reset` (UTC epoch seconds; `Retry-After` when absent), plus a
  little jitter so many clients do not return in the same instant; never longer than
  `max_rate_limit_wait` (then the `RateLimitedError` is raised).
- 5xx, timeouts and connection errors: exponential backoff with full jitter,
  `uniform(0, min(backoff_max, backoff_base * 2**attempt))`.
- At most `max_retries` retries of one call (429s included); 4xx other than 429 never retry.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from heron_client._errors import (
    APIConnectionError,
    HeronClientError,
    RateLimitedError,
    ServerError,
)

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries one call.

    Example:
        >>> RetryPolicy(max_retries=5, backoff_base=0.25, backoff_max=8.0)  # doctest: +ELLIPSIS
        RetryPolicy(max_retries=5, ...)
    """

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_rate_limit_wait: float = 3_600.0
    rate_limit_jitter: float = 0.25
    retry_connection_errors: bool = True

    def __post_init__(self) -> None:
        """Refuse settings that cannot be meant."""
        if self.max_retries < 0 or self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("retry settings must not be negative")

    def delay(
        self, error: HeronClientError, attempt: int, now: float | None = None
    ) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None when `error` is final."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimitedError):
            if error.reset_at is None:  # no header says when: back off as for a 5xx
                return self.backoff(attempt)
            current = time.time() if now is None else now
            wait = max(0.0, error.reset_at - current)
            if wait > self.max_rate_limit_wait:
                return None
            return wait + random.uniform(0, self.rate_limit_jitter)
        if isinstance(error, ServerError) or (
            isinstance(error, APIConnectionError) and self.retry_connection_errors
        ):
            return self.backoff(attempt)
        return None

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number `attempt + 1`."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(0, ceiling)


NO_RETRIES = RetryPolicy(max_retries=0)
