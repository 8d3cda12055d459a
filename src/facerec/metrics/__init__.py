"""Prometheus metrics (``GET /metrics``), correct with one process or several workers.

- ``instruments.py``: the process-local series (requests, latency, inference stages, batch
  sizes, queue depth, shed requests, index state, check-ins) and the helpers that record them.
- ``middleware.py``: ``RequestMetrics``, counting every HTTP request by route template.
- ``collector.py``: ``DatabaseCollector``, counts that live in the database, read at scrape
  time (``SERIES``: one line per series).
- ``multiproc.py``: ``PROMETHEUS_MULTIPROC_DIR`` for ``facerec serve --workers N`` and the
  registry one scrape reads (every worker's files, or this process's instruments).
- ``views.py``: the route.
"""
