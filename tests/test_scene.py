"""Scene mode on screen recordings (#29): the measure, the settling rule, real PyAV videos.

The videos are made here with PyAV: `tests/support/browsing.py` (a browser session at 30 fps:
scrolls, new pages beside a fixed header and sidebar, new sites, a ticking clock and a
drifting pointer) and `tests/support/recording.py` (text panels rewritten inside a fixed
window layout). The target: at T = 0.3 every screen held 2 s or more has a kept frame, at
most 1.5 kept frames per screen, and the pointer and the clock never add one.
"""

from __future__ import annotations

import av
import pytest
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from imageserver.video import scene
from imageserver.video.extract import FrameSettings
from imageserver.video.extract import extract_into
from tests.support import browsing
from tests.support import recording

SIZE = (1280, 720)
FONT = ImageFont.load_default(size=15)
FPS = 30


def picture(img: Image.Image) -> scene.Picture:
    return scene.Picture.of_image(img)


def share(a: Image.Image, b: Image.Image) -> float:
    return scene.changed_share(picture(a), picture(b))


def shown(screen: Image.Image, t: float) -> Image.Image:
    """The screen with the pointer and the clock as they are at ``t``."""
    return recording.decorate(screen, t, 1.0, FONT)


def with_dialog(screen: Image.Image) -> Image.Image:
    """A small dialog (about 4% of the screen) over the text panel."""
    img = screen.copy()
    draw = ImageDraw.Draw(img)
    draw.rectangle((700, 300, 940, 420), fill=(255, 255, 255), outline=(80, 80, 80), width=2)
    draw.text((716, 316), "Save changes?", fill=(20, 20, 20), font=FONT)
    draw.rectangle((716, 370, 800, 400), fill=(30, 110, 220))
    draw.text((730, 376), "Save", fill=(255, 255, 255), font=FONT)
    return img


def kept_times(frames: list[tuple[float, Image.Image]], threshold: float) -> list[float]:
    detector = scene.SceneDetector(threshold)
    return [t for t, img in frames if detector.keep_picture(picture(img), t)]


# --- the measure ---------------------------------------------------------------------------


def test_identical_pictures_share_nothing():
    base = recording.draw_screen(SIZE, 1, 2)
    assert share(base, base.copy()) == 0.0


def test_the_pointer_and_the_clock_are_noise():
    base = recording.draw_screen(SIZE, 1, 2)
    # 7.3 s apart: the pointer is far away and every digit of the seconds has changed.
    assert share(shown(base, 0.0), shown(base, 7.3)) < 0.03


def test_text_rewritten_beside_a_fixed_layout_is_a_large_change():
    before, after = recording.draw_screen(SIZE, 1, 2), recording.draw_screen(SIZE, 1, 3)
    assert share(before, after) > 0.5


def test_a_new_layout_is_nearly_a_full_change():
    assert share(recording.draw_screen(SIZE, 1, 2), recording.draw_screen(SIZE, 2, 3)) > 0.8


def test_a_scroll_by_a_few_lines_is_a_large_change():
    painter = browsing.Painter(SIZE, seed=3)
    top, scrolled = browsing.View(0, 0, 0.0), browsing.View(0, 0, 70.0)  # 3 lines of text
    assert share(painter.frame(top), painter.frame(scrolled)) > 0.5


def test_a_flat_colour_swap_is_a_full_change():
    assert share(Image.new("RGB", SIZE, (40, 40, 40)), Image.new("RGB", SIZE, (200, 200, 200))) == 1


def test_a_pointer_over_an_empty_screen_is_noise():
    empty = Image.new("RGB", SIZE, (240, 240, 240))
    assert share(shown(empty, 0.0), shown(empty, 3.0)) < 0.03


def test_a_small_dialog_is_a_small_change():
    base = recording.draw_screen(SIZE, 1, 2)
    assert 0.05 < share(base, with_dialog(base)) < 0.3


# --- the decision ----------------------------------------------------------------------------


def test_smaller_thresholds_keep_smaller_changes():
    base = recording.draw_screen(SIZE, 1, 2)
    frames = [(i / FPS, shown(base, i / FPS)) for i in range(30)]
    frames += [(i / FPS, shown(with_dialog(base), i / FPS)) for i in range(30, 60)]
    assert kept_times(frames, 0.3) == [0.0]
    assert kept_times(frames, 0.05) == [0.0, pytest.approx(31 / FPS)]


