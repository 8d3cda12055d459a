"""Counts that live in the database, read when Prometheus scrapes.

Every worker answers the same from the same rows, so nothing is counted twice and a
restart loses nothing. ``SERIES`` lists them; one more is one entry, e.g.::

    DbSeries("facerec_faces", "By model", count_rows(Face, Face.model)),

``count_rows(Table, *columns, where=...)`` counts rows grouped by ``columns``, whose names
become the labels; any ``Callable[[Session], list[tuple[tuple[str, ...], float]]]`` with
``labels`` set works as a query too (see ``_generation``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from facerec.attendance.models import AttendanceEvent, UnknownFace
from facerec.faces.models import Face
from facerec.index.models import current_generation
from facerec.people.models import Person
from facerec.webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)

Samples = list[tuple[tuple[str, ...], float]]
"""Label values (in the order of the series' labels) and a value, one per sample."""


@dataclass(frozen=True, slots=True)
class RowCount:
    """``SELECT cols, count(*) FROM table WHERE ... GROUP BY cols``, as a series query."""

    table: Any
    columns: tuple[Any, ...]
    where: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(c.key) for c in self.columns)

    def __call__(self, session: Session) -> Samples:
        # any columns: past the typed overloads of select()
        query = cast(Any, select)(*self.columns, func.count()).select_from(self.table)
        if self.where is not None:
            query = query.where(self.where)
        if not self.columns:
            return [((), float(session.exec(query).one()))]  # one column: a scalar
        rows = session.exec(query.group_by(*self.columns)).all()
        return [
            (tuple("" if v is None else str(v) for v in row[:-1]), float(row[-1])) for row in rows
        ]


def count_rows(table: Any, *columns: Any, where: Any = None) -> RowCount:
    return RowCount(table, columns, where)


@dataclass(frozen=True, slots=True)
class Query:
    """Any query: a function of the session, with its label names."""

    run: Callable[[Session], Samples]
    labels: tuple[str, ...] = ()

    def __call__(self, session: Session) -> Samples:
        return self.run(session)


@dataclass(frozen=True, slots=True)
class DbSeries:
    name: str
    documentation: str
    query: RowCount | Query


def _generation(session: Session) -> Samples:
    return [((), float(current_generation(session)))]


SERIES: list[DbSeries] = [
    DbSeries(
        "facerec_people",
        "People in the registry (removed ones excluded)",
        count_rows(Person, where=col(Person.deleted_at).is_(None)),
    ),
    DbSeries("facerec_faces", "Enrolled faces, by embedding model", count_rows(Face, Face.model)),
    DbSeries(
        "facerec_unknown_faces_queued",
        "Unknown faces waiting for review (status pending)",
        count_rows(UnknownFace, where=col(UnknownFace.status) == "pending"),
    ),
    DbSeries(
        "facerec_attendance_events",
        "Stored attendance events by source (camera, manual)",
        count_rows(AttendanceEvent, AttendanceEvent.source),
    ),
    DbSeries(
        "facerec_webhook_deliveries",
        "Webhook deliveries by event and status (pending, sent, failed)",
        count_rows(WebhookDelivery, WebhookDelivery.event, WebhookDelivery.status),
    ),
    DbSeries(
        "facerec_index_db_generation",
        "The face change-log generation in the database",
        Query(_generation),
    ),
]


class DatabaseCollector(Collector):
    """Reads every series of ``series`` in one session per scrape. When the database does
    not answer, ``facerec_database_up`` is 0 and the other series are left out, so the
    process-local series are still scraped."""

    def __init__(self, db: Engine, series: list[DbSeries] | None = None) -> None:
        self.db = db
        self.series = SERIES if series is None else series

    def describe(self) -> list[Any]:
        return []  # registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = []
        try:
            with Session(self.db) as session:
                for series in self.series:
                    family = GaugeMetricFamily(
                        series.name, series.documentation, labels=series.query.labels
                    )
                    for labels, value in series.query(session):
                        family.add_metric(list(labels), value)
                    families.append(family)
            up = 1.0
        except SQLAlchemyError:
            log.exception("metrics: the database did not answer")
            families, up = [], 0.0
        yield from families
        yield GaugeMetricFamily(
            "facerec_database_up", "1 when the database answered the last scrape", value=up
        )
