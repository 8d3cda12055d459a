"""How long a full reload of Milvus holds the database write lock, and how long a writer
waits meanwhile.

A full reload (first start on an empty Milvus, another model, a restore, ``facerec index
rebuild``) runs under the write lock from start to end (``index/milvus_sync.py``). This
writes ``--faces`` synthetic descriptors (two a person, ``bench/milvus_scale.py``'s
gallery) into a new SQLite database in one generation, then brings an empty Milvus Lite
file up to date through ``SharedIndexSync``, as a worker's start does, while another
thread tries to take the write lock half a second in (an enrolment would). It prints the
reload's time and the writer's wait (on SQLite a writer gives up after the 30 s busy
timeout: then it prints that).

    python bench/milvus_reload.py [--faces 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.milvus_scale import gallery
from tests.index_db import enrol_in_bulk, index_db

from facerec.db.engine import lock_for_write
from facerec.index.milvus_index import MilvusIndex, connect
from facerec.index.milvus_sync import SharedIndexSync


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, index_db(Path(tmp), None) as db:
        _ids, people, vectors = gallery(args.faces, 128)
        enrol_in_bulk(db, people, vectors)
        sync = SharedIndexSync(MilvusIndex(connect(str(Path(tmp) / "milvus.db")), 128), "m")
        waited: list[str] = []

        def writer() -> None:
            time.sleep(0.5)
            start = time.perf_counter()
            with Session(db) as session:
                try:
                    lock_for_write(session)
                    waited.append(f"waited {time.perf_counter() - start:.1f} s")
                except OperationalError as exc:
                    waited.append(f"gave up after {time.perf_counter() - start:.1f} s ({exc.orig})")
                session.rollback()

        thread = threading.Thread(target=writer)
        start = time.perf_counter()
        thread.start()
        with Session(db) as session:
            sync.catch_up(session)
        reload = time.perf_counter() - start
        thread.join()
        print(f"Milvus Lite, full reload of {sync.index.count()} faces (128-d): {reload:.1f} s")
        print(f"  a writer arriving 0.5 s in: {waited[0]}")
        sync.index.close()


if __name__ == "__main__":
    main()