def test_a_scroll_keeps_one_frame_where_it_stops():
    painter = browsing.Painter((640, 360), seed=3)
    offsets = [0.0] * 10 + [90 * (1 - (1 - k / 9) ** 3) for k in range(1, 10)] + [90.0] * 10
    frames = [(i / FPS, painter.frame(browsing.View(0, 0, o))) for i, o in enumerate(offsets)]
    kept = kept_times(frames, 0.3)
    assert len(kept) == 2 and kept[0] == 0.0
    # Kept once settled: the last steps of the ease-out move a pixel or less, or at the end.
    assert 15 / FPS <= kept[1] <= 20 / FPS


def test_a_picture_that_keeps_changing_is_kept_once_a_second():
    painter = browsing.Painter(SIZE, seed=3)
    # A page scrolling on and on (20 px a frame for 3 s): it never settles.
    frames = [(i / FPS, painter.frame(browsing.View(0, 0, 20.0 * i))) for i in range(3 * FPS)]
    assert kept_times(frames, 0.3) == pytest.approx([0.0, 1.0 + 1 / FPS, 2.0 + 2 / FPS])


def test_returning_to_the_kept_screen_cancels_a_pending_change():
    base, other = recording.draw_screen((640, 360), 1, 2), recording.draw_screen((640, 360), 2, 3)
    # One frame of another screen (a flash), then back: never settled, never kept.
    frames = [(i / FPS, other if i == 10 else base) for i in range(60)]
    assert kept_times(frames, 0.3) == [0.0]


# --- real recordings -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> browsing.Session:
    """A 36 s browser session at 960x540, 30 fps: 14 screens held 2-3 s each."""
    folder = tmp_path_factory.mktemp("browsing")
    return browsing.make_session(folder / "session.mp4", size=(960, 540), fps=FPS)


def detect(path, threshold: float) -> list[float]:
    """Times of the frames `SceneDetector` keeps, fed every decoded frame as extraction does."""
    detector = scene.SceneDetector(threshold)
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0) if detector.keep(frame)]


def assert_one_frame_per_screen(states: list[browsing.State], kept: list[float]) -> None:
    held = [s for s in states if s.end - s.settled >= 2.0]
    assert len(held) == len(states) == 14
    for state in held:  # every screen has a kept frame, during its transition or after
        assert any(state.start <= t < state.end for t in kept), (state, kept)
    # Nothing kept while a screen is held: the pointer and the clock never count.
    assert not [t for t in kept if any(s.settled + 0.1 <= t < s.end for s in states)]
    assert len(kept) <= 1.5 * len(held)


def test_at_0_3_every_screen_of_a_browser_session_is_kept_once(session):
    kept = detect(session.path, 0.3)
    assert_one_frame_per_screen(session.states, kept)
    assert len(kept) == len(session.states)


# 0.005 is under the noise floor (it acts as 0.02): old scripts do not get every frame.
@pytest.mark.parametrize("threshold", [0.005, 0.05, 0.1])
def test_smaller_thresholds_still_ignore_the_pointer_and_the_clock(session, threshold):
    kept = detect(session.path, threshold)
    assert_one_frame_per_screen(session.states, kept)
    assert len(kept) >= len(detect(session.path, 0.3))


def test_extraction_in_scene_mode_writes_one_frame_per_screen(session, tmp_path):
    frames = extract_into(session.path, tmp_path, FrameSettings.from_options(scene=0.3))
    assert_one_frame_per_screen(session.states, sorted(frames.values()))
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == sorted(frames)


def test_a_screen_with_only_the_pointer_and_the_clock_keeps_its_first_frame(tmp_path):
    still = browsing.make_session(tmp_path / "still.mp4", script=(("start", 6.0),), size=(640, 360))
    assert detect(still.path, 0.3) == [0.0]
    assert detect(still.path, 0.05) == [0.0]


def test_text_panels_rewritten_in_a_fixed_window_are_each_kept(tmp_path):
    rec = recording.make_recording(
        tmp_path / "talk.webm", seconds=30, fps=10, size=(640, 360), seed=21
    )
    assert "partial" in rec.kinds
    kept = detect(rec.path, 0.3)
    assert [rec.scene_at(t) for t in kept] == list(range(len(rec.change_points) + 1))
