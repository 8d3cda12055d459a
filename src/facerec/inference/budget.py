"""A process-wide bound on the decoded pixels held in memory at once.

Each upload is capped (``upload.max_pixels``), but many large images analysed or waiting
together could still exhaust memory. :class:`PixelBudget` counts the pixels of every
image from just before it is decoded until its pixels are let go; an image that would
push the total past ``inference.max_pixels_in_flight`` waits, first come first served,
for others to finish. Waiting images hold a place in the inference stage, so
``inference.max_pending`` still bounds how many wait: past it, callers get ``Busy``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import warnings
from collections import deque

from PIL import Image


def image_pixels(data: bytes) -> int:
    """Width x height read from the image's header (nothing is decoded); 0 when the bytes
    do not open as an image (decoding then fails with the proper error, at no cost)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # any unreadable header: decode_image says what is wrong
        return 0
    return int(width) * int(height)


class PixelBudget:
    """A counting semaphore over pixels, awaited from async code, released from anywhere."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def used(self) -> int:
        """Pixels taken now."""
        return self._used

    @property
    def waiting(self) -> int:
        """Images waiting for room."""
        return len(self._waiters)

    async def acquire(self, pixels: int) -> int:
        """Wait until ``pixels`` fit; the amount taken (give it back with :meth:`release`).

        An image larger than the whole budget takes all of it, so it runs alone."""
        amount = min(max(0, pixels), self.capacity)
        with self._lock:
            if not self._waiters and self._used + amount <= self.capacity:
                self._used += amount
                return amount
            entry = (amount, asyncio.get_running_loop().create_future())
            self._waiters.append(entry)
        try:
            await entry[1]
        except BaseException:  # cancelled while waiting, or just after being let in
            with self._lock:
                granted = entry not in self._waiters
                if not granted:
                    self._waiters.remove(entry)
                    self._grant()  # the queue's head may have changed
            if granted:
                self.release(amount)
            raise
        return amount

    def release(self, amount: int) -> None:
        with self._lock:
            self._used -= amount
            self._grant()

    def _grant(self) -> None:
        """Let waiters in, in arrival order, while the first one fits (lock held)."""
        while self._waiters and self._used + self._waiters[0][0] <= self.capacity:
            amount, future = self._waiters.popleft()
            self._used += amount
            future.get_loop().call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
