"""The gallery in a real browser: headless Debian Chromium, selenium, the real server (#13).

Thumbnails decode, scrolling pages the listing in, the filter and the copy buttons work,
unload and re-arm change the server's state (checked through the API), the token flow
holds, a phone-sized window and dark mode render, the console stays clean, and a folder of
100,000 images keeps the DOM to a few hundred nodes. Without Chromium these tests fail in
CI and are skipped elsewhere (`tests/support/browser.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from imageserver.web.session import COOKIE_NAME
from tests.conftest import Api
from tests.support import recording
from tests.support.browser import console_errors
from tests.support.browser import require_browser
from tests.support.browser import start_chromium
from tests.support.browser import wait_for
from tests.support.gallery_page import DECODED
from tests.support.gallery_page import DOM_NODES
from tests.support.gallery_page import GRID_SOURCES
from tests.support.gallery_page import SCROLL_THROUGH
from tests.support.gallery_page import linked_frames
from tests.support.gallery_page import open_grid
from tests.support.gallery_page import tile_names
from tests.support.images import make_frames
from tests.support.server import ServerProcess

TOKEN = "browser-token"
# A page of a huge folder must stay far below one node per image.
DOM_BOUND = 1500


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (fails in CI, skips elsewhere, when missing)."""
    require_browser()
    driver = start_chromium()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots and measures go: pytest's temp folder, never the checkout (which
    may be read-only). pytest keeps the last few runs' folders; the path is printed."""
    folder = tmp_path_factory.mktemp("gallery-shots")
    print("gallery screenshots and measures:", folder)
    return folder


