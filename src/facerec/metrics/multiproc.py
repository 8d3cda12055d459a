"""One scrape sees every worker: ``prometheus_client``'s multiprocess mode.

``facerec serve --workers N`` runs :func:`worker_metrics_dir` in the supervisor before
the workers start: a new empty directory for this run in ``PROMETHEUS_MULTIPROC_DIR``,
which the workers (spawned, so they import ``prometheus_client`` afresh) inherit. Each
worker writes its series into its own files there; a scrape, answered by any worker,
reads them all (``MultiProcessCollector``). A worker that stops cleanly is marked dead,
so its live gauges (queue depth, index state) leave the sums; its counters stay, as
counters must. A worker killed without a clean stop (the supervisor restarts one that
misses its health check) is marked dead by the next scrape, which finds it gone. The
directory is removed when the server stops. One process (``--workers 1``, tests) needs
none of this: its instruments are read directly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from facerec.metrics.collector import DatabaseCollector

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(ENV) or None


@contextmanager
def worker_metrics_dir() -> Iterator[Path]:
    """For the duration of a multi-worker run: the workers' shared metrics directory.

    A directory the operator named in ``PROMETHEUS_MULTIPROC_DIR`` is used, emptied of
    the previous run's files first; otherwise a new temporary one, removed afterwards."""
    given = multiprocess_dir()
    if given is not None:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="facerec-metrics-"))
    os.environ[ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def worker_stopped() -> None:
    """A worker's live gauges leave the sums (called as its lifespan ends)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _ThisProcess(Collector):
    """The default registry (this process's instruments, plus process and GC series)."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def forget_dead_workers(path: Path) -> None:
    """Mark dead the processes whose live gauge files remain but which no longer run."""
    pids = {int(f.stem.rsplit("_", 1)[1]) for f in path.glob("gauge_live*_*.db")}
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:  # alive, another user's process
            continue


def scrape(db: Engine) -> bytes:
    """The text exposition of every series: every worker's, and the database's."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory is not None:
        forget_dead_workers(Path(directory))
        multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(db))
    return generate_latest(registry)
