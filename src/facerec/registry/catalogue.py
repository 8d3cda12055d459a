"""The known model packs, pinned: where they are published, their sha256 and licence.

``facerec models pull NAME`` fetches one of these (from ``models.mirror_url`` when set:
the same file names under another base URL, e.g. an internal mirror or a test server);
``facerec models import FILE`` recognises their files by sha256. Provenance of the pins:

- YuNet 2023mar, SFace 2021dec: OpenCV Zoo. The sha256 and sizes are those of
  ``../shared/models/README.md`` (YuNet: the fixture's own bytes), and two other
  projects pin the same digests for the same URLs.
- InsightFace ``buffalo_l`` / ``buffalo_s``: InsightFace publishes no checksum. The zips'
  digests are what two other projects pin for these release assets (computed from the
  downloads); not verified here (no internet). Member sizes (buffalo_l) are as reported
  in insightface issue #1896. The members carry no pin of their own: the zip's digest
  covers them, so a loose ``w600k_r50.onnx`` is imported with a contract, not by hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facerec.registry.contract import InputContract

INSIGHTFACE_LICENCE = (
    "InsightFace's pretrained models are for non-commercial research use only (they were "
    "trained on data sets licensed that way); commercial use needs a licence from "
    "InsightFace. Only the operator can accept this."
)


@dataclass(frozen=True, slots=True)
class PackModel:
    """One model a pack installs."""

    name: str
    contract: InputContract
    member: str | None = None
    """Its file inside the pack's zip (None: the download is the model itself)."""
    size: int | None = None
    default_threshold: float | None = None
    """Cosine similarity at which two faces match, when one is published or measured."""
    threshold_source: str = ""


@dataclass(frozen=True, slots=True)
class KnownPack:
    name: str
    title: str
    url: str
    sha256: str
    size: int | None
    licence: str
    licence_url: str
    models: tuple[PackModel, ...]
    format: Literal["onnx", "zip"] = "onnx"
    accept_licence: bool = False
    """``pull`` refuses without the operator's explicit acceptance (``licence_note``)."""
    licence_note: str = ""

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def url_from(self, mirror_url: str | None) -> str:
        """Where to download it: the published URL, or the same file name on a mirror."""
        if not mirror_url:
            return self.url
        return mirror_url.rstrip("/") + "/" + self.filename


_ZOO = "https://media.githubusercontent.com/media/opencv/opencv_zoo/main/models/"
_INSIGHTFACE = "https://github.com/deepinsight/insightface/releases/download/v0.7/"
_ARCFACE_512 = InputContract(
    family="arcface",
    size=112,
    colour="RGB",
    mean=127.5,
    std=127.5,
    alignment="arcface-112-5pt",
    embedding_size=512,
)
_SCRFD = InputContract(family="scrfd", colour="RGB", mean=127.5, std=128.0)

YUNET = KnownPack(
    name="yunet-2023mar",
    title="YuNet face detector 2023mar (OpenCV Zoo): boxes and 5 landmarks, ~2-3 ms an image",
    url=_ZOO + "face_detection_yunet/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232_589,
    licence="MIT (OpenCV Zoo); Apache-2.0 upstream (libfacedetection.train)",
    licence_url="https://github.com/opencv/opencv_zoo/blob/main/models/face_detection_yunet/LICENSE",
    models=(
        PackModel(
            name="yunet-2023mar",
            contract=InputContract(family="yunet", size=640, colour="BGR", mean=0.0, std=1.0),
            size=232_589,
        ),
    ),
)
SFACE = KnownPack(
    name="sface-2021dec",
    title="SFace recogniser 2021dec (OpenCV Zoo): 128-d descriptors of ArcFace-aligned faces",
    url=_ZOO + "face_recognition_sface/face_recognition_sface_2021dec.onnx",
    sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
    size=38_696_353,
    licence="Apache-2.0",
    licence_url="https://github.com/opencv/opencv_zoo/blob/main/models/face_recognition_sface/LICENSE",
    models=(
        PackModel(
            name="sface-2021dec",
            contract=InputContract(
                family="arcface",
                size=112,
                colour="RGB",
                mean=0.0,
                std=1.0,
                alignment="arcface-112-5pt",
                embedding_size=128,
            ),
            size=38_696_353,
            default_threshold=0.363,
            threshold_source="OpenCV's published cosine threshold for SFace (not measured here)",
        ),
    ),
)


def _insightface(name: str, title: str, sha256: str, models: tuple[PackModel, ...]) -> KnownPack:
    return KnownPack(
        name=name,
        title=title,
        url=f"{_INSIGHTFACE}{name}.zip",
        sha256=sha256,
        size=None,
        licence="InsightFace pretrained models: non-commercial research only",
        licence_url="https://github.com/deepinsight/insightface/tree/master/python-package#license",
        format="zip",
        accept_licence=True,
        licence_note=INSIGHTFACE_LICENCE,
        models=models,
    )


BUFFALO_L = _insightface(
    "buffalo_l",
    "InsightFace buffalo_l: SCRFD-10GF detector + ArcFace ResNet-50 (WebFace600K), 512-d",
    "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f",
    (
        PackModel(name="buffalo_l-det", member="det_10g.onnx", contract=_SCRFD, size=16_923_827),
        PackModel(
            name="buffalo_l-rec", member="w600k_r50.onnx", contract=_ARCFACE_512, size=174_383_860
        ),
    ),
)
BUFFALO_S = _insightface(
    "buffalo_s",
    "InsightFace buffalo_s: SCRFD-500MF detector + ArcFace MobileFaceNet, 512-d",
    "d85a87f503f691807cd8bb97128bdf7a0660326cd9cd02657127fa978bab8b5e",
    (
        PackModel(name="buffalo_s-det", member="det_500m.onnx", contract=_SCRFD),
        PackModel(name="buffalo_s-rec", member="w600k_mbf.onnx", contract=_ARCFACE_512),
    ),
)

Catalogue = dict[str, KnownPack]
CATALOGUE: Catalogue = {p.name: p for p in (YUNET, SFACE, BUFFALO_L, BUFFALO_S)}


def pack_by_hash(catalogue: Catalogue, sha256: str) -> KnownPack | None:
    """The pack whose download has this digest (a file pulled elsewhere, imported here)."""
    return next((p for p in catalogue.values() if p.sha256 == sha256), None)