def saved(page: Any, path: Path) -> None:
    """Save a screenshot of the page to `path`, and check it is a PNG with pixels."""
    assert page.save_screenshot(str(path)), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The browser with no cookies and a drained console; its console must stay clean."""
    browser.get("about:blank")
    browser.delete_all_cookies()
    console_errors(browser)
    yield browser
    errors = console_errors(browser)
    # Leave the page: its pending requests must not fail into the next test's console.
    browser.get("about:blank")
    assert errors == [], errors


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """100,000 tiny JPEG files (hard links of one), in memory (/dev/shm) when there is one."""
    shm = Path("/dev/shm")
    memory = shm.is_dir() and os.access(shm, os.W_OK)
    base = Path(tempfile.mkdtemp(prefix="gallery-big-", dir=shm)) if memory else None
    root = base or tmp_path_factory.mktemp("gallery-big")
    yield root / "frames", linked_frames(root / "frames", 100_000)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


def test_thumbnails_decode_and_scrolling_loads_the_next_page(
    page: Any, api: Api, tmp_path: Path
) -> None:
    names = linked_frames(tmp_path / "many", 450)
    dir_id = api.load(tmp_path / "many")["id"]
    open_grid(page, api.base_url, dir_id)
    sources = page.execute_script(GRID_SOURCES)
    assert sources and all("preset=thumb" in src for src in sources)
    assert page.execute_script("return document.querySelector('#grid img').loading") == "lazy"
    assert page.execute_script("return galleryState.pages.has(1)") is False
    page.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(lambda: names[-1] in tile_names(page), "the last page's tiles")
    assert page.execute_script("return Array.isArray(galleryState.pages.get(2))")
    wait_for(lambda: page.execute_script(DECODED) >= 3, "thumbnails at the bottom")


def test_filter_shows_only_matching_names(page: Any, api: Api, tmp_path: Path) -> None:
    names = make_frames(tmp_path / "mixed", 30)
    names = sorted(names + make_frames(tmp_path / "mixed", 4, prefix="cat_", ext=".png"))
    dir_id = api.load(tmp_path / "mixed")["id"]
    open_grid(page, api.base_url, dir_id)
    page.find_element("id", "filter").send_keys("CAT_")
    wait_for(lambda: page.find_element("id", "count").text == "4 matching", "the filtered count")
    wait_for(lambda: len(tile_names(page)) == 4, "four tiles")
    assert tile_names(page) == [f"cat_{i:06d}.png" for i in range(4)]
    wait_for(lambda: page.execute_script(DECODED) == 4, "the filtered thumbnails")
    page.find_element("id", "filter").clear()
    page.find_element("id", "filter").send_keys(" ")  # an input event with an empty query
    wait_for(lambda: tile_names(page) == names, "the unfiltered grid again")


def test_unique_toggle_shows_only_kept_frames(page: Any, api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    same, other = recording.draw_screen((320, 180), 1, 2), recording.draw_screen((320, 180), 5, 6)
    for name in ("a.png", "b.png", "c.png"):
        same.save(folder / name)
    other.save(folder / "d.png")
    dir_id = api.load(folder)["id"]
    open_grid(page, api.base_url, dir_id, decoded=4)
    assert tile_names(page) == ["a.png", "b.png", "c.png", "d.png"]
    page.find_element("id", "unique").click()
    wait_for(lambda: page.find_element("id", "count").text == "2 unique", "the unique count")
    wait_for(lambda: tile_names(page) == ["a.png", "d.png"], "the kept frames")
    # The page asked the listing API for the kept frames and shows their duplicates.
    listed = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(u => u.includes('/images?'))"
    )
    assert any("unique=true" in url for url in listed), listed
    captions = page.execute_script(
        "return Array.from(document.querySelectorAll('#grid .tile[data-name]'))"
        ".map(t => [t.dataset.duplicates, t.querySelector('figcaption').textContent])"
    )
    assert captions == [["2", "a.png +2"], ["0", "d.png"]]
    assert page.find_element("id", "filter").get_property("disabled") is True
    page.find_element("id", "unique").click()
    wait_for(lambda: len(tile_names(page)) == 4, "every frame again")
    assert page.find_element("id", "count").text == "4 images"


def test_viewer_copy_buttons_hold_the_right_urls(
    page: Any, api: Api, frames: Path, shots: Path
) -> None:
    dir_id = api.load(frames)["id"]
    listed = api.get(f"/api/directories/{dir_id}/images").json()["images"][1]
    open_grid(page, api.base_url, dir_id, decoded=5)
    page.find_element("css selector", '.tile[data-name="frame_000001.jpg"] button').click()
    wait_for(lambda: page.execute_script("return document.getElementById('viewer').open"), "viewer")
    wait_for(
        lambda: page.execute_script("return document.getElementById('full').naturalWidth") > 0,
        "the full image",
    )
    copy = "return document.getElementById(arguments[0]).dataset.copy"
    assert page.execute_script(copy, "copy-stable") == listed["url"]
    assert page.execute_script("return document.getElementById('full').src") == listed["url"]
    preset = listed["url"] + "?preset=claude"
    wait_for(lambda: page.execute_script(copy, "copy-preset") == preset, "the claude URL")
    page.find_element("css selector", '#preset option[value="openai-low"]').click()
    preset = listed["url"] + "?preset=openai-low"
    wait_for(lambda: page.execute_script(copy, "copy-preset") == preset, "the openai-low URL")
    page.find_element("id", "copy-datauri").click()
    data_uri = wait_for(lambda: page.execute_script(copy, "copy-datauri"), "the data URI")
    body = {"names": ["frame_000001.jpg"], "preset": "openai-low"}
    expected = api.post(f"/api/directories/{dir_id}/datauris", json=body).json()
    assert data_uri.startswith("data:image/")
    assert data_uri == expected["items"][0]["data_uri"]
    saved(page, shots / "viewer.png")
    page.find_element("id", "next").click()
    wait_for(
        lambda: page.execute_script(copy, "copy-stable").endswith("/frame_000002.jpg"),
        "the next image",
    )


def test_unload_and_rearm_change_the_server_state(page: Any, api: Api, tmp_path: Path) -> None:
    make_frames(tmp_path / "a", 2)
    make_frames(tmp_path / "b", 2)
    first = api.load(tmp_path / "a", timeout_minutes=5)
    second = api.load(tmp_path / "b", timeout_minutes=10)["id"]
    page.get(api.base_url + "/gallery")
    current = page.find_element("css selector", ".dir.is-current").get_attribute("data-id")
    assert current == second
    clock = page.find_element("css selector", f'.dir[data-id="{first["id"]}"] .countdown')
    shown = clock.text
    assert shown.startswith("4m ") or shown == "5m 0s"
    wait_for(lambda: clock.text != shown, "the countdown to move")

    page.find_element("css selector", f'.dir[data-id="{first["id"]}"] [data-action=rearm]').click()
    wait_for(lambda: api.get("/api/directories").json()["current"] == first["id"], "re-arm")
    rearmed = api.get(f"/api/directories/{first['id']}").json()
    assert rearmed["auto_unload_at"] > first["auto_unload_at"]
    wait_for(
        lambda: page.find_elements("css selector", f'.dir.is-current[data-id="{first["id"]}"]'),
        "the page to show the re-armed directory as current",
    )
    page.find_element("css selector", f'.dir[data-id="{second}"] [data-action=unload]').click()
    wait_for(lambda: api.get(f"/api/directories/{second}").status_code == 404, "the unload")
    wait_for(lambda: not page.find_elements("css selector", f'.dir[data-id="{second}"]'), "reload")


def test_phone_window_and_dark_mode(page: Any, api: Api, frames: Path, shots: Path) -> None:
    dir_id = api.load(frames, timeout_minutes=30)["id"]
    try:
        for scheme in ("light", "dark"):
            media = {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            page.execute_cdp_cmd("Emulation.setEmulatedMedia", media)
            page.set_window_size(1200, 900)
            open_grid(page, api.base_url, dir_id, decoded=5)
            saved(page, shots / f"directory-{scheme}.png")
            page.get(api.base_url + "/gallery")
            saved(page, shots / f"directories-{scheme}.png")
            background = page.execute_script("return getComputedStyle(document.body).background")
            assert ("rgb(17, 20, 24)" in background) == (scheme == "dark"), background
        page.set_window_size(390, 844)
        open_grid(page, api.base_url, dir_id, decoded=4)
        assert page.execute_script("return galleryState.cols") == 2
        overflow = "return document.documentElement.scrollWidth - window.innerWidth"
        assert page.execute_script(overflow) <= 0
        saved(page, shots / "directory-phone.png")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        page.set_window_size(1200, 900)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server with a token and URL signing, one folder loaded: (server, directory id)."""
    root = tmp_path_factory.mktemp("gallery-browser-locked")
    make_frames(root / "secret", 8, prefix="secret_")
    env = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": "browser-signing"}
    server = ServerProcess(root / "state", env=env).start()
    response = requests.post(
        server.base_url + "/load-directory",
        json={"path": str(root / "secret")},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    yield server, response.json()["id"]
    server.stop()


def sign_in_with(driver: Any, token: str) -> None:
    field = driver.find_element("id", "token")
    field.clear()
    field.send_keys(token)
    driver.find_element("id", "signin-submit").click()


def test_token_flow(page: Any, locked: tuple[ServerProcess, str]) -> None:
    server, dir_id = locked
    page.get(f"{server.base_url}/gallery/{dir_id}")
    assert page.find_elements("id", "token")
    assert "secret_" not in page.page_source and not page.find_elements("css selector", "img")

    sign_in_with(page, "wrong-token")
    wait_for(lambda: page.find_elements("id", "signin-error"), "the refusal")
    assert page.get_cookie(COOKIE_NAME) is None
    console_errors(page)  # the 401 of the refused form is logged; that one is expected

    sign_in_with(page, TOKEN)
    wait_for(lambda: page.current_url.endswith(f"/gallery/{dir_id}"), "the way back")
    wait_for(lambda: page.execute_script(DECODED) >= 8, "signed thumbnails to decode")
    sources = page.execute_script(GRID_SOURCES)
    assert sources and all("sig=" in src and "exp=" in src for src in sources)
    cookie = page.get_cookie(COOKIE_NAME)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert 0 < cookie["expiry"] - time.time() <= 12 * 3600 + 60
    assert COOKIE_NAME not in page.execute_script("return document.cookie")

    page.get(server.base_url + "/gallery")
    page.find_element("css selector", f'.dir[data-id="{dir_id}"] [data-action=unload]').click()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    gone = f"{server.base_url}/api/directories/{dir_id}"
    wait_for(lambda: requests.get(gone, headers=bearer, timeout=10).status_code == 404, "unload")


def test_huge_folder_keeps_the_dom_bounded(
    page: Any, api: Api, big_folder: tuple[Path, list[str]], shots: Path
) -> None:
    folder, names = big_folder
    started = time.monotonic()
    dir_id = api.load(folder)["id"]
    load_seconds = time.monotonic() - started
    cold = open_grid(page, api.base_url, dir_id, decoded=12)
    warm = open_grid(page, api.base_url, dir_id, decoded=12)
    assert page.execute_script(DOM_NODES) < DOM_BOUND
    # Scroll through the first 5,000 images three screens at a time, as a person flicking,
    # waiting at each stop for its tiles to be filled (in the page: no round trip per stop).
    started = time.monotonic()
    page.set_script_timeout(60)
    largest, steps = page.execute_async_script(SCROLL_THROUGH, 5000)
    scroll_seconds = time.monotonic() - started
    assert largest < DOM_BOUND, largest
    page.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(lambda: names[-1] in tile_names(page), "the very last image")
    wait_for(lambda: page.execute_script(DECODED) >= 6, "the last thumbnails to decode")
    assert page.execute_script(DOM_NODES) < DOM_BOUND
    measures = {
        "images": len(names),
        "load_seconds": round(load_seconds, 2),
        "first_screen_cold_seconds": round(cold, 2),
        "first_screen_warm_seconds": round(warm, 2),
        "scroll_5000_seconds": round(scroll_seconds, 2),
        "scroll_steps": steps,
        "dom_nodes_max_after_5000": largest,
    }
    (shots / "measures.json").write_text(json.dumps(measures, indent=2) + "\n")
    print("gallery at 100,000 images:", measures)


def test_a_video_still_extracting_shows_its_progress_and_grows(
    page: Any, api: Api, tmp_path: Path
) -> None:
    # #29: the page follows a running extraction: the bar moves, the grid's total grows.
    video = recording.make_recording(tmp_path / "rec.mp4", seconds=120, fps=5, size=(192, 108))
    loaded = api.load(video.path, frames={"every": 1}, wait=False)
    assert loaded["extraction"]["state"] == "running"
    page.get(f"{api.base_url}/gallery/{loaded['id']}")
    text = page.find_element("id", "extraction-text")
    assert text.text.startswith("extracting: ")
    wait_for(lambda: text.text == "done: 600 frames", "the extraction to end", timeout=60)
    assert page.find_element("id", "extraction").get_attribute("data-state") == "done"
    assert page.execute_script("return galleryState.total") == 600
    assert page.find_element("id", "count").text == "600 images"
    page.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(lambda: "frame_000600.jpg" in tile_names(page), "the last frame's tile")
