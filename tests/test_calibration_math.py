"""Calibration numbers on a gallery whose pairwise cosines are known by construction.

Nine faces of six people, built from axis vectors in 12 dimensions so that every pair's
cosine is either 0 or a number chosen here:

    A: a1 = e1                       a2 = 0.81234 e1 + ... e2      (a1.a2 = 0.81234)
    B: b1 = e3                       b2 = 0.55321 e3 + ... e4      (b1.b2 = 0.55321)
    C: c1 = 0.93012 e1 + ... e5                                    (a1.c1 = 0.93012,
                                                     a2.c1 = 0.81234 * 0.93012 = 0.755574)
    D: d1 = 0.86243 e3 + ... e6                                    (b1.d1 = 0.86243,
                                                     b2.d1 = 0.55321 * 0.86243 = 0.477105)
    F: f1 = -0.3 e1 + ... e7         (negative with a1, a2, c1: clipped to 0)
    G: g1 = e8                       g2 = 0.95432 e8 + ... e9      (g1.g2 = 0.95432)

9 faces make 36 pairs: 3 genuine (0.81234, 0.55321, 0.95432) and 33 impostor, of which
4 are above zero: 0.93012, 0.86243, 0.755574, 0.477105 (29 are 0).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.calibration.service import calibrate
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.people.models import Person
from tests.factories import face_row

DIM = 12
MODEL = "m"


def _axis(i: int) -> NDArray[np.float64]:
    v = np.zeros(DIM)
    v[i - 1] = 1.0
    return v


def _mix(cosine: float, along: int, other: int) -> NDArray[np.float64]:
    """A unit vector with ``cosine`` along axis ``along``, the rest along axis ``other``."""
    return cosine * _axis(along) + float(np.sqrt(1.0 - cosine**2)) * _axis(other)


GALLERY: dict[str, list[NDArray[np.float64]]] = {
    "A": [_axis(1), _mix(0.81234, 1, 2)],
    "B": [_axis(3), _mix(0.55321, 3, 4)],
    "C": [_mix(0.93012, 1, 5)],
    "D": [_mix(0.86243, 3, 6)],
    "F": [_mix(-0.3, 1, 7)],
    "G": [_axis(8), _mix(0.95432, 8, 9)],
}


def insert_gallery(engine: Engine, *, model: str, dim: int = DIM) -> None:
    """The faces of :data:`GALLERY` (zero-padded to ``dim``), stored for ``model``."""
    with Session(engine) as session:
        for name, vectors in GALLERY.items():
            person = Person(name=name)
            session.add(person)
            session.flush()
            for vector in vectors:
                padded = np.pad(vector, (0, dim - vector.size))
                face_row(session, person_id=person.id or 0, embedding=padded, model=model)
        session.commit()


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    insert_gallery(engine, model=MODEL)
    yield engine
    engine.dispose()


@pytest.fixture
def active_07(settings: Settings) -> Settings:
    return settings.model_copy(update={"match_threshold": 0.7})


def test_pair_counts_table_and_look_alikes(db: Engine, active_07: Settings) -> None:
    with Session(db) as session:
        report = calibrate(session=session, settings=active_07, model=MODEL, target_far=0.05)
    assert (report.people, report.faces) == (6, 9)
    assert (report.impostor_pairs, report.genuine_pairs) == (33, 3)
    assert report.active_threshold == 0.7
    # FAR: impostor scores >= t out of 33; FRR: genuine scores < t out of 3
    expected = {
        0.7: (3 / 33, 1 / 3),  # 0.93012, 0.86243, 0.755574 accepted; 0.55321 rejected
        0.85: (2 / 33, 2 / 3),  # 0.93012, 0.86243; 0.55321 and 0.81234 rejected
        0.88: (1 / 33, 2 / 3),
        0.9: (1 / 33, 2 / 3),
        0.91: (1 / 33, 2 / 3),
        0.92: (1 / 33, 2 / 3),
        0.93: (1 / 33, 2 / 3),  # 0.93012 still reaches 0.93
        0.94: (0.0, 2 / 3),
        0.95: (0.0, 2 / 3),  # 0.95432 still accepted
        0.96: (0.0, 1.0),
        0.97: (0.0, 1.0),
    }
    assert [row.threshold for row in report.table] == list(expected)
    for row in report.table:
        far, frr = expected[row.threshold]
        assert row.far == pytest.approx(far, abs=1e-9), row
        assert row.frr == pytest.approx(frr, abs=1e-9), row
    # different people at or above the active 0.7: A-C (best 0.93012) and B-D (0.86243)
    assert [(look.name_a, look.name_b, look.similarity) for look in report.look_alikes] == [
        ("A", "C", 0.9301),
        ("B", "D", 0.8624),
    ]


@pytest.mark.parametrize(
    ("target_far", "recommended", "reliable"),
    [
        # allowed = floor(0.02 * 33) = floor(0.66) = 0: above the highest, 0.93012
        (0.02, 0.9302, False),  # 0.66 < 1 expected false accept: cannot be measured
        # floor(0.05 * 33) = floor(1.65) = 1: above the 2nd highest, 0.86243 (0.8624 would
        # still accept it: two impostors at or above, one allowed)
        (0.05, 0.8625, True),
        # floor(0.07 * 33) = floor(2.31) = 2: above the 3rd, 0.755574
        (0.07, 0.7556, True),
        # floor(0.1 * 33) = floor(3.3) = 3: above the 4th, 0.477105 (not 0.4771)
        (0.1, 0.4772, True),
        # floor(0.13 * 33) = floor(4.29) = 4: above the 5th, 0 (0.0 would accept all 33)
        (0.13, 0.0001, True),
    ],
)
def test_recommended_threshold_is_the_lowest_that_meets_the_target(
    db: Engine, active_07: Settings, target_far: float, recommended: float, reliable: bool
) -> None:
    with Session(db) as session:
        report = calibrate(session=session, settings=active_07, model=MODEL, target_far=target_far)
    assert report.recommended_threshold == pytest.approx(recommended, abs=1e-9)
    assert report.reliable is reliable
    assert any("cannot measure" in w for w in report.warnings) is (not reliable)


def test_no_impostor_pairs_no_recommendation(db: Engine, active_07: Settings) -> None:
    with Session(db) as session:
        report = calibrate(session=session, settings=active_07, model="other", target_far=0.05)
    assert (report.faces, report.impostor_pairs, report.genuine_pairs) == (0, 0, 0)
    assert report.recommended_threshold is None
