"""Scene mode: keep a frame when the screen shows something new, once it has settled.

The measure (`changed_share`, 0..1) is built for screen recordings, where a new screen is
text moving or being replaced inside a layout that stays put (a fixed header and sidebar, a
task bar) on mostly flat backgrounds. The mean difference of a whole thumbnail barely moves
there: a page of new text beside the same sidebar changes few grey levels on average. So
every frame is reduced by the decoder's scaler (AREA: it averages, damping codec noise) to a
256x144 grey picture and cut into a 64x36 grid of cells (4x4 pixels each; 30x30 at 1080p):

* a cell has *changed* when its mean absolute grey difference is above `CELL_LEVEL`;
* a cell *holds content* when it has grey steps both across and down (text, icons, pictures;
  a straight border or separator line has steps one way only, so the fixed frame of a layout
  does not dilute the share);
* the share is changed cells / cells that changed or hold content in either picture, the
  denominator counting at least `MIN_CONTENT` of the grid, so on a nearly empty screen a
  pointer is not a scene.

So T = 0.3 means "about a third of what is on the screen is new". Scrolling by a few lines, a
new page beside the same sidebar and header, or a new window are 0.5-1; a moving pointer and
a ticking clock stay under 0.02 (thresholds under `NOISE_FLOOR` act as it); a small dialog
is about 0.1.

A frame is kept when its share against the LAST KEPT frame is above T and the picture has
settled (its share against the previous frame is at most `STILL`), so a scroll or an
animation gives one frame, where it stops, not one per step; a cut is kept one frame late
(the first frame that equals its successor). A picture that keeps changing for
`MAX_UNSETTLED` seconds is kept anyway (a video playing on the screen, a long drag), and one
that comes back to the kept screen before settling (a flash) is not kept. Cost per frame: the
scaler's pass over the frame, then a few Pillow operations on the small picture; the content
cells are computed only when the count of changed cells alone cannot decide.
"""

from __future__ import annotations

from typing import Any

from PIL import Image
from PIL import ImageChops

WORK_SIZE = (256, 144)  # the grey picture every frame is reduced to (swscale, AREA)
GRID = (64, 36)  # cells: 4x4 pixels of the work picture each
CELL_LEVEL = 6  # mean |grey difference| in a cell (0-255) above which it has changed
EDGE_LEVEL = 6  # mean grey step across AND down in a cell (0-255) for it to hold content
MIN_CONTENT = 0.25  # the share's denominator counts at least this much of the grid
NOISE_FLOOR = 0.02  # smaller thresholds act as this: under it, the pointer and a clock count
STILL = 0.05  # share against the previous frame at or under which the picture has settled
MAX_UNSETTLED = 1.0  # seconds: a picture that keeps changing is kept after this long
FALLBACK_RATE = 30.0  # frames per second assumed for frames without a timestamp

_CELLS = GRID[0] * GRID[1]
_FACTOR = WORK_SIZE[0] // GRID[0]  # work pixels per cell side (the grid divides it exactly)


def _table(level: int) -> list[int]:
    """A `point` table: 255 above ``level``, else 0."""
    return [255 if v > level else 0 for v in range(256)]


_CHANGED = _table(CELL_LEVEL)
_CONTENT = _table(EDGE_LEVEL)


class Picture:
    """One frame reduced for comparing: its grey work picture and (when asked) its content."""

    def __init__(self, gray: Image.Image) -> None:
        self.gray = gray
        self._content: Image.Image | None = None

    @property
    def content(self) -> Image.Image:
        """The grid's cells with grey steps both across and down: 255 or 0 (computed on
        first use: most frames are decided by the count of changed cells alone)."""
        if self._content is None:
            # offset() wraps around, which only touches the outermost cells.
            gray = self.gray
            across = ImageChops.difference(gray, ImageChops.offset(gray, 1, 0)).reduce(_FACTOR)
            down = ImageChops.difference(gray, ImageChops.offset(gray, 0, 1)).reduce(_FACTOR)
            self._content = ImageChops.darker(across, down).point(_CONTENT)
        return self._content

    @classmethod
    def of_frame(cls, frame: Any) -> Picture:
        """Reduce a PyAV VideoFrame (the scaler's AREA filter averages, damping codec noise)."""
        small = frame.reformat(
            width=WORK_SIZE[0], height=WORK_SIZE[1], format="gray", interpolation="AREA"
        )
        # to_image() would convert to RGB; a copy of the grey plane (rows may be padded to
        # `line_size`) is all we need, and owes nothing to the frame's buffers afterwards.
        plane = small.planes[0]
        size = (small.width, small.height)
        return cls(Image.frombytes("L", size, bytes(plane), "raw", "L", plane.line_size, 1))

    @classmethod
    def of_image(cls, image: Image.Image) -> Picture:
        """Reduce a Pillow image (for tests and tools; frames use `of_frame`)."""
        return cls(image.convert("L").resize(WORK_SIZE, Image.Resampling.BOX))


class Comparison:
    """How two pictures differ: the changed cells, and the share when it is asked for."""

    def __init__(self, a: Picture, b: Picture) -> None:
        self.a, self.b = a, b
        self.diff = ImageChops.difference(a.gray, b.gray).reduce(_FACTOR)
        self.changed = sum(self.diff.histogram()[CELL_LEVEL + 1 :])

    def above(self, level: float) -> bool:
        """Whether the share is above ``level``, computing content only when the count of
        changed cells alone cannot tell (the share's denominator lies in [floor, cells])."""
        if self.changed <= level * MIN_CONTENT * _CELLS:
            return False
        if self.changed > level * _CELLS:
            return True
        return self.share() > level

    def share(self) -> float:
        """Changed cells / cells that hold content in either picture or changed (>= floor)."""
        if self.changed == 0:
            return 0.0
        mask = self.diff.point(_CHANGED)
        active = ImageChops.lighter(ImageChops.lighter(mask, self.a.content), self.b.content)
        return self.changed / max(active.histogram()[255], MIN_CONTENT * _CELLS)


def changed_share(a: Picture, b: Picture) -> float:
    """Share (0..1) of the on-screen content that differs between two pictures."""
    return Comparison(a, b).share()


class SceneDetector:
    """Decides, frame by frame in decode order, whether a frame shows a new, settled screen."""

    def __init__(self, threshold: float) -> None:
        self.threshold = max(threshold, NOISE_FLOOR)
        self.kept: Picture | None = None  # the last kept frame
        self.previous: Picture | None = None  # the frame just before this one
        self.pending_since: float | None = None  # when the picture first differed from `kept`
        self.count = 0

    def keep(self, frame: Any) -> bool:
        """Return True when ``frame`` (a PyAV VideoFrame) is to be kept."""
        t = frame.time if frame.time is not None else self.count / FALLBACK_RATE
        self.count += 1
        return self.keep_picture(Picture.of_frame(frame), t)

    def keep_picture(self, picture: Picture, t: float) -> bool:
        """The decision for an already reduced frame at ``t`` seconds."""
        previous, self.previous = self.previous, picture
        if self.kept is None:
            return self._take(picture)
        if not Comparison(picture, self.kept).above(self.threshold):
            self.pending_since = None  # back to (or still) the kept screen
            return False
        if self.pending_since is None:
            self.pending_since = t
        settled = previous is not None and not Comparison(picture, previous).above(STILL)
        if settled or t - self.pending_since >= MAX_UNSETTLED:
            return self._take(picture)
        return False

    def _take(self, picture: Picture) -> bool:
        self.kept, self.pending_since = picture, None
        return True
