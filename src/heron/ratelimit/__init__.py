"""Braze's per-workspace rate limits: buckets, counting, headers, 429s and operator overrides.

- `buckets`: the table of Braze's buckets and which permission (so which endpoint) uses which.
- `limiter`: `RateLimiter` counts requests in fixed windows with the `limits` package, in this
  process (default) or in Redis (`HERON_REDIS_URL`, shared by every process using the same
  `HERON_REDIS_PREFIX`); `enforce` is called by `heron.http.auth.authenticate` once a key is
  known to hold the endpoint's permission, and the `RateLimitHeaders` middleware adds
  `X-RateLimit-*` (and `Retry-After` on 429) to whatever response the request ends with.
- `overrides`: per-workspace numbers in the `rate_limits` table, set with
  `heron workspaces rate-limit` and re-read by running servers every `REFRESH_SECONDS`.
- `openapi`: the headers and the bucket of every authenticated operation in the document.

`HERON_RATE_LIMITS=off` switches counting and the headers off for the whole server. See
docs/rate-limits.md for the behaviour and the choices where Braze's documentation is silent.
"""

from __future__ import annotations

from heron.ratelimit.buckets import BUCKETS, DEFAULT_BUCKET, MANAGEMENT_BUCKET, Bucket, bucket_for
from heron.ratelimit.limiter import SCOPE_KEY, Decision, RateLimiter, RateLimitHeaders, enforce

__all__ = [
    "BUCKETS",
    "DEFAULT_BUCKET",
    "MANAGEMENT_BUCKET",
    "SCOPE_KEY",
    "Bucket",
    "Decision",
    "RateLimitHeaders",
    "RateLimiter",
    "bucket_for",
    "enforce",
]
