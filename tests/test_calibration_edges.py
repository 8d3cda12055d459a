"""Edges of calibration, on small galleries whose pairwise cosines are known by
construction (axis vectors, as in tests/test_calibration_math.py): exact ties with the
threshold, clipping, the float32 scores, sampling of big galleries, the look-alike list
and the warnings an operator reads."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from facerec.auth.principal import SYSTEM
from facerec.calibration import service
from facerec.calibration.models import AppSetting, Calibration
from facerec.calibration.service import calibrate, set_threshold
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.people.models import Person
from facerec.people.service import names_of
from tests.factories import face_row
from tests.test_calibration_math import MODEL, insert_gallery

NOBODY = "nobody has two photos: the same-person reject rate is unknown"
TABLE = [0.85, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97]


def _cannot_measure(pairs: int, far: str) -> str:
    return (
        f"{pairs} different-person pairs cannot measure a false-accept rate of {far}; "
        "enrol more people (or keep the default threshold)"
    )


def _look_alike_warning(pairs: int) -> str:
    return f"{pairs} pairs of different people score above the threshold"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    db = make_engine(settings.db_url)
    yield db
    db.dispose()


def _e(i: int, dim: int) -> list[float]:
    """Axis ``i`` (from 0) in ``dim`` dimensions."""
    v = [0.0] * dim
    v[i] = 1.0
    return v


def _mix(cosine: float, along: int, other: int, dim: int) -> list[float]:
    """A unit vector with ``cosine`` along axis ``along``, the rest along axis ``other``."""
    v = [0.0] * dim
    v[along] = cosine
    v[other] = math.sqrt(1.0 - cosine**2)
    return v


def _store(engine: Engine, gallery: dict[str, list[Sequence[float]]]) -> dict[str, int]:
    """One person per key (created in order), one face per vector; returns their ids."""
    ids: dict[str, int] = {}
    with Session(engine) as session:
        for name, vectors in gallery.items():
            person = Person(name=name)
            session.add(person)
            session.flush()
            ids[name] = person.id or 0
            for vector in vectors:
                face_row(session, person_id=ids[name], embedding=vector, model=MODEL)
        session.commit()
    return ids


def _calibrate(
    engine: Engine, settings: Settings, *, threshold: float, target_far: float = 0.0005
) -> Calibration:
    active = settings.model_copy(update={"match_threshold": threshold})
    with Session(engine) as session:
        return calibrate(session=session, settings=active, model=MODEL, target_far=target_far)


def _rows(report: Calibration) -> dict[float, tuple[float, float | None]]:
    return {row.threshold: (row.far, row.frr) for row in report.table}


def _looks(report: Calibration) -> list[tuple[str, str, float]]:
    return [(look.name_a, look.name_b, look.similarity) for look in report.look_alikes]


# --- the stored threshold ---------------------------------------------------------


def test_a_stored_threshold_is_kept_in_steps_of_0_0001(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        out = set_threshold(session=session, settings=settings, threshold=0.912349, actor=SYSTEM)
    assert (out.active_threshold, out.source) == (0.9123, "calibrated")
    with Session(engine) as session:
        stored = session.get(AppSetting, f"match_threshold:{settings.recogniser.model}")
        assert stored is not None
        assert stored.value == 0.9123


# --- pairs, warnings and the smallest galleries -----------------------------------


def test_one_face_has_no_pairs_and_no_look_alikes(engine: Engine, settings: Settings) -> None:
    _store(engine, {"P": [_e(0, 2)]})
    report = _calibrate(engine, settings, threshold=0.5)
    assert (report.people, report.faces, report.impostor_pairs) == (1, 1, 0)
    assert report.look_alikes == []
    assert report.warnings == [_cannot_measure(0, "0.0500%"), NOBODY]


def test_two_faces_of_two_people_are_one_pair(engine: Engine, settings: Settings) -> None:
    # P.Q = 0.6 (float32: 0.60000002); nobody has two photos
    _store(engine, {"P": [_e(0, 2)], "Q": [[0.6, 0.8]]})
    report = _calibrate(engine, settings, threshold=0.5)
    assert (report.people, report.faces) == (2, 2)
    assert (report.impostor_pairs, report.genuine_pairs) == (1, 0)
    # floor(0.0005 * 1) = 0 impostors may reach it: the step above 0.6 (as float32)
    assert report.recommended_threshold == 0.6001
    assert report.reliable is False  # 1 pair * 0.0005 < 1 expected false accept
    assert _rows(report) == {
        0.5: (1.0, None),  # the active threshold: the one pair is accepted
        **dict.fromkeys(TABLE, (0.0, None)),
    }
    # the only pair of P and Q is faces 0 and 1, next to each other
    assert _looks(report) == [("P", "Q", 0.6)]
    assert report.warnings == [
        _cannot_measure(1, "0.0500%"),
        NOBODY,
        _look_alike_warning(1),
    ]


def test_no_warning_about_genuine_pairs_when_someone_has_two_photos(
    engine: Engine, settings: Settings
) -> None:
    insert_gallery(engine, model=MODEL)  # 3 genuine pairs, 33 impostor pairs
    report = _calibrate(engine, settings, threshold=0.7, target_far=0.05)
    assert report.genuine_pairs == 3
    # 33 * 0.05 = 1.65 expected false accepts: measurable; A-C and B-D score above 0.7
    assert report.warnings == [_look_alike_warning(2)]


def test_one_person_with_two_photos_has_no_impostor_pairs(
    engine: Engine, settings: Settings
) -> None:
    # A.A' = 0.75 exactly (0.75 and 0.6614378 along another axis)
    _store(engine, {"A": [_e(0, 2), _mix(0.75, 0, 1, 2)]})
    report = _calibrate(engine, settings, threshold=0.8)
    assert (report.impostor_pairs, report.genuine_pairs) == (0, 1)
    assert report.recommended_threshold is None
    assert report.reliable is False
    # no different-person pair to accept: FAR 0 everywhere; 0.75 is below every threshold
    assert _rows(report) == dict.fromkeys([0.8, *TABLE], (0.0, 1.0))
    assert report.look_alikes == []
    assert report.warnings == [_cannot_measure(0, "0.0500%")]  # one genuine pair: no NOBODY


def test_the_active_threshold_row_is_rounded_to_4_decimals(
    engine: Engine, settings: Settings
) -> None:
    _store(engine, {"A": [_e(0, 2), _mix(0.75, 0, 1, 2)]})
    report = _calibrate(engine, settings, threshold=0.123456)
    assert [row.threshold for row in report.table] == [0.1235, *TABLE]


# --- the recommended threshold and reliability ------------------------------------
# The gallery of tests/test_calibration_math.py: 33 impostor scores, in descending order
# 0.93012, 0.86243, 0.755574, 0.477105, 26 zeros, then F's three negative cosines
# -0.3 * (0.81234, 0.93012, 1) = -0.243702, -0.279036, -0.3.


def test_exactly_one_expected_false_accept_is_measurable(
    engine: Engine, settings: Settings
) -> None:
    insert_gallery(engine, model=MODEL)
    report = _calibrate(engine, settings, threshold=0.7, target_far=1 / 33)
    assert report.reliable is True  # 33 * (1/33) = 1.0 expected false accept
    assert not any("cannot measure" in w for w in report.warnings)
    # floor(33 / 33) = 1 impostor may reach it: the step above the 2nd highest, 0.86243
    assert report.recommended_threshold == pytest.approx(0.8625, abs=1e-9)


def test_when_every_impostor_may_be_accepted_the_threshold_is_zero(
    engine: Engine, settings: Settings
) -> None:
    # The API and the CLI keep target_far below 1; the service answers for any rate.
    insert_gallery(engine, model=MODEL)
    report = _calibrate(engine, settings, threshold=0.7, target_far=1.0)
    assert report.recommended_threshold == 0.0  # all 33 may reach it
    assert report.reliable is True


def test_negative_cosines_count_as_zero(engine: Engine, settings: Settings) -> None:
    insert_gallery(engine, model=MODEL)
    report = _calibrate(engine, settings, threshold=0.7, target_far=0.95)
    # floor(0.95 * 33) = 31 may reach it. Clipped to 0, F's pairs are among the 29 that
    # reach 0.0 (with the four positive ones, 33 > 31); 0.0001 is reached by 4.
    assert report.recommended_threshold == pytest.approx(0.0001, abs=1e-9)


def test_scores_are_clipped_to_one(engine: Engine, settings: Settings) -> None:
    # Two people with the same face, stored 1.0005 long (within the 1e-3 that
    # `facerec index verify` accepts): 1.0005^2 = 1.001, reported as 1.0
    _store(engine, {"P": [[1.0005, 0.0]], "Q": [[1.0005, 0.0]]})
    report = _calibrate(engine, settings, threshold=0.8)
    assert _looks(report) == [("P", "Q", 1.0)]
    assert report.recommended_threshold == 1.0


def test_scores_are_float32_inner_products_like_the_index_computes(
    engine: Engine, settings: Settings
) -> None:
    # x.y = 1.0 * 0.898240327835083 + 0.0039997100830078125 * 0.43994140625 (each
    # product exact in float32) = 0.8999999659..., 0.17 float32 ulp below float32(0.9)
    # = 0.8999999762: in float32 (what the embeddings and the index hold) the score is
    # float32(0.9), which reaches 0.9 as the table compares it.
    x = [1.0, 0.0039997100830078125]
    y = [0.898240327835083, 0.43994140625]
    exact = x[0] * y[0] + x[1] * y[1]
    assert exact < float(np.float32(0.9))
    in_float32 = np.float32(x[0]) * np.float32(y[0]) + np.float32(x[1]) * np.float32(y[1])
    assert in_float32 == np.float32(0.9)
    _store(engine, {"P": [x], "Q": [y]})
    report = _calibrate(engine, settings, threshold=0.8)
    assert report.impostor_pairs == 1
    rows = _rows(report)
    assert (rows[0.9], rows[0.91]) == ((1.0, None), (0.0, None))
    assert report.recommended_threshold == 0.9001  # 0.9 would accept the pair
    assert _looks(report) == [("P", "Q", 0.9)]


# --- exact ties with the threshold ------------------------------------------------


def test_a_score_equal_to_the_threshold_reaches_it(engine: Engine, settings: Settings) -> None:
    # a1 = e1, a2 = 0.875 e1 + ... e2, b1 = 0.875 e1 + ... e3 (0.875 = 7/8 is exact):
    # genuine a1.a2 = 0.875; impostor a1.b1 = 0.875, a2.b1 = 0.875^2 = 0.765625
    _store(engine, {"A": [_e(0, 3), _mix(0.875, 0, 1, 3)], "B": [_mix(0.875, 0, 2, 3)]})
    report = _calibrate(engine, settings, threshold=0.875)
    rows = _rows(report)
    assert rows[0.875] == (0.5, 0.0)  # accepts a1-b1 (not a2-b1), rejects no genuine pair
    assert rows[0.85] == (0.5, 0.0)
    assert rows[0.88] == (0.0, 1.0)
    assert _looks(report) == [("A", "B", 0.875)]


# --- look-alikes ------------------------------------------------------------------


def test_look_alikes_are_ordered_by_similarity_not_by_person(
    engine: Engine, settings: Settings
) -> None:
    # P1.P2 = 0.8 and P3.P4 = 0.95, the others 0
    _store(
        engine,
        {
            "P1": [_e(0, 4)],
            "P2": [_mix(0.8, 0, 1, 4)],
            "P3": [_e(2, 4)],
            "P4": [_mix(0.95, 2, 3, 4)],
        },
    )
    report = _calibrate(engine, settings, threshold=0.7)
    assert _looks(report) == [("P3", "P4", 0.95), ("P1", "P2", 0.8)]


def test_at_most_50_look_alikes_the_most_similar(engine: Engine, settings: Settings) -> None:
    # H = e0; person k (0..50) = c_k e0 + ... e_(k+1), c_k = 0.901 + 0.0007 k (up to
    # 0.936): 51 pairs with H above 0.9; between two others c_j c_k <= 0.936^2 < 0.9
    dim = 53
    cosines = [0.901 + 0.0007 * k for k in range(51)]
    gallery: dict[str, list[Sequence[float]]] = {"H": [_e(0, dim)]}
    for k, c in enumerate(cosines):
        gallery[f"K{k:02d}"] = [_mix(c, 0, k + 1, dim)]
    _store(engine, gallery)
    report = _calibrate(engine, settings, threshold=0.9)
    looks = _looks(report)
    assert len(looks) == 50
    assert "51 pairs of different people score above the threshold" in report.warnings
    expected = [("H", f"K{k:02d}", round(cosines[k], 4)) for k in range(50, 0, -1)]
    assert [(a, b) for a, b, _ in looks] == [(a, b) for a, b, _ in expected]
    assert [s for _, _, s in looks] == pytest.approx([s for _, _, s in expected], abs=1e-4)


def test_a_person_deleted_while_calibrating_is_listed_without_a_name(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # P2 = e1, P1 = 0.95 e1 + ..., P3 = 0.9 e1 + ...: P1-P2 0.95, P2-P3 0.9, P1-P3 0.855
    ids = _store(
        engine,
        {"P1": [_mix(0.95, 0, 1, 3)], "P2": [_e(0, 3)], "P3": [_mix(0.9, 0, 2, 3)]},
    )

    def names_after_a_delete(*, session: Session, person_ids: list[int]) -> dict[int, str]:
        # another worker deletes P1 and P3 (and their faces) after the faces were read
        with Session(engine) as other:
            for name in ("P1", "P3"):
                other.delete(other.get(Person, ids[name]))
            other.commit()
        return names_of(session=session, person_ids=person_ids)

    monkeypatch.setattr(service, "names_of", names_after_a_delete)
    report = _calibrate(engine, settings, threshold=0.86)
    assert [
        (look.person_a, look.name_a, look.person_b, look.name_b, look.similarity)
        for look in report.look_alikes
    ] == [
        (ids["P1"], "", ids["P2"], "P2", 0.95),
        (ids["P2"], "P2", ids["P3"], "", 0.9),
    ]


# --- big galleries: a sample --------------------------------------------------------


def test_a_gallery_of_max_faces_is_not_sampled(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_FACES", 9)
    insert_gallery(engine, model=MODEL)  # 9 faces
    report = _calibrate(engine, settings, threshold=0.7, target_far=0.05)
    assert (report.faces, report.impostor_pairs, report.genuine_pairs) == (9, 33, 3)
    assert report.warnings == [_look_alike_warning(2)]


def test_a_bigger_gallery_is_sampled_without_repeats(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_FACES", 20)
    _store(engine, {f"P{i:02d}": [_e(i, 21)] for i in range(21)})  # 21 people, 1 face each
    report = _calibrate(engine, settings, threshold=0.8)
    # 20 distinct faces: 20 people, 20 * 19 / 2 = 190 pairs, none of the same person
    assert (report.people, report.faces) == (20, 20)
    assert (report.impostor_pairs, report.genuine_pairs) == (190, 0)
    assert report.warnings == [
        "sampled 20 faces of the gallery",
        _cannot_measure(190, "0.0500%"),
        NOBODY,
    ]


@pytest.mark.sqlite_only("SQLite's reverse_unordered_selects changes the scan order")
def test_the_sample_is_the_same_every_time_whatever_order_the_rows_come_in(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_FACES", 15)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 6))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _store(engine, {f"P{i:02d}": [v.tolist()] for i, v in enumerate(vectors)})
    active = settings.model_copy(update={"match_threshold": 0.3})

    def run(*, reversed_rows: bool) -> Calibration:
        with Session(engine) as session:
            if reversed_rows:  # SQLite then returns unordered SELECTs the other way round
                session.connection().exec_driver_sql("PRAGMA reverse_unordered_selects = ON")
            return calibrate(session=session, settings=active, model=MODEL, target_far=0.05)

    first = run(reversed_rows=False)
    assert first.faces == 15
    assert first.look_alikes  # which people were sampled shows in the report
    assert run(reversed_rows=False) == first
    assert run(reversed_rows=True) == first
