"""Readiness checks answered within a second, whatever the load.

``/readyz`` needs the database, so it runs in a thread, but not in AnyIO's shared pool:
under load that pool is full of sync routes and database steps, and a probe queued
behind them would not answer for as long as they take (an orchestrator would restart a
healthy server). Checks run on their own small pool instead; concurrent probes of one
app share the check in flight, and a check that takes longer than ``PROBE_TIMEOUT_S``
is answered "not ready (timeout)" while it finishes in the background.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

PROBE_TIMEOUT_S = 0.8

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="facerec-probe")
_running: dict[int, Future[dict[str, Any]]] = {}
_lock = threading.RLock()  # add_done_callback runs _forget at once if the check is done


async def bounded_check(key: object, check: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """``check()``'s answer, or None when it is not there within ``PROBE_TIMEOUT_S``.

    ``key`` names what is checked (the app's state): a check of the same key already
    running is awaited instead of starting another."""
    with _lock:
        work = _running.get(id(key))
        if work is None or work.done():
            work = _pool.submit(check)
            _running[id(key)] = work
            work.add_done_callback(lambda done: _forget(id(key), done))
    try:
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(work)), PROBE_TIMEOUT_S)
    except TimeoutError:
        return None


def _forget(key: int, done: Future[dict[str, Any]]) -> None:
    with _lock:
        if _running.get(key) is done:
            del _running[key]
