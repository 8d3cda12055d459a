"""What ``facerec doctor`` found: one finding per problem, summed up per kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of finding: whether ``--repair`` fixes it, and what the operator can do."""

    name: str
    repairable: bool
    hint: str


KINDS = {
    kind.name: kind
    for kind in (
        Kind("schema_not_at_head", False, "run `facerec db upgrade` (or start the server)"),
        Kind(
            "sqlite_integrity",
            False,
            "the database file is damaged: stop the servers and restore it from a backup "
            "(`sqlite3 facerec.db .recover` salvages what it can)",
        ),
        Kind(
            "foreign_key",
            False,
            "rows point at rows that do not exist: restore the database from a backup, or "
            "delete the listed rows",
        ),
        Kind(
            "missing_image_file",
            False,
            "restore data/images/<path> from a backup; otherwise delete its faces "
            "(DELETE /api/v1/faces/{id}) and enrol the photo again",
        ),
        Kind(
            "missing_crop_file",
            False,
            "restore data/crops/<path> from a backup; the record stays valid without its picture",
        ),
        Kind(
            "checksum_mismatch",
            False,
            "the file changed on disk after it was stored: restore it from a backup",
        ),
        Kind("orphan_file", True, "a file no record refers to (a crash between file and row)"),
        Kind("temp_file", True, "a temporary file from a write that was cut short"),
        Kind(
            "face_without_image",
            False,
            "delete the face (DELETE /api/v1/faces/{id}) and enrol its photo again",
        ),
        Kind(
            "bad_embedding",
            False,
            "a stored vector of the wrong size, not finite or not unit length: delete the face "
            "(DELETE /api/v1/faces/{id}) and enrol its photo again",
        ),
        Kind("index_missing", True, "a face the vector index lacks: re-added with --repair"),
        Kind("index_extra", True, "an index entry no face row has: removed with --repair"),
        Kind("index_duplicate", True, "a face stored twice in the index: re-added once"),
        Kind("index_vector", True, "an index vector that differs from the stored one: re-added"),
        Kind(
            "index_generation",
            False,
            "the index does not reflect the database's change-log generation: "
            "run `facerec index rebuild`",
        ),
        Kind(
            "log_missing",
            True,
            "a face the change log never announced, so running workers lack it: "
            "--repair records it again",
        ),
        Kind(
            "log_extra",
            True,
            "a face the change log announces but the database lacks: --repair records its deletion",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    subject: str
    """What it is about: a table and id, or a file."""
    detail: str = ""
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class KindSummary:
    kind: str
    count: int
    repaired: int
    hint: str


@dataclass(slots=True)
class DoctorReport:
    repair: bool
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    """What was looked at: rows, files, index entries, the generation."""
    models: dict[str, str] = field(default_factory=dict)
    """The models in use (``facerec models use``) and a switch not done."""

    @property
    def unrepaired(self) -> int:
        return sum(not f.repaired for f in self.findings)

    @property
    def ok(self) -> bool:
        """Nothing left to fix (every finding, if any, was repaired)."""
        return self.unrepaired == 0

    def summary(self) -> list[KindSummary]:
        """One line per kind found, in the order of :data:`KINDS`."""
        lines = []
        for name, kind in KINDS.items():
            found = [f for f in self.findings if f.kind == name]
            if found:
                repaired = sum(f.repaired for f in found)
                lines.append(KindSummary(name, len(found), repaired, kind.hint))
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repair": self.repair,
            "unrepaired": self.unrepaired,
            "checked": dict(self.checked),
            "models": dict(self.models),
            "kinds": [asdict(line) for line in self.summary()],
            "findings": [asdict(f) for f in self.findings],
        }
