"""How many database connections one server process keeps: sized from the concurrency
settings, in this one place.

Every use of a connection happens in a thread: sync routes and the database step of the
inference routes run in AnyIO's worker threads (``WORKER_THREADS`` at most at once), the
readiness probe in its own thread. The inference routes open their session only after
their image has been analysed, so an image waiting for inference holds no connection.
The pool therefore keeps one connection per inference thread (the steady state: each
analysed image goes on to the database) plus ``MARGIN`` for plain database routes and
the probe, and may open as many more as requests can be in their database step at once:
the inference stage's bound, at most the worker threads. A request that still finds
none free within ``POOL_TIMEOUT_S`` gets 503 ``busy`` with Retry-After, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass

from facerec.config import Settings

WORKER_THREADS = 40
"""AnyIO's default thread limiter: the most blocking calls (sync routes, database steps)
one process runs at once."""
MARGIN = 4
POOL_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PoolLimits:
    size: int
    """Connections kept open."""
    overflow: int
    """Connections opened beyond ``size`` under load, closed when returned."""
    timeout_s: float
    """How long a checkout waits for a free connection before giving up."""

    @property
    def total(self) -> int:
        return self.size + self.overflow


def pool_limits(settings: Settings) -> PoolLimits:
    inference = settings.inference
    return PoolLimits(
        size=inference.threads + MARGIN,
        overflow=min(inference.max_pending, WORKER_THREADS),
        timeout_s=POOL_TIMEOUT_S,
    )
