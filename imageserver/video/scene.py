"""Scene mode: keep a frame when the picture changed enough since the last kept frame.

The measure is the mean absolute difference of 64x36 grayscale thumbnails divided by 255
(0..1; a full black/white swap is 1), compared with the LAST KEPT frame, not the previous one,
so slow scrolls and fades are caught as well as cuts.
"""

from __future__ import annotations

from typing import Any

THUMB_SIZE = (64, 36)


class SceneDetector:
    """Decides, frame by frame in decode order, whether a frame starts a new scene."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.last_thumb: Any = None  # thumbnail of the last kept frame

    def keep(self, frame: Any) -> bool:
        """Return True when `frame` (a PyAV VideoFrame) differs enough from the last kept one."""
        from PIL import ImageChops
        from PIL import ImageStat

        # swscale's AREA filter averages blocks, which also damps compression noise.
        thumb = frame.reformat(
            width=THUMB_SIZE[0], height=THUMB_SIZE[1], format="gray", interpolation="AREA"
        ).to_image()
        if self.last_thumb is None:
            self.last_thumb = thumb
            return True
        diff = ImageStat.Stat(ImageChops.difference(thumb, self.last_thumb)).mean[0] / 255
        if diff > self.threshold:
            self.last_thumb = thumb
            return True
        return False
