"""A synthetic browser session for scene detection tests (test support only).

Like a person reading manuals: a site with a fixed header and a sidebar of links, a content
pane showing a tall page through a viewport, and a task bar with a ticking clock, while the
pointer drifts on every frame (the same pointer path and clock as `recording.decorate`, with
the clock's text drawn once per second: drawing text is the slow part of making a video).
Each held screen state is reached by one of these transitions:

* ``scroll``: the page moves by part of the viewport, animated with an ease-out over
  ``SCROLL_SECONDS`` (what a wheel notch or a page-down does in a browser);
* ``page``: a new page beside the same header and sidebar (only the content pane changes);
* ``site``: a new site (new header colour, sidebar and page).

``Session.states`` is the ground truth: when each state's transition starts, when the
picture has settled, and when the next transition starts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from tests.support.recording import WORDS

SCROLL_SECONDS = 0.3
# (transition, seconds the state is held once settled): 14 states held 2 s or more.
DEFAULT_SCRIPT: tuple[tuple[str, float], ...] = (
    ("start", 3.0),
    ("scroll", 2.5),
    ("scroll", 2.0),
    ("page", 3.0),
    ("scroll", 2.2),
    ("site", 2.5),
    ("page", 2.0),
    ("scroll", 3.0),
    ("scroll", 2.0),
    ("page", 2.4),
    ("site", 2.0),
    ("scroll", 2.6),
    ("page", 2.0),
    ("scroll", 2.5),
)


@dataclass(frozen=True)
class State:
    """One held screen: its transition starts at ``start`` and is over at ``settled``."""

    kind: str
    start: float
    settled: float
    end: float


@dataclass
class Session:
    """The file written and its ground truth."""

    path: Path
    fps: int
    size: tuple[int, int]
    states: list[State] = field(default_factory=list)


@dataclass
class View:
    """What the browser shows: which site and page, and how far the page is scrolled."""

    site: int
    page: int
    offset: float


class Painter:
    """Draws sites (header + sidebar) and tall pages once, then composes views cheaply."""

    def __init__(self, size: tuple[int, int], seed: int) -> None:
        self.size, self.seed = size, seed
        w, h = size
        self.scale = w / 1280
        self.header = int(56 * self.scale)
        self.sidebar = int(260 * self.scale)
        self.taskbar = int(32 * self.scale)
        self.viewport = (w - self.sidebar, h - self.header - self.taskbar)
        self.font = ImageFont.load_default(size=max(9, int(16 * self.scale)))
        self.big = ImageFont.load_default(size=max(12, int(26 * self.scale)))
        self.sites: dict[int, Image.Image] = {}
        self.pages: dict[tuple[int, int], Image.Image] = {}

    def frame(self, view: View) -> Image.Image:
        """The whole screen for ``view`` (without pointer and clock)."""
        img = self._site(view.site).copy()
        page = self._page(view.site, view.page)
        top = int(round(view.offset))
        crop = page.crop((0, top, self.viewport[0], top + self.viewport[1]))
        img.paste(crop, (self.sidebar, self.header))
        return img

    def _site(self, site: int) -> Image.Image:
        if site not in self.sites:
            rng = random.Random(self.seed * 7919 + site)
            w, h = self.size
            img = Image.new("RGB", self.size, (255, 255, 255))
            draw = ImageDraw.Draw(img)
            colour = tuple(rng.randint(20, 200) for _ in range(3))
            draw.rectangle((0, 0, w, self.header), fill=colour)
            draw.text((int(16 * self.scale), int(14 * self.scale)), "Manual", font=self.big)
            x = int(300 * self.scale)
            for _ in range(5):
                word = rng.choice(WORDS)
                draw.text((x, int(20 * self.scale)), word, fill=(240, 240, 240), font=self.font)
                x += int((len(word) * 9 + 40) * self.scale)
            draw.rectangle((0, self.header, self.sidebar, h), fill=(244, 245, 247))
            y = self.header + int(14 * self.scale)
            while y < h - self.taskbar - int(24 * self.scale):
                indent = rng.choice((0, 0, 1)) * int(16 * self.scale)
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
                at = (int(14 * self.scale) + indent, y)
                draw.text(at, text, fill=(40, 60, 120), font=self.font)
                y += int(26 * self.scale)
            draw.rectangle((0, h - self.taskbar, w, h), fill=(25, 25, 30))
            self.sites[site] = img
        return self.sites[site]

    def _page(self, site: int, page: int) -> Image.Image:
        key = (site, page)
        if key not in self.pages:
            rng = random.Random(self.seed * 104729 + site * 1000 + page)
            width, height = self.viewport[0], self.viewport[1] * 4
            img = Image.new("RGB", (width, height), (255, 255, 255))
            draw = ImageDraw.Draw(img)
            s, y = self.scale, int(16 * self.scale)
            while y < height - int(60 * s):
                block = rng.random()
                if block < 0.15:  # a heading
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).title()
                    draw.text((int(24 * s), y + int(8 * s)), text, fill=(20, 20, 20), font=self.big)
                    y += int(50 * s)
                elif block < 0.3:  # a code block
                    lines = rng.randint(2, 5)
                    box = (int(24 * s), y, width - int(40 * s), y + int((lines * 22 + 16) * s))
                    draw.rectangle(box, fill=(238, 240, 243))
                    for i in range(lines):
                        code = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
                        at = (int(40 * s), y + int((8 + 22 * i) * s))
                        draw.text(at, code, fill=(150, 40, 40), font=self.font)
                    y = box[3] + int(16 * s)
                else:  # a paragraph
                    for _ in range(rng.randint(2, 5)):
                        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
                        draw.text((int(24 * s), y), line, fill=(40, 40, 40), font=self.font)
                        y += int(22 * s)
                    y += int(14 * s)
            self.pages[key] = img
        return self.pages[key]

    def max_offset(self) -> float:
        return float(self.viewport[1] * 3)


class _Noise:
    """The pointer and the clock, added to every frame."""

    def __init__(self, size: tuple[int, int], scale: float) -> None:
        self.size, self.scale = size, scale
        self.font = ImageFont.load_default(size=max(10, int(15 * scale)))
        self.clocks: dict[str, Image.Image] = {}

    def add(self, screen: Image.Image, t: float) -> Image.Image:
        img = screen.copy()
        w, h = self.size
        secs = 9 * 3600 + 41 * 60 + int(t)
        text = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        if text not in self.clocks:
            patch = Image.new("RGB", (int(80 * self.scale), int(22 * self.scale)), (25, 25, 30))
            ImageDraw.Draw(patch).text((0, 0), text, fill=(230, 230, 230), font=self.font)
            self.clocks = {text: patch}
        img.paste(self.clocks[text], (w - int(90 * self.scale), h - int(26 * self.scale)))
        # The pointer follows a smooth path, so it moves on every frame.
        x = int((0.5 + 0.4 * math.sin(t * 0.9)) * w)
        y = int((0.5 + 0.4 * math.sin(t * 1.3 + 1.0)) * (h - 60 * self.scale))
        pts = [(0, 0), (0, 17), (4, 13), (7, 20), (9, 19), (6, 12), (12, 12)]
        poly = [(x + px * self.scale, y + py * self.scale) for px, py in pts]
        ImageDraw.Draw(img).polygon(poly, fill=(255, 255, 255), outline=(0, 0, 0))
        return img


def _plan(script: tuple[tuple[str, float], ...], painter: Painter, fps: int, seed: int):
    """Turn the script into states and per-state (from view, to view) pairs."""
    rng = random.Random(seed)
    view, t = View(0, 0, 0.0), 0.0
    states: list[State] = []
    moves: list[tuple[View, View]] = []
    for kind, hold in script:
        before = View(view.site, view.page, view.offset)
        if kind == "scroll":
            step = painter.viewport[1] * rng.uniform(0.3, 0.9)
            if view.offset + step > painter.max_offset():
                step = -view.offset  # back to the top, like pressing Home
            view = View(view.site, view.page, view.offset + step)
        elif kind == "page":
            view = View(view.site, view.page + 1, 0.0)
        elif kind == "site":
            view = View(view.site + 1, 0, 0.0)
        # Rounded to the millisecond, so 2.0 s holds are exactly 2.0 s, not 1.9999999.
        settled = round(t + (SCROLL_SECONDS if kind == "scroll" else 0.0), 3)
        states.append(State(kind, t, settled, round(settled + hold, 3)))
        moves.append((before, View(view.site, view.page, view.offset)))
        t = settled + hold
    return states, moves


def _view_at(t: float, states: list[State], moves: list[tuple[View, View]]) -> View:
    index = max(i for i, s in enumerate(states) if s.start <= t + 1e-9)
    state, (before, after) = states[index], moves[index]
    if t >= state.settled or state.kind != "scroll":
        return after
    x = (t - state.start) / SCROLL_SECONDS
    eased = 1 - (1 - x) ** 3  # ease-out: fast, then slowing to a stop
    return View(after.site, after.page, before.offset + (after.offset - before.offset) * eased)


def make_session(
    path: Path,
    script: tuple[tuple[str, float], ...] = DEFAULT_SCRIPT,
    fps: int = 30,
    size: tuple[int, int] = (960, 540),
    seed: int = 3,
) -> Session:
    """Encode the session as H.264 (MP4) at ``fps``; return the file and its ground truth."""
    import av

    painter = Painter(size, seed)
    states, moves = _plan(script, painter, fps, seed)
    noise = _Noise(size, painter.scale)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(int(round(states[-1].end * fps))):
            t = i / fps
            screen = painter.frame(_view_at(t, states, moves))
            frame = av.VideoFrame.from_image(noise.add(screen, t))
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return Session(path, fps, size, states)
