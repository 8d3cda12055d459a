"""The model registry's service: pull (local HTTP server), import, remove, audit.

Models are made here with ``onnx.helper`` (tests/model_files.py) and served from
127.0.0.1 through a catalogue of the test's own (``Registry(catalogue=...)``), so these
run everywhere. Digests are computed here with hashlib, not with the code under test.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from facerec.audit import cli_actor
from facerec.audit.models import AuditEntry
from facerec.auth.principal import Principal
from facerec.config import Settings
from facerec.db.engine import make_engine
from facerec.db.migrate import upgrade
from facerec.errors import (
    Conflict,
    DownloadFailed,
    InvalidModel,
    LicenceNotAccepted,
    NotFound,
    ValidationFailed,
)
from facerec.registry import service
from facerec.registry.catalogue import CATALOGUE, KnownPack, PackModel
from facerec.registry.contract import default_contract
from facerec.registry.probe import probe
from facerec.registry.service import ImportOptions, Registry
from facerec.registry.shapes import InstallResult
from facerec.registry.store import ModelStore, check_name
from tests.model_files import Served, detector, file_server, recogniser

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ADMIN = Principal(kind="user", id=7, name="ada", permissions=frozenset())


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    """A YuNet-like detector, a recogniser, and a zip of an SCRFD-like detector and the
    recogniser (a pack like buffalo's)."""
    made = tmp_path / "made"
    made.mkdir()
    det = detector(made / "det.onnx").read_bytes()
    scrfd = detector(made / "scrfd.onnx", side=None, anchors=2).read_bytes()
    rec = recogniser(made / "rec.onnx", dim=64).read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("pack/det.onnx", scrfd)
        archive.writestr("pack/rec.onnx", rec)
        archive.writestr("pack/other.onnx", b"not installed")
    return {"tiny-det.onnx": det, "tiny-rec.onnx": rec, "tiny.zip": out.getvalue()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _catalogue(files: dict[str, bytes]) -> dict[str, KnownPack]:
    det = KnownPack(
        name="tiny-det",
        title="a made detector",
        url="https://example.invalid/models/tiny-det.onnx",
        sha256=_sha(files["tiny-det.onnx"]),
        size=len(files["tiny-det.onnx"]),
        licence="MIT",
        licence_url="https://example.invalid/licence",
        models=(PackModel(name="tiny-det", contract=default_contract("yunet")),),
    )
    zipped = KnownPack(
        name="tiny",
        title="a made pack",
        url="https://example.invalid/releases/tiny.zip",
        sha256=_sha(files["tiny.zip"]),
        size=None,
        licence="non-commercial",
        licence_url="https://example.invalid/nc",
        format="zip",
        accept_licence=True,
        licence_note="Research only.",
        models=(
            PackModel(name="tiny-d", member="det.onnx", contract=default_contract("scrfd")),
            PackModel(
                name="tiny-r",
                member="rec.onnx",
                contract=default_contract("arcface"),
                default_threshold=0.4,
                threshold_source="made up",
            ),
        ),
    )
    return {"tiny-det": det, "tiny": zipped}


def _registry(settings: Settings, files: dict[str, bytes], base: str) -> Registry:
    return Registry(
        store=ModelStore(settings.models_dir),
        catalogue=_catalogue(files),
        mirror_url=base,
        timeout=10,
    )


def _pull(session: Session, registry: Registry, name: str, accept: bool = False) -> list[str]:
    result = service.pull_pack(
        session=session,
        registry=registry,
        name=name,
        accept_licence=accept,
        actor=ADMIN,
        now=NOW,
    )
    return result.installed


def _audit(db: Engine) -> list[tuple[str, str, dict[str, object]]]:
    with Session(db) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.entity == "model")).all()
        return [(r.action, r.actor, r.details) for r in rows]


