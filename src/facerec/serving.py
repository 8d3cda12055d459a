"""Running the HTTP server: one process, or several workers sharing one listening socket."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from facerec.auth.exposure import check_exposure
from facerec.config import Settings
from facerec.index.milvus_lite_host import lite_for_workers
from facerec.logs import logging_config
from facerec.metrics.multiproc import worker_metrics_dir

APP = "facerec.app:create_app"
WORKER_HEALTHCHECK_S = 60


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket that says it is TCP.

    uvicorn binds ``socket.socket(AF_INET)``, whose ``proto`` is 0; asyncio then does
    not set TCP_NODELAY on accepted connections, and every keep-alive response waits
    ~40 ms for a delayed ACK (measured: 76 ms instead of 31 ms per request). Naming
    the protocol, and setting TCP_NODELAY here (inherited by accepted sockets), avoids it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What ``serve`` gives ``uvicorn.Config`` (building a Config applies its logging
    configuration to the process, so tests check these options instead)."""
    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_config": logging_config(settings.log),  # applied here and in every worker
        # A spawned worker re-imports the CLI (and so the app) before it can answer the
        # supervisor's ping: ~5 s on 2 busy cores (more on Python 3.13). uvicorn's 5 s
        # default then kills every new worker before it answers, forever.
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_S,
    }


def serve(settings: Settings) -> None:
    """Serve until stopped; ``UnsafeSetup`` when auth is off on a non-loopback host."""
    check_exposure(settings)
    config = uvicorn.Config(APP, **uvicorn_options(settings))
    if settings.workers == 1:
        uvicorn.Server(config).run()
        return
    # before the workers start: one scrape sees them all; one Milvus Lite file for all
    with worker_metrics_dir(), lite_for_workers(settings):
        Multiprocess(config, sockets=[listening_socket(settings.host, settings.port)]).run()
