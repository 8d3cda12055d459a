"""``POST /api/v1/recognize`` throughput with SQLite and with PostgreSQL, in one run.

A throw-away PostgreSQL server is started with ``.ci/postgres start`` (Debian's package,
installed if absent, as ``make test-postgres`` does). Then rounds alternate between the
two databases (SQLite, PostgreSQL, SQLite, PostgreSQL, ...), so that the machine's drift
(other load, thermal state) falls on both alike. Each round is ``bench/server.py``'s
measurement: a fresh ``facerec serve --workers <cores>`` on a new data dir (and, for
PostgreSQL, a new database), 50 LFW-dev identities enrolled through the API, then the
sampled images sent by ``--concurrency`` clients. Recognition reads the database on
every request (API key or session checks, the change-log generation, the people it
names), so this is where the database shows.

Prints each round's throughput and p50, the median per database, and the ratio
PostgreSQL / SQLite (the issue's target: within 10%, i.e. >= 0.90).

    python bench/database.py [--rounds 3] [--images 100] [--concurrency 4] [--duration 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import LFW, Level, lfw_people, measure_server, sample, started_server

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away cluster (``.ci/postgres``); yields its maintenance database's URL."""
    with tempfile.TemporaryDirectory(prefix="facerec-bench-pg-") as tmp:
        Path(tmp).chmod(0o755)  # as root the server runs as `postgres`, which must get in
        cluster = Path(tmp) / "cluster"
        started = subprocess.run(
            [str(ROOT / ".ci" / "postgres"), "start", str(cluster)],
            env={**os.environ, "PG_SERVER_OPTIONS": os.environ.get("PG_SERVER_OPTIONS", "")},
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise SystemExit(f"PostgreSQL did not start:\n{started.stderr}")
        try:
            yield started.stdout.strip().splitlines()[-1]
        finally:
            subprocess.run([str(ROOT / ".ci" / "postgres"), "stop", str(cluster)], check=False)


def new_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def database_env(url: str | None) -> Iterator[None]:
    """``FACEREC_DATABASE_URL`` for the server started inside (unset: SQLite)."""
    before = os.environ.pop("FACEREC_DATABASE_URL", None)
    if url is not None:
        os.environ["FACEREC_DATABASE_URL"] = url
    try:
        yield
    finally:
        os.environ.pop("FACEREC_DATABASE_URL", None)
        if before is not None:
            os.environ["FACEREC_DATABASE_URL"] = before


def one_round(args: argparse.Namespace, people: dict[str, list[Path]], probes: list[Path]) -> Level:
    with started_server(args.engine, args.workers) as (root, _):
        levels, _, _ = measure_server(root, args, people, probes)
    return levels[0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per database")
    parser.add_argument("--images", type=int, default=100, help="LFW-dev images to send")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per round, at most")
    parser.add_argument("--requests", type=int, help="requests per round (default 3 x images)")
    parser.add_argument("--engine", choices=("onnx", "dlib"), default="onnx")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    args.url = None  # measure_server: a server this script started
    args.concurrency = [args.concurrency]
    return args


def main() -> int:
    args = parse_args()
    root = LFW.resolve()
    if not root.is_dir():
        print(f"skipped: {root} is absent (see shared/data/README.md)")
        return 0
    people = lfw_people(root)
    probes = sample([p for paths in people.values() for p in paths], args.images)
    results: dict[str, list[Level]] = {"sqlite": [], "postgresql": []}
    with postgres_server() as admin:
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; PostgreSQL {admin}")
        for number in range(args.rounds):
            for kind in ("sqlite", "postgresql"):
                url = new_database(admin, f"bench_{number}") if kind == "postgresql" else None
                with database_env(url):
                    level = one_round(args, people, probes)
                results[kind].append(level)
                print(
                    f"round {number + 1} {kind:10}: {level.throughput:6.2f} img/s, "
                    f"p50 {level.percentile(50):5.0f} ms, errors {level.errors}"
                )
    medians = {
        kind: statistics.median(lv.throughput for lv in levels) for kind, levels in results.items()
    }
    print(
        f"\nmedian throughput, {args.concurrency[0]} clients: "
        + ", ".join(f"{kind} {value:.2f} img/s" for kind, value in medians.items())
    )
    print(f"PostgreSQL / SQLite: {medians['postgresql'] / medians['sqlite']:.2f}")
    return 1 if any(lv.errors for levels in results.values() for lv in levels) else 0


if __name__ == "__main__":
    raise SystemExit(main())
