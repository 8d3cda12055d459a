"""The model registry for the API and the CLI alike: list, pull, import, use, remove.

No HTTP here. Files are installed first (``store.py``: atomic), then the audit entry
commits; if that commit fails the files go again. ``use`` and ``remove`` run under the
database write lock, so a model cannot be removed while another process chooses it.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from facerec.audit import record
from facerec.auth.principal import Principal
from facerec.config import Settings
from facerec.db.engine import lock_for_write
from facerec.errors import InvalidModel, LicenceNotAccepted, NotFound, ValidationFailed
from facerec.registry.catalogue import CATALOGUE, Catalogue, KnownPack, PackModel, pack_by_hash
from facerec.registry.contract import Family, InputContract, Kind, default_contract
from facerec.registry.download import Progress, fetch
from facerec.registry.probe import probe
from facerec.registry.shapes import (
    BuiltinPublic,
    InstallResult,
    ModelList,
    ModelPublic,
    PackPublic,
)
from facerec.registry.store import ModelManifest, ModelStore, check_name, sha256_file


@dataclass(frozen=True, slots=True)
class Registry:
    """Where models live and where known packs come from (tests pass their own)."""

    store: ModelStore
    catalogue: Catalogue = field(default_factory=lambda: dict(CATALOGUE))
    mirror_url: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(
            store=ModelStore(settings.models_dir),
            mirror_url=settings.models.mirror_url,
            timeout=settings.models.timeout_seconds,
        )


BUILTIN: dict[str, tuple[Kind, str]] = {
    "dlib-hog": ("detector", "dlib's HOG detector (packaged; with the CNN as fallback)"),
    "dlib-cnn": ("detector", "dlib's MMOD CNN detector (packaged)"),
    "dlib-resnet": ("recogniser", "dlib's ResNet descriptor, 128-d (packaged)"),
}
"""The models that come inside ``face_recognition_models``: always there, never removed."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """The contract of a file that is not a known one (``--kind arcface --size 112 ...``);
    None: the family's usual value (``contract.default_contract``)."""

    family: Family | None = None
    name: str | None = None
    size: int | None = None
    colour: str | None = None
    mean: float | None = None
    std: float | None = None
    embedding_size: int | None = None
    licence: str = "unknown (imported by the operator)"


def list_models(*, registry: Registry) -> ModelList:
    installed = registry.store.list()
    names = {m.name for m in installed}
    return ModelList(
        models=[_public(m) for m in installed],
        builtin=[BuiltinPublic(name=n, kind=k, description=d) for n, (k, d) in BUILTIN.items()],
        packs=[_pack_public(p, registry, names) for p in registry.catalogue.values()],
    )


def pull_pack(
    *,
    session: Session,
    registry: Registry,
    name: str,
    accept_licence: bool,
    actor: Principal,
    now: datetime,
    progress: Progress | None = None,
) -> InstallResult:
    """Download a known pack (resuming, sha256 checked), probe and install its models."""
    pack = registry.catalogue.get(name)
    if pack is None:
        known = ", ".join(registry.catalogue)
        raise NotFound(f"no known pack {name!r} (known: {known})", resource="pack", name=name)
    _check_licence(pack, accept_licence)
    if all(registry.store.find(m.name) for m in pack.models):
        return _result(registry, pack.models, [])
    url = pack.url_from(registry.mirror_url)
    part = registry.store.downloads / f"{pack.filename}.part"
    fetch(url, part, sha256=pack.sha256, timeout=registry.timeout, progress=progress)
    done = _install_pack(
        session,
        registry,
        pack,
        part,
        source=url,
        action="pull",
        accepted=accept_licence,
        actor=actor,
        now=now,
    )
    part.unlink(missing_ok=True)
    return done


def import_model(
    *,
    session: Session,
    registry: Registry,
    path: Path,
    filename: str,
    options: ImportOptions,
    accept_licence: bool,
    actor: Principal,
    now: datetime,
) -> InstallResult:
    """Install a local file: a known pack's file (by sha256), else as ``options`` say."""
    digest = sha256_file(path)
    pack = pack_by_hash(registry.catalogue, digest)
    if pack is not None:
        _check_licence(pack, accept_licence)
        source = f"import:{filename} (known as {pack.url})"
        return _install_pack(
            session,
            registry,
            pack,
            path,
            source=source,
            action="import",
            accepted=accept_licence,
            actor=actor,
            now=now,
        )
    if options.family is None:
        raise ValidationFailed(
            f"{filename} is not a known model file (sha256 {digest}): say what it is "
            "(--kind arcface|yunet|scrfd and its input contract)",
            field="kind",
        )
    model = PackModel(name=_import_name(filename, options), contract=_contract_of(options))
    manifest = _install_one(
        registry,
        model,
        path,
        source=f"import:{filename}",
        licence=options.licence,
        pack=None,
        accepted=False,
        actor=actor,
        now=now,
    )
    _audit(session, "import", [manifest], actor=actor, now=now, registry=registry)
    return _result(registry, (model,), [manifest.name])


def remove_model(
    *, session: Session, registry: Registry, name: str, actor: Principal, now: datetime
) -> None:
    """Delete an installed model; refused for a packaged one."""
    if name in BUILTIN:
        raise ValidationFailed(f"{name} is packaged with FaceRec and cannot be removed")
    lock_for_write(session)
    manifest = registry.store.get(name)
    registry.store.remove(name)
    record(
        session,
        actor=actor,
        action="remove",
        entity="model",
        details={"name": name, "kind": manifest.kind, "sha256": manifest.sha256},
        time=now,
    )
    session.commit()