def test_pull_downloads_probes_installs_and_audits(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    served = Served(files=dict(files))
    with file_server(served) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        assert _pull(session, registry, "tiny-det") == ["tiny-det"]
        assert _pull(session, registry, "tiny-det") == []  # installed: nothing fetched
    assert served.ranges == [None]
    installed = settings.models_dir / "tiny-det" / "model.onnx"
    assert installed.read_bytes() == files["tiny-det.onnx"]
    [manifest] = registry.store.list()
    assert (manifest.kind, manifest.sha256, manifest.size) == (
        "detector",
        _sha(files["tiny-det.onnx"]),
        len(files["tiny-det.onnx"]),
    )
    assert manifest.source == f"{base}/tiny-det.onnx"
    assert manifest.contract.size == 320  # the model's fixed input, measured
    assert manifest.installed_by == ADMIN.label
    [(action, actor, details)] = _audit(db)
    assert (action, actor, details["name"], details["sha256"]) == (
        "pull",
        ADMIN.label,
        "tiny-det",
        _sha(files["tiny-det.onnx"]),
    )
    assert not list(registry.store.downloads.glob("*.part"))


def test_a_download_with_the_wrong_sha256_is_deleted_and_installs_nothing(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    served = Served(files={"tiny-det.onnx": files["tiny-rec.onnx"]})
    with file_server(served) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        with pytest.raises(DownloadFailed) as caught:
            _pull(session, registry, "tiny-det")
    assert caught.value.details["actual"] == _sha(files["tiny-rec.onnx"])
    assert registry.store.list() == []
    assert not list(registry.store.downloads.glob("*.part"))
    assert _audit(db) == []


def test_an_interrupted_download_resumes_with_a_range_request(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    body = files["tiny-det.onnx"]
    served = Served(files={"tiny-det.onnx": body}, cut_after={"tiny-det.onnx": 1000})
    with file_server(served) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        with pytest.raises(DownloadFailed, match="again to resume"):
            _pull(session, registry, "tiny-det")
        part = registry.store.downloads / "tiny-det.onnx.part"
        assert part.read_bytes() == body[:1000]
        assert _pull(session, registry, "tiny-det") == ["tiny-det"]
    assert served.ranges == [None, "bytes=1000-"]
    assert registry.store.path_of("tiny-det").read_bytes() == body


def test_a_server_that_ignores_the_range_is_read_from_the_start(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    body = files["tiny-det.onnx"]
    served = Served(
        files={"tiny-det.onnx": body}, cut_after={"tiny-det.onnx": 999}, honour_ranges=False
    )
    with file_server(served) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        with pytest.raises(DownloadFailed):
            _pull(session, registry, "tiny-det")
        assert _pull(session, registry, "tiny-det") == ["tiny-det"]
    assert served.ranges == [None, "bytes=999-"]
    assert registry.store.path_of("tiny-det").read_bytes() == body


def test_a_missing_file_is_a_404_download_failure(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    with file_server(Served()) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        with pytest.raises(DownloadFailed) as caught:
            _pull(session, registry, "tiny-det")
        with pytest.raises(NotFound):
            _pull(session, registry, "no-such-pack")
    assert caught.value.details["status"] == 404
    assert registry.store.list() == []


def test_one_download_of_a_file_at_a_time(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    registry = _registry(settings, files, "http://127.0.0.1:9")
    lock = registry.store.downloads / "tiny-det.onnx.part.lock"
    with lock.open("w") as held, Session(db) as session:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(Conflict, match="another command"):
            _pull(session, registry, "tiny-det")


def test_a_pack_under_a_restrictive_licence_needs_acceptance(
    settings: Settings, db: Engine, files: dict[str, bytes]
) -> None:
    served = Served(files=dict(files))
    with file_server(served) as base, Session(db) as session:
        registry = _registry(settings, files, base)
        with pytest.raises(LicenceNotAccepted, match="Research only"):
            _pull(session, registry, "tiny")
        assert served.ranges == []  # refused before any download
        assert _pull(session, registry, "tiny", accept=True) == ["tiny-d", "tiny-r"]
    detector_, recogniser_ = registry.store.get("tiny-d"), registry.store.get("tiny-r")
    assert (detector_.kind, detector_.contract.family) == ("detector", "scrfd")
    assert (recogniser_.kind, recogniser_.contract.embedding_size) == ("recogniser", 64)
    assert recogniser_.default_threshold == 0.4
    assert registry.store.path_of("tiny-r").read_bytes() == files["tiny-rec.onnx"]
    assert all(m.licence_accepted and m.pack == "tiny" for m in (detector_, recogniser_))
    assert [d["licence_accepted"] for _, _, d in _audit(db)] == [True, True]


def test_import_recognises_known_files_by_hash(
    settings: Settings, db: Engine, files: dict[str, bytes], tmp_path: Path
) -> None:
    registry = _registry(settings, files, "http://127.0.0.1:9")
    zipped = tmp_path / "downloaded-elsewhere.zip"
    zipped.write_bytes(files["tiny.zip"])
    with Session(db) as session:
        with pytest.raises(LicenceNotAccepted):
            _import(session, registry, zipped, ImportOptions())
        result = _import(session, registry, zipped, ImportOptions(), accept=True)
    assert result.installed == ["tiny-d", "tiny-r"]
    assert registry.store.get("tiny-r").source.startswith("import:downloaded-elsewhere.zip")
    assert [a for a, _, _ in _audit(db)] == ["import", "import"]


def test_import_of_an_unknown_file_takes_its_contract_and_probes_it(
    settings: Settings, db: Engine, files: dict[str, bytes], tmp_path: Path
) -> None:
    registry = _registry(settings, files, "http://127.0.0.1:9")
    small = recogniser(tmp_path / "My Face-Net.onnx", side=96, dim=32)
    with Session(db) as session:
        with pytest.raises(ValidationFailed, match="--kind"):
            _import(session, registry, small, ImportOptions())
        with pytest.raises(InvalidModel, match="96x96, the contract says 112x112"):
            _import(session, registry, small, ImportOptions(family="arcface"))
        with pytest.raises(InvalidModel, match="32-d descriptors, the contract says 128"):
            _import(session, registry, small, ImportOptions("arcface", size=96, embedding_size=128))
        with pytest.raises(InvalidModel, match="not a yunet detector"):
            _import(session, registry, small, ImportOptions(family="yunet", size=96))
        assert registry.store.list() == []
        result = _import(session, registry, small, ImportOptions("arcface", size=96, std=128))
    [model] = result.models
    assert (model.name, model.kind) == ("my-face-net", "recogniser")
    assert model.contract.embedding_size == 32
    assert (model.contract.mean, model.contract.std, model.contract.size) == (127.5, 128, 96)
    assert model.sha256 == hashlib.sha256(small.read_bytes()).hexdigest()
    assert model.source == "import:My Face-Net.onnx"


def test_import_rejects_what_is_not_onnx(
    settings: Settings, db: Engine, files: dict[str, bytes], tmp_path: Path
) -> None:
    registry = _registry(settings, files, "http://127.0.0.1:9")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07 definitely not a protobuf graph" * 10)
    with (
        Session(db) as session,
        pytest.raises(InvalidModel, match="not a model ONNX Runtime can load"),
    ):
        _import(session, registry, junk, ImportOptions(family="arcface"))
    assert registry.store.list() == [] and not any(registry.store.root.glob(".tmp-*"))


def test_remove_deletes_an_installed_model_and_refuses_a_packaged_one(
    settings: Settings, db: Engine, files: dict[str, bytes], tmp_path: Path
) -> None:
    registry = _registry(settings, files, "http://127.0.0.1:9")
    rec = recogniser(tmp_path / "rec.onnx")
    actor = cli_actor()
    with Session(db) as session:
        _import(session, registry, rec, ImportOptions(family="arcface"))
        assert [m.name for m in service.list_models(registry=registry).models] == ["rec"]
        with pytest.raises(ValidationFailed, match="packaged"):
            service.remove_model(session=session, registry=registry, name="dlib-resnet",
                                 actor=actor, now=NOW)  # fmt: skip
        with pytest.raises(NotFound):
            service.remove_model(session=session, registry=registry, name="nope", actor=actor,
                                 now=NOW)  # fmt: skip
        service.remove_model(session=session, registry=registry, name="rec", actor=actor, now=NOW)
        assert service.list_models(registry=registry).models == []
    entries = _audit(db)
    assert [a for a, _, _ in entries] == ["import", "remove"]
    assert {who for _, who, _ in entries} == {actor.label}
    assert not registry.store.path_of("rec").exists()


def test_a_half_installed_folder_is_not_a_model(settings: Settings, tmp_path: Path) -> None:
    store = ModelStore(settings.models_dir)
    (store.root / ".tmp-abc").mkdir(parents=True)
    (store.root / "broken").mkdir()
    (store.root / "broken" / "manifest.json").write_text("{")
    assert store.list() == []


def test_the_pinned_catalogue_is_complete() -> None:
    """Every known pack names a sha256 and a licence, and buffalo needs acceptance."""
    assert set(CATALOGUE) == {"yunet-2023mar", "sface-2021dec", "buffalo_l", "buffalo_s"}
    for pack in CATALOGUE.values():
        assert len(pack.sha256) == 64 and pack.licence and pack.url.startswith("https://")
        assert pack.accept_licence == pack.name.startswith("buffalo")
    assert CATALOGUE["yunet-2023mar"].url_from("http://m/x/") == (
        "http://m/x/face_detection_yunet_2023mar.onnx"
    )


def test_probe_measures_what_a_model_gives(tmp_path: Path) -> None:
    result = probe(detector(tmp_path / "d.onnx", side=None, anchors=2), default_contract("scrfd"))
    assert (result.size, result.input_shape) == (None, (1, 3, 320, 320))
    assert (1, 3200, 10) in result.output_shapes  # 2 anchors x (320/8)^2 rows, 5 landmarks


def _import(
    session: Session, registry: Registry, path: Path, options: ImportOptions, accept: bool = False
) -> InstallResult:
    return service.import_model(
        session=session,
        registry=registry,
        path=path,
        filename=path.name,
        options=options,
        accept_licence=accept,
        actor=cli_actor(),
        now=NOW,
    )


def test_a_model_name_fits_the_columns_its_ids_are_kept_in() -> None:
    """48 characters at most: ``name@sha8+mirror`` (faces.model) and
    ``match_threshold:name`` (app_settings.key) are 64-character columns."""
    longest = "m" * 48
    assert check_name(longest) == longest
    assert len(f"{longest}@{'0' * 8}+mirror") == 64 == len(f"match_threshold:{longest}")
    with pytest.raises(ValidationFailed):
        check_name("m" * 49)
    with pytest.raises(ValidationError):
        Settings(recogniser={"model": "m" * 49})
