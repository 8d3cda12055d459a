"""Test-time augmentation: mirrored chips, dlib-style jitter, the mirror-averaging embedder."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from facerec.inference.augment import MirrorAveraged, jittered, mirrored
from facerec.inference.dlib_align import dlib_chips
from facerec.inference.types import Landmarks
from tests.conftest import hopper_bytes


def _chip() -> NDArray[np.uint8]:
    """A 150x150 crop of Grace Hopper's portrait (a real face; any texture would do)."""
    pixels = np.asarray(Image.open(io.BytesIO(hopper_bytes())).convert("RGB"))
    return np.ascontiguousarray(pixels[100:250, 170:320])


class ChipSums:
    """A fake chip embedder: the descriptor is the mean colour of each half of the chip."""

    model_id = "halves-v1"
    dim = 6

    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(
        self, image: NDArray[np.uint8], landmarks: Sequence[Landmarks]
    ) -> NDArray[np.float32]:
        return self.embed_chips(dlib_chips(image, landmarks))

    def embed_chips(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        self.batches.append(len(chips))
        left, right = chips[:, :, :75].mean(axis=(1, 2)), chips[:, :, 75:].mean(axis=(1, 2))
        return np.concatenate([left, right], axis=1).astype(np.float32)


def test_mirrored_flips_left_and_right() -> None:
    chips = np.stack([_chip(), _chip()[::-1]])
    flipped = mirrored(chips)
    assert flipped.shape == chips.shape and flipped.flags.c_contiguous
    np.testing.assert_array_equal(flipped[0, :, 0], chips[0, :, -1])
    np.testing.assert_array_equal(mirrored(flipped), chips)


def test_jitter_is_reproducible_small_and_varied() -> None:
    chip = _chip()
    copies = jittered(chip, 10, seed=3)
    assert copies.shape == (10, 150, 150, 3) and copies.dtype == np.uint8
    np.testing.assert_array_equal(copies, jittered(chip, 10, seed=3))
    assert not np.array_equal(copies, jittered(chip, 10, seed=4))
    # each copy is close to the chip or to its mirror image (a few pixels' move), not equal
    for copy in copies.astype(np.int16):
        error = min(np.abs(copy - chip).mean(), np.abs(copy - chip[:, ::-1]).mean())
        assert 0 < error < 25
    assert (
        len(
            {
                np.abs(c.astype(int) - chip).mean() < np.abs(c.astype(int) - chip[:, ::-1]).mean()
                for c in copies
            }
        )
        == 2
    )


def test_mirror_averaged_sums_chip_and_mirror_in_one_call() -> None:
    inner = ChipSums()
    embedder = MirrorAveraged(inner)
    assert embedder.model_id == "halves-v1+mirror" and embedder.dim == 6
    chips = np.stack([_chip(), np.zeros((150, 150, 3), np.uint8)])
    vectors = embedder.embed_chips(chips)
    assert inner.batches == [4]
    expected = inner.embed_chips(chips) + inner.embed_chips(mirrored(chips))
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    # a mirrored face gets the same descriptor: left and right halves swap, then sum
    swapped = embedder.embed_chips(mirrored(chips))
    np.testing.assert_allclose(swapped, vectors, rtol=1e-6)
    assert embedder.embed(np.zeros((10, 10, 3), np.uint8), []).shape == (0, 6)