def _check_licence(pack: KnownPack, accepted: bool) -> None:
    if pack.accept_licence and not accepted:
        raise LicenceNotAccepted(
            f"{pack.name}: {pack.licence_note} Read {pack.licence_url}, then pull again "
            "with --accept-licence (API: accept_licence=true).",
            pack=pack.name,
            licence=pack.licence,
            licence_url=pack.licence_url,
        )


def _install_pack(
    session: Session,
    registry: Registry,
    pack: KnownPack,
    file: Path,
    *,
    source: str,
    action: str,
    accepted: bool,
    actor: Principal,
    now: datetime,
) -> InstallResult:
    installed: list[ModelManifest] = []
    with _members(pack, file, registry.store.downloads) as members:
        for model, path in members:
            if registry.store.find(model.name) is None:
                installed.append(
                    _install_one(
                        registry,
                        model,
                        path,
                        source=source,
                        licence=pack.licence,
                        pack=pack.name,
                        accepted=accepted and pack.accept_licence,
                        actor=actor,
                        now=now,
                    )
                )
    _audit(session, action, installed, actor=actor, now=now, registry=registry)
    return _result(registry, pack.models, [m.name for m in installed])


@contextmanager
def _members(pack: KnownPack, file: Path, scratch: Path) -> Iterator[list[tuple[PackModel, Path]]]:
    """The pack's model files: the file itself, or its zip members in ``scratch``."""
    if pack.format == "onnx":
        yield [(pack.models[0], file)]
        return
    folder = scratch / f".unzip-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        out: list[tuple[PackModel, Path]] = []
        with zipfile.ZipFile(file) as archive:
            members = {Path(n).name: n for n in archive.namelist()}
            for model in pack.models:
                member = members.get(model.member or "")
                if member is None:
                    raise InvalidModel(f"{pack.name}'s zip has no {model.member}")
                target = folder / (model.member or model.name)
                with archive.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                out.append((model, target))
        yield out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _install_one(
    registry: Registry,
    model: PackModel,
    path: Path,
    *,
    source: str,
    licence: str,
    pack: str | None,
    accepted: bool,
    actor: Principal,
    now: datetime,
) -> ModelManifest:
    check_name(model.name)
    result = probe(path, model.contract)
    contract = model.contract.model_copy(
        update={
            "size": model.contract.size or result.size,
            "embedding_size": result.embedding_size,
        }
    )
    manifest = ModelManifest(
        name=model.name,
        kind=contract.kind,
        contract=contract,
        input_shape=list(result.input_shape),
        sha256=sha256_file(path),
        size=path.stat().st_size,
        source=source,
        pack=pack,
        licence=licence,
        licence_accepted=accepted,
        default_threshold=model.default_threshold,
        threshold_source=model.threshold_source,
        installed_at=now,
        installed_by=actor.label[:100],
    )
    return registry.store.install(path, manifest)


def _audit(
    session: Session,
    action: str,
    installed: list[ModelManifest],
    *,
    actor: Principal,
    now: datetime,
    registry: Registry,
) -> None:
    if not installed:
        return
    try:
        for m in installed:
            details = m.model_dump(
                mode="json", include={"name", "kind", "sha256", "source", "pack", "licence"}
            )
            details["licence_accepted"] = m.licence_accepted
            record(session, actor=actor, action=action, entity="model", details=details, time=now)
        session.commit()
    except Exception:
        session.rollback()
        for m in installed:
            registry.store.remove(m.name)
        raise


def _result(
    registry: Registry, models: tuple[PackModel, ...], installed: list[str]
) -> InstallResult:
    return InstallResult(
        models=[_public(registry.store.get(m.name)) for m in models],
        installed=installed,
    )


def _contract_of(options: ImportOptions) -> InputContract:
    assert options.family is not None
    base = default_contract(options.family)
    given = {
        "size": options.size,
        "colour": options.colour,
        "mean": options.mean,
        "std": options.std,
        "embedding_size": options.embedding_size,
    }
    merged = {**base.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    try:
        return InputContract.model_validate(merged)
    except ValueError as exc:
        raise ValidationFailed(f"not a valid input contract: {exc}") from exc


def _import_name(filename: str, options: ImportOptions) -> str:
    if options.name:
        return check_name(options.name)
    stem = Path(filename).stem.lower()
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("._-")
    return check_name(cleaned[:64] or "model")


def _public(m: ModelManifest) -> ModelPublic:
    return ModelPublic(**m.model_dump(exclude={"format", "input_shape"}), family=m.contract.family)


def _pack_public(pack: KnownPack, registry: Registry, installed: set[str]) -> PackPublic:
    return PackPublic(
        name=pack.name,
        title=pack.title,
        url=pack.url_from(registry.mirror_url),
        sha256=pack.sha256,
        size=pack.size,
        licence=pack.licence,
        licence_url=pack.licence_url,
        accept_licence=pack.accept_licence,
        licence_note=pack.licence_note,
        models=[m.name for m in pack.models],
        installed=all(m.name in installed for m in pack.models),
    )
