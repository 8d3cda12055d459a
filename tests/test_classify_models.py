"""The real classifiers: the ``.pth`` reader, and parity of our ONNX conversion with the
same network in PyTorch (top-5 identical, probabilities within 1e-4) on real photos.

torch is a test-only dependency (the ``reference`` extra); where it is not installed
(Python 3.13: no CPU wheel of the pinned torch) the parity tests skip, saying so.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import skimage.data
from PIL import Image

from facerec.errors import NotReady
from facerec.inference.classifier import CLASSIFIERS, OnnxClassifier, prepare, weights_path
from facerec.inference.torch_weights import LEGACY_MAGIC, WeightsFormatError, read_state_dict
from tests.conftest import shared_path

SKIMAGE = Path(skimage.data.__file__).parent
PHOTOS = {
    "chelsea.png": SKIMAGE / "chelsea.png",
    "coffee.png": SKIMAGE / "coffee.png",
    "rocket.jpg": SKIMAGE / "rocket.jpg",
    "motorcycle_left.png": SKIMAGE / "motorcycle_left.png",
    "astronaut.png": SKIMAGE / "astronaut.png",
    "grace_hopper.jpg": Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
}


def _installed() -> list[str]:
    names = []
    for name, spec in CLASSIFIERS.items():
        try:
            weights_path(spec)
        except NotReady:
            continue
        names.append(name)
    return names


def _batch(paths: list[Path], name: str) -> np.ndarray:
    spec = CLASSIFIERS[name]
    return np.stack([prepare(np.asarray(Image.open(p).convert("RGB")), spec) for p in paths])


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifier-cache")


def _parity(name: str, paths: list[Path], cache: Path) -> None:
    torch_reference = pytest.importorskip(
        "tests.classify_reference", reason="torch is not installed (the reference extra)"
    )
    spec = CLASSIFIERS[name]
    batch = _batch(paths, name)
    ours = OnnxClassifier(spec, cache).probabilities(batch)
    net = torch_reference.reference_network(spec, weights_path(spec))
    theirs = torch_reference.reference_probabilities(net, spec, batch)
    assert ours.shape == theirs.shape == (len(paths), 1000)
    for row, (mine, ref) in enumerate(zip(ours, theirs, strict=True)):
        assert list(np.argsort(-mine)[:5]) == list(np.argsort(-ref)[:5]), paths[row].name
    assert float(np.abs(ours - theirs).max()) < 1e-4


@pytest.mark.parametrize("name", _installed())
def test_onnx_matches_the_torch_reference_on_real_photos(name: str, cache: Path) -> None:
    _parity(name, list(PHOTOS.values()), cache)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", _installed())
def test_onnx_matches_the_torch_reference_on_shared_photos(name: str, cache: Path) -> None:
    folder = shared_path("lfw-dev")
    paths = sorted(folder.rglob("*.jpg"))[:16]
    _parity(name, paths, cache)


def test_the_default_model_calls_a_cat_a_cat_and_an_espresso_an_espresso(cache: Path) -> None:
    classifier = OnnxClassifier(CLASSIFIERS["efficientnet-lite0"], cache)
    probabilities = classifier.probabilities(
        _batch([PHOTOS["chelsea.png"], PHOTOS["coffee.png"]], "efficientnet-lite0")
    )
    cat, coffee = (classifier.labels[int(row.argmax())] for row in probabilities)
    assert cat in {"tabby", "tiger cat", "Egyptian cat"}
    assert coffee == "espresso"
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_the_converted_model_is_cached_and_a_corrupt_cache_rebuilt(cache: Path) -> None:
    spec = CLASSIFIERS["efficientnet-lite0"]
    OnnxClassifier(spec, cache / "own").load()
    second = OnnxClassifier(spec, cache / "own")
    second.load()
    assert second.from_cache is True
    (cached,) = (cache / "own").glob("*.onnx")
    cached.write_bytes(cached.read_bytes()[:-100])
    third = OnnxClassifier(spec, cache / "own")
    third.load()
    assert third.from_cache is False


def test_the_reader_rebuilds_strided_tensors_as_stored() -> None:
    weights = read_state_dict(weights_path(CLASSIFIERS["efficientnet-lite0"]))
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert weights["_conv_stem.weight"].flags.c_contiguous


def _legacy(tree_pickle: bytes, storages: list[tuple[str, np.ndarray]]) -> bytes:
    out = io.BytesIO()
    for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(tree_pickle)
    pickle.dump([key for key, _ in storages], out, protocol=2)
    for _, data in storages:
        out.write(struct.pack("<q", data.size) + data.astype("<f4").tobytes())
    return out.getvalue()


def test_the_reader_refuses_anything_but_tensors(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy(pickle.dumps({"w": Evil()}, protocol=2), []))
    with pytest.raises(WeightsFormatError, match=r"refusing to load .*print"):
        read_state_dict(path)


def test_the_reader_refuses_a_truncated_file(tmp_path: Path) -> None:
    data = weights_path(CLASSIFIERS["efficientnet-lite0"]).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFormatError, match="truncated"):
        read_state_dict(path)


def test_the_reader_reads_the_zip_format(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (the reference extra)")
    expected = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = tmp_path / "new.pth"
    state = {"a": torch.from_numpy(expected), "b": torch.from_numpy(expected).permute(2, 0, 1)}
    torch.save(state, path)
    read = read_state_dict(path)
    assert np.array_equal(read["a"], expected)
    assert np.array_equal(read["b"], expected.transpose(2, 0, 1))
