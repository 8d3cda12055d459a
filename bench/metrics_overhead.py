"""What the metrics cost per request: ``RequestMetrics`` around a no-op ASGI app (#13).

A no-op app (it answers as the router would, ``scope["route"]`` included) is called
directly and through the middleware, ``--requests`` times each, in this process (one
worker: values in memory) and in a child process with ``PROMETHEUS_MULTIPROC_DIR`` set
(``--workers N``: values in memory-mapped files). Prints the best of ``--rounds``
alternating rounds (other load on the machine only adds) in microseconds per request;
the difference is the middleware's own cost (route template lookup, one counter and one
histogram sample). Also the cost of one pipeline stage sample (``observe_stage``).

    python bench/metrics_overhead.py [--requests 2000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from fastapi import FastAPI


def _app() -> tuple[Any, Any, Any]:
    """(a no-op ASGI app that answers as a routed request, the same in RequestMetrics,
    the FastAPI app whose route table the middleware reads)."""
    from fastapi.routing import iter_route_contexts

    from facerec.metrics.middleware import RequestMetrics

    app = FastAPI()

    @app.get("/api/v1/people/{person_id}")
    def person(person_id: int) -> dict[str, int]:
        return {"id": person_id}

    route = next(iter(iter_route_contexts(app.routes))).original_route

    async def no_op(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route  # what the router does
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return no_op, RequestMetrics(no_op), app


async def _per_request(asgi: Any, app: Any, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    start = time.perf_counter()
    for i in range(requests):
        scope = {
            "type": "http",
            "method": "GET",
            "path": f"/api/v1/people/{i}",
            "raw_path": b"",
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "app": app,
        }
        await asgi(scope, receive, send)
    return (time.perf_counter() - start) / requests * 1e6


def measure(requests: int, rounds: int) -> dict[str, float]:
    bare, wrapped, app = _app()
    from facerec.metrics.instruments import observe_stage

    results: dict[str, list[float]] = {"bare": [], "wrapped": [], "stage": []}
    for _ in range(rounds):
        results["bare"].append(asyncio.run(_per_request(bare, app, requests)))
        results["wrapped"].append(asyncio.run(_per_request(wrapped, app, requests)))
        start = time.perf_counter()
        for _ in range(requests):
            observe_stage("detect", time.perf_counter())
        results["stage"].append((time.perf_counter() - start) / requests * 1e6)
    return {name: min(values) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(repr(measure(args.requests, args.rounds)))
        return
    modes = {"one process": measure(args.requests, args.rounds)}
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        command = [sys.executable, __file__, "--child", f"--requests={args.requests}"]
        out = subprocess.run(
            [*command, f"--rounds={args.rounds}"], env=env, check=True, capture_output=True
        )
        modes["multiprocess"] = eval(out.stdout.decode().strip().splitlines()[-1])
    for mode, figures in modes.items():
        print(
            f"{mode:12s}  bare {figures['bare']:6.1f} us/request  with metrics "
            f"{figures['wrapped']:6.1f}  overhead {figures['wrapped'] - figures['bare']:5.1f} us"
            f"  stage sample {figures['stage']:4.1f} us"
        )


if __name__ == "__main__":
    main()
