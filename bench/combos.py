"""Every detector x recogniser combination the benches can run here, decided at run time.

Detectors: dlib's ``hog`` and ``cnn`` and every installed registry detector; recognisers:
``dlib-resnet`` and every installed registry recogniser. The model fixtures of
``../shared/models`` (YuNet, MobileFaceNet) are installed first into the bench's own
throwaway registry (``<data dir>/models/registry``; never the repository), so they take
part where present; a fixture that is absent, or an installed model the fast engine cannot
run, is listed as skipped with the reason. Each combination carries the threshold the
server would use with it: the recogniser manifest's ``default_threshold``, else the
configured ``match_threshold`` (what ``engines.with_model_threshold`` does).

Used by ``bench/eval_lfw.py --all`` and ``bench/pipeline.py --all``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facerec.config import Settings
from facerec.inference.parts import DLIB_DETECTORS, DLIB_RECOGNISER
from facerec.registry.catalogue import YUNET
from facerec.registry.contract import InputContract, default_contract
from facerec.registry.store import ModelManifest, ModelStore, sha256_file

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
RUNNABLE = {"detector": "yunet", "recogniser": "arcface"}
"""The registry family the fast engine runs for each kind (``inference/parts.py``)."""


@dataclass(frozen=True, slots=True)
class Fixture:
    name: str
    file: Path
    contract: InputContract
    licence: str


FIXTURES = (
    Fixture(
        "yunet-2023mar",
        SHARED_MODELS / "yunet" / "face_detection_yunet_2023mar.onnx",
        YUNET.models[0].contract,
        YUNET.licence,
    ),
    Fixture(
        "mobilefacenet",
        SHARED_MODELS / "mobilefacenet" / "mobilefacenet.onnx",
        default_contract("arcface").model_copy(update={"std": 128.0, "embedding_size": 128}),
        "test fixture: trained on a research-only data set (shared/models/README.md)",
    ),
)


@dataclass(frozen=True, slots=True)
class Combo:
    """One detector x recogniser; ``skipped`` says why it cannot run here."""

    detector: str
    recogniser: str
    threshold: float
    threshold_source: str
    skipped: str = ""

    @property
    def label(self) -> str:
        return f"{self.detector} + {self.recogniser}"


def install_fixtures(data_dir: Path) -> dict[str, str]:
    """Install the present fixtures into ``data_dir``'s registry (once); the absent ones
    by name, with why."""
    store = ModelStore(Settings(data_dir=data_dir).models_dir)
    missing: dict[str, str] = {}
    for fixture in FIXTURES:
        if store.find(fixture.name) is not None:
            continue
        if not fixture.file.is_file():
            missing[fixture.name] = f"fixture absent: {fixture.file}"
            continue
        store.install(fixture.file, _manifest(fixture))
    return missing


def _manifest(fixture: Fixture) -> ModelManifest:
    side = fixture.contract.size or 640
    return ModelManifest(
        name=fixture.name,
        kind=fixture.contract.kind,
        contract=fixture.contract,
        input_shape=[1, 3, side, side],
        sha256=sha256_file(fixture.file),
        size=fixture.file.stat().st_size,
        source=f"import:{fixture.file.name} (bench/combos.py)",
        licence=fixture.licence,
        installed_at=datetime.now(UTC),
        installed_by="bench",
    )


def combinations(data_dir: Path) -> list[Combo]:
    """Every combination, runnable or skipped (with why), in a stable order."""
    missing = install_fixtures(data_dir)
    settings = Settings(data_dir=data_dir)
    installed = ModelStore(settings.models_dir).list()
    why_not: dict[str, str] = dict(missing)
    for m in installed:
        if m.contract.family != RUNNABLE[m.kind]:
            why_not[m.name] = (
                f"a {m.contract.family} {m.kind}: the fast engine runs {RUNNABLE[m.kind]}"
            )
    detectors = [*DLIB_DETECTORS, *(m.name for m in installed if m.kind == "detector")]
    recognisers = [DLIB_RECOGNISER, *(m.name for m in installed if m.kind == "recogniser")]
    for fixture in FIXTURES:
        if fixture.name in missing:
            kind_list = detectors if fixture.contract.kind == "detector" else recognisers
            kind_list.append(fixture.name)
    thresholds = {m.name: m.default_threshold for m in installed if m.kind == "recogniser"}
    combos = []
    for recogniser in recognisers:
        own = thresholds.get(recogniser)
        if own is not None:
            threshold, source = own, "manifest"
        elif recogniser == DLIB_RECOGNISER:
            threshold, source = settings.match_threshold, "configured"
        else:
            threshold, source = settings.match_threshold, "configured (none in the manifest)"
        for detector in detectors:
            skipped = "; ".join(why_not[n] for n in (detector, recogniser) if n in why_not)
            combos.append(Combo(detector, recogniser, threshold, source, skipped))
    return combos


# -- the one table ------------------------------------------------------------------------
ACCURACY_ALL = "eval_lfw_all.json"
"""``bench/eval_lfw.py --all`` writes it under data/bench: one entry per combination."""
TIMING_ALL = "pipeline_all.json"
"""``bench/pipeline.py --all`` writes it under data/bench: mean ms per stage."""
STAGES = ("decode", "detect", "landmarks", "align", "embed")
SHIPPED = "chip + mirror"  # what the server runs (inference.tta = mirror)


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def table_rows(accuracy: dict[str, Any], timing: dict[str, Any]) -> list[list[str]]:
    """One row per combination: accuracy (chip + mirror, 10-fold), the threshold and FAR /
    FRR at it, no-face rate, pairs and images measured, ms per stage and in all."""
    rows = []
    for label in dict.fromkeys([*accuracy, *timing]):
        acc, ms = accuracy.get(label, {}), timing.get(label, {})
        skipped = acc.get("skipped") or ms.get("skipped")
        if skipped:
            rows.append([label, f"skipped: {skipped}", *[""] * (8 + len(STAGES))])
            continue
        shipped = acc.get(SHIPPED, {})
        v = shipped.get("verification", {})
        measured = ""
        if acc:
            sample = "" if acc["every"] == 1 else f" (every {acc['every']}th pair)"
            measured = f"{acc['pairs']} pairs, {acc['images']} images{sample}"
        threshold = v.get("default_threshold")
        rows.append(
            [
                label,
                measured,
                _pct(v.get("accuracy_10fold")),
                "" if threshold is None else f"{threshold:.4f} ({acc['threshold_source']})",
                _pct(v.get("far_at_default")),
                _pct(v.get("frr_at_default")),
                _pct(shipped.get("no_face")),
                *[f"{ms[s]:.1f}" if s in ms else "" for s in STAGES],
                f"{sum(ms[s] for s in STAGES):.1f}" if ms else "",
                f"{ms['images']}" if ms else "",
            ]
        )
    return rows


HEADER = [
    "detector + recogniser",
    "LFW-dev pairs measured",
    "10-fold accuracy",
    "threshold",
    "FAR",
    "FRR",
    "no face",
    *(f"{s} ms" for s in STAGES),
    "total ms",
    "images timed",
]


def print_table(out: Path) -> None:
    """The Markdown table of what ``out`` holds from either script (or both)."""
    rows = table_rows(_read(out / ACCURACY_ALL), _read(out / TIMING_ALL))
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    if not (out / ACCURACY_ALL).is_file():
        print("(accuracy: run bench/eval_lfw.py --all)")
    if not (out / TIMING_ALL).is_file():
        print("(ms per stage: run bench/pipeline.py --all)")
