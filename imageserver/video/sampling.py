"""Which frames a sampling mode keeps, and which packets the decoder may skip for it.

The rules (see the top of `extract.py`) are decided here once: `Chooser` on decoded frames,
`SkipPlan` on packets before they are decoded. At ``fps=F`` a frame is kept when it is the
first frame at or after a target k/F, which is the same as: its time and its predecessor's
(in presentation order) fall in different 1/F bins. A packet whose frame provably shares its
bin with an earlier frame can never be kept, so the codec may drop it if no other frame
needs it (FFmpeg's ``skip_frame = NONREF`` drops only frames nothing references).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from imageserver.video.scene import SceneDetector

SLACK = 1e-3  # seconds: absorbs time-base rounding (0.9999 for 1.0)
SEEN_MAX = 512  # presentation times remembered for the predecessor look-up


def fps_bin(t: float, fps: float) -> int:
    """The 1/F interval a time falls in, with the slack: ``[k/F - SLACK, (k+1)/F - SLACK)``."""
    return math.floor((t + SLACK) * fps)  # floor: a frame before 0 is in bin -1, never chosen


class Chooser:
    """Decides, frame by frame in presentation order, whether a decoded frame is kept."""

    def __init__(self, mode: str, value: float) -> None:
        self.mode, self.value = mode, value
        self.next_bin = 0  # fps mode: the next 1/F interval to reach
        self.scene = SceneDetector(value) if mode == "scene" else None

    @property
    def next_target(self) -> float:
        """fps mode: the next k/F second to reach."""
        return self.next_bin / self.value

    def choose(self, index: int, t: float, frame: Any) -> bool:
        """True when the frame (``index``-th decoded, at ``t`` seconds) is kept."""
        if self.mode == "every":
            return index % int(self.value) == 0
        if self.mode == "fps":
            # The same integer arithmetic as `SkipPlan`, so both agree on every boundary.
            now = fps_bin(t, self.value)
            if now < self.next_bin:
                return False
            # Skip every target this frame already covers, so a gap never emits duplicates.
            self.next_bin = now + 1
            return True
        assert self.scene is not None
        return self.scene.keep(frame)  # every frame: a scene change can be any frame


class SkipPlan:
    """For fps sampling: whether a packet's frame may be dropped by the codec.

    A frame is droppable when a smaller presentation time in the same 1/F bin has been seen.
    Packets are judged a few packets late (`extract.LOOKAHEAD`), so the frames that follow in
    decode order but come before in presentation order (B-frames) are known. An unseen
    predecessor only makes the answer "decode it", never a wrong skip: a missing time can
    only move the known predecessor earlier, which widens the interval checked.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.seen: list[float] = []

    def saw(self, t: float) -> None:
        """Remember a demuxed packet's presentation time."""
        bisect.insort(self.seen, t)
        if len(self.seen) > SEEN_MAX:
            del self.seen[: SEEN_MAX // 2]  # the earliest times: long decoded

    def forget(self) -> None:
        """After a seek: the times before the landing point are no longer predecessors."""
        self.seen.clear()

    def droppable(self, t: float | None) -> bool:
        """True when the frame at ``t`` cannot be the first at or after any target."""
        if t is None:
            return False
        i = bisect.bisect_left(self.seen, t)
        if i == 0:
            return False
        return fps_bin(self.seen[i - 1], self.fps) == fps_bin(t, self.fps)
