"""The image fast path (issues 7, 11): which requests it answers, and that it answers like Flask.

These tests drive the real stacks in process (the native image path in front of the real
Flask app, real SQLite state, real files) so they can see whether Flask was reached: the ASGI
application granian runs, and the WSGI middleware of `imageserver.engines.wsgi`. The contract suites
run the ASGI stack over HTTP under granian.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.test import TestResponse

from imageserver.engines.app import create_app
from imageserver.engines.asgi import ImageServerASGI
from imageserver.engines.wsgi_fastpath import ImageFastPath
from imageserver.hotpath.answer import SMALL_FILE_BYTES
from imageserver.hotpath.responder import ImageResponder
from imageserver.settings.config import Config
from imageserver.web.context import EXTENSION_KEY
from tests.support.asgi_client import ASGIClient
from tests.support.images import make_frame
from tests.support.images import make_frames
from tests.support.images import make_image

VOLATILE_HEADERS = {"Date", "Expires"}


ENGINES = ["asgi", "wsgi"]


class Stack:
    """The native path over a spied Flask app, with a clock the test moves.

    :param engine: `asgi` (what granian runs) or `wsgi` (the WSGI entry point).
    """

    def __init__(self, state_dir: Path, engine: str = "asgi", **settings: Any) -> None:
        self.now = 1_800_000_000.0
        self.engine = engine
        settings.setdefault("variant_cache_dir", str(state_dir / "variants"))
        self.config = Config.from_env({}, env_file=None, state_dir=str(state_dir), **settings)
        self.flask = create_app(self.config, clock=lambda: self.now, start_sweeper=False)
        registry = self.flask.extensions[EXTENSION_KEY].registry
        responder = ImageResponder(self.config, registry, lambda: self.now)
        self.flask_calls: list[str] = []
        if engine == "asgi":
            self.client: Any = ASGIClient(ImageServerASGI(responder, self._spy, threads=2))
        else:
            self.client = Client(ImageFastPath(self._spy, responder))

    def _spy(self, environ: dict, start_response: Callable) -> Any:
        self.flask_calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return self.flask(environ, start_response)

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[TestResponse, bool]:
        """Send a request; return the response and whether Flask answered it."""
        before = len(self.flask_calls)
        response = self.client.open(path, method=method, **kwargs)
        response.get_data()
        return response, len(self.flask_calls) > before

    def load(self, path: Path, **body: Any) -> dict:
        response, _ = self.request("POST", "/load-directory", json={"path": str(path), **body})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def stack(tmp_path: Path, engine: str) -> Stack:
    return Stack(tmp_path / "state", engine)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "frames"
    make_frames(path, 3)
    make_image(path / "with space.png")
    make_image(path / "été.jpg")
    make_image(path / "sub" / "deep.png")
    return path


def assert_fast(result: tuple[TestResponse, bool], status: int = 200) -> TestResponse:
    response, via_flask = result
    assert response.status_code == status, response.get_data(as_text=True)
    assert not via_flask, "expected the fast path to answer"
    return response


def assert_flask(result: tuple[TestResponse, bool], status: int) -> TestResponse:
    response, via_flask = result
    assert response.status_code == status, response.get_data(as_text=True)
    assert via_flask, "expected Flask to answer"
    return response


def test_plain_get_and_head_never_reach_flask(stack, folder):
    loaded = stack.load(folder)
    data = (folder / "frame_000000.jpg").read_bytes()
    for path in (f"/d/{loaded['id']}/frame_000000.jpg", "/images/frame_000000.jpg"):
        response = assert_fast(stack.request("GET", path))
        assert response.data == data
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Content-Length"] == str(len(data))
        head = assert_fast(stack.request("HEAD", path))
        assert head.data == b""
        assert head.headers["Content-Length"] == str(len(data))


@pytest.mark.parametrize("name", ["with%20space.png", "%C3%A9t%C3%A9.jpg"])
def test_encoded_names_are_served_fast(stack, folder, name):
    loaded = stack.load(folder)
    response = assert_fast(stack.request("GET", f"/d/{loaded['id']}/{name}"))
    assert response.data.startswith((b"\x89PNG", b"\xff\xd8"))


def test_headers_match_what_flask_sends(stack, folder):
    loaded = stack.load(folder)
    for name in ("frame_000001.jpg", "with%20space.png", "%C3%A9t%C3%A9.jpg"):
        path = f"/d/{loaded['id']}/{name}"
        fast = assert_fast(stack.request("GET", path))
        # An unknown parameter sends the same request through Flask.
        slow = assert_flask(stack.request("GET", f"{path}?via=flask"), 200)
        assert fast.data == slow.data
        fast_headers = {k: v for k, v in fast.headers.items() if k not in VOLATILE_HEADERS}
        slow_headers = {k: v for k, v in slow.headers.items() if k not in VOLATILE_HEADERS}
        assert fast_headers == slow_headers
        assert set(fast.headers.keys()) >= VOLATILE_HEADERS - {"Date"}


def test_revalidation_is_answered_fast_with_304(stack, folder):
    loaded = stack.load(folder)
    path = f"/d/{loaded['id']}/frame_000000.jpg"
    first = assert_fast(stack.request("GET", path))
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
    ):
        revalidated = assert_fast(stack.request("GET", path, headers=headers), 304)
        assert revalidated.data == b""
        assert revalidated.headers["ETag"] == etag
        assert revalidated.headers["Access-Control-Allow-Origin"] == "*"
    changed = assert_fast(stack.request("GET", path, headers={"If-None-Match": '"stale"'}))
    assert changed.data == (folder / "frame_000000.jpg").read_bytes()
    old_date = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert_fast(stack.request("GET", path, headers={"If-Modified-Since": old_date}))
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    both = {"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    assert_fast(stack.request("GET", path, headers=both), 200)


def test_a_single_range_is_answered_fast_like_flask(stack, folder):
    loaded = stack.load(folder)
    path = f"/d/{loaded['id']}/frame_000000.jpg"
    data = (folder / "frame_000000.jpg").read_bytes()
    for value, expected in (
        ("bytes=0-9", data[:10]),
        ("bytes=100-", data[100:]),
        ("bytes=-20", data[-20:]),
        ("bytes=5-5", data[5:6]),
        ("bytes=0-999999", data),
    ):
        fast = assert_fast(stack.request("GET", path, headers={"Range": value}), 206)
        slow = assert_flask(
            stack.request("GET", f"{path}?via=flask", headers={"Range": value}), 206
        )
        assert fast.data == slow.data == expected, value
        fast_headers = {k: v for k, v in fast.headers.items() if k not in VOLATILE_HEADERS}
        slow_headers = {k: v for k, v in slow.headers.items() if k not in VOLATILE_HEADERS}
        assert fast_headers == slow_headers, value
    head = assert_fast(stack.request("HEAD", path, headers={"Range": "bytes=0-9"}), 206)
    assert head.data == b""
    assert head.headers["Content-Range"] == f"bytes 0-9/{len(data)}"


def test_other_ranges_and_preconditions_take_the_flask_path(stack, folder):
    loaded = stack.load(folder)
    path = f"/d/{loaded['id']}/frame_000000.jpg"
    size = (folder / "frame_000000.jpg").stat().st_size
    assert_flask(stack.request("GET", path, headers={"Range": f"bytes={size + 10}-"}), 416)
    # Several ranges: Werkzeug sends no multipart answer and refuses them.
    assert_flask(stack.request("GET", path, headers={"Range": "bytes=0-1,5-9"}), 416)
    etag = assert_fast(stack.request("GET", path)).headers["ETag"]
    assert_flask(stack.request("GET", path, headers={"Range": "bytes=0-9", "If-Range": etag}), 206)
    assert_flask(stack.request("GET", path, headers={"If-Match": '"nope"'}), 412)


def test_refusals_are_left_to_flask(stack, folder, tmp_path):
    outside = tmp_path / "outside.jpg"
    make_image(outside)
    (folder / "escape.jpg").symlink_to(outside)
    loaded = stack.load(folder)
    prefix = f"/d/{loaded['id']}"
    assert_flask(stack.request("GET", f"{prefix}/missing.jpg"), 404)
    assert_flask(stack.request("GET", f"{prefix}/escape.jpg"), 404)
    assert_flask(stack.request("GET", f"{prefix}/..%2Foutside.jpg"), 404)
    assert_flask(stack.request("GET", f"{prefix}/sub/deep.png"), 404)  # not loaded recursively
    assert_flask(stack.request("GET", "/d/unknown-0123456789/frame_000000.jpg"), 404)
    assert_flask(stack.request("GET", f"{prefix}/frame_000000.jpg?w=64"), 200)


def test_a_symlink_inside_the_directory_is_served_by_flask(stack, folder):
    (folder / "alias.jpg").symlink_to(folder / "frame_000002.jpg")
    loaded = stack.load(folder)
    response = assert_flask(stack.request("GET", f"/d/{loaded['id']}/alias.jpg"), 200)
    assert response.data == (folder / "frame_000002.jpg").read_bytes()


def test_nested_names_of_a_recursive_load_are_served_fast(stack, folder):
    loaded = stack.load(folder, recursive=True)
    response = assert_fast(stack.request("GET", f"/d/{loaded['id']}/sub/deep.png"))
    assert response.data == (folder / "sub" / "deep.png").read_bytes()
    assert_flask(stack.request("GET", f"/d/{loaded['id']}/sub%2Fdeep.png"), 404)


def test_large_files_are_streamed_whole(stack, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    payload = os.urandom(SMALL_FILE_BYTES * 3 + 17)
    (folder / "huge.png").write_bytes(payload)
    loaded = stack.load(folder)
    response = assert_fast(stack.request("GET", f"/d/{loaded['id']}/huge.png"))
    assert response.data == payload
    assert response.headers["Content-Length"] == str(len(payload))


def test_unload_load_and_current_changes_are_seen_by_the_next_request(stack, folder, tmp_path):
    other = tmp_path / "other"
    make_frames(other, 2)
    first = stack.load(folder)
    assert_fast(stack.request("GET", "/images/frame_000000.jpg"))
    second = stack.load(other)
    response = assert_fast(stack.request("GET", "/images/frame_000000.jpg"))
    assert response.data == (other / "frame_000000.jpg").read_bytes()
    assert_fast(stack.request("GET", f"/d/{first['id']}/frame_000000.jpg"))

    unloaded, _ = stack.request("DELETE", f"/api/directories/{first['id']}")
    assert unloaded.status_code == 200
    assert_flask(stack.request("GET", f"/d/{first['id']}/frame_000000.jpg"), 404)
    stack.request("POST", "/unload")
    assert_flask(stack.request("GET", "/images/frame_000000.jpg"), 400)
    assert_flask(stack.request("GET", f"/d/{second['id']}/frame_000000.jpg"), 404)


def test_rebuilding_the_served_index_never_stops_the_event_loop(tmp_path, folder, monkeypatch):
    # After a load, the first image request rebuilds the index (about 0.3 s per 65,000 new
    # names): on the loop, it stopped every connection of the worker meanwhile.
    stack = Stack(tmp_path / "state", "asgi")
    loaded = stack.load(folder)
    registry = stack.flask.extensions[EXTENSION_KEY].registry
    served_state = registry.served_state

    def slow_served_state(*args: Any) -> Any:
        time.sleep(0.5)  # stands for reading a very large directory's names
        return served_state(*args)

    monkeypatch.setattr(registry, "served_state", slow_served_state)
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = stack.client.loop.create_task(tick())
    assert_fast(stack.request("GET", f"/d/{loaded['id']}/frame_000000.jpg"))
    ticker.cancel()
    stack.client.loop.run_until_complete(asyncio.gather(ticker, return_exceptions=True))
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 10 and max(gaps) < 0.25, f"{len(ticks)} ticks, longest gap {max(gaps):.2f}s"


def test_a_change_made_by_another_process_is_seen(stack, folder, tmp_path):
    kept = tmp_path / "kept"
    make_frames(kept, 1)
    first = stack.load(kept)
    stack.load(folder)
    assert_fast(stack.request("GET", "/images/frame_000001.jpg"))
    # A second stack on the same state stands in for another worker process.
    other = Stack(Path(stack.config.state_dir), stack.engine)
    other.request("POST", "/unload")
    assert_flask(stack.request("GET", "/images/frame_000001.jpg"), 400)
    assert_fast(stack.request("GET", f"/d/{first['id']}/frame_000000.jpg"))


def test_a_passed_deadline_is_never_served(stack, folder):
    loaded = stack.load(folder, timeout_minutes=1)
    path = f"/d/{loaded['id']}/frame_000000.jpg"
    assert_fast(stack.request("GET", path))
    stack.now += 61
    assert_flask(stack.request("GET", path), 404)
    assert_flask(stack.request("GET", "/images/frame_000000.jpg"), 400)


def test_idle_mode_slides_the_deadline_on_fast_requests(tmp_path, folder, engine):
    stack = Stack(tmp_path / "idle-state", engine, timeout_mode="idle")
    loaded = stack.load(folder, timeout_minutes=1)
    path = f"/d/{loaded['id']}/frame_000000.jpg"
    for _ in range(3):
        stack.now += 45  # each access within the minute keeps it alive
        assert_fast(stack.request("GET", path))
    stack.now += 61
    assert_flask(stack.request("GET", path), 404)


def test_signed_urls_are_checked_on_the_fast_path(tmp_path, folder, engine):
    stack = Stack(tmp_path / "signed-state", engine, signing_key="k1")
    loaded = stack.load(folder)
    listing, _ = stack.request("GET", f"/api/directories/{loaded['id']}/images")
    url = listing.get_json()["images"][0]["url"]
    path_and_query = url.split("://", 1)[1].split("/", 1)[1]
    response = assert_fast(stack.request("GET", f"/{path_and_query}"))
    assert response.data == (folder / "frame_000000.jpg").read_bytes()
    assert_flask(stack.request("GET", f"/d/{loaded['id']}/frame_000000.jpg"), 403)
    tampered = path_and_query.replace("sig=", "sig=x")
    assert_flask(stack.request("GET", f"/{tampered}"), 403)
    stack.now += 8 * 86400  # past the default 7-day lifetime
    assert_flask(stack.request("GET", f"/{path_and_query}"), 403)


def test_a_fifo_swapped_in_for_an_indexed_file_does_not_hang(stack, folder):
    loaded = stack.load(folder)
    target = folder / "frame_000001.jpg"
    target.unlink()
    os.mkfifo(target)
    assert_flask(stack.request("GET", f"/d/{loaded['id']}/frame_000001.jpg"), 404)


def test_a_cached_variant_is_sent_by_the_fast_path_like_flask(tmp_path, engine):
    stack = Stack(tmp_path / "state", engine, variant_cache_dir=str(tmp_path / "cache"))
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg", (800, 450))
    make_frame(folder / "sub" / "deep.jpg", (800, 450))
    loaded = stack.load(folder)
    miss = assert_flask(stack.request("GET", f"/d/{loaded['id']}/frame.jpg?preset=thumb"), 200)
    assert miss.headers["X-Variant-Cache"] == "miss"
    for path in (f"/d/{loaded['id']}/frame.jpg", "/images/frame.jpg"):
        fast = assert_fast(stack.request("GET", f"{path}?preset=thumb"))
        slow = assert_flask(stack.request("GET", f"{path}?preset=thumb&via=flask"), 200)
        assert fast.data == slow.data == miss.data
        drop = VOLATILE_HEADERS
        assert {k: v for k, v in fast.headers.items() if k not in drop} == {
            k: v for k, v in slow.headers.items() if k not in drop
        }
        etag = fast.headers["ETag"]
        assert_fast(
            stack.request("GET", f"{path}?preset=thumb", headers={"If-None-Match": etag}), 304
        )
        head = assert_fast(stack.request("HEAD", f"{path}?preset=thumb"))
        assert head.headers["Content-Length"] == str(len(fast.data))
    # Not sent fast: invalid values (422), data URIs, a miss.
    assert_flask(stack.request("GET", "/images/frame.jpg?w=13"), 422)
    assert_flask(stack.request("GET", "/images/frame.jpg?preset=cohere"), 200)
    assert_flask(stack.request("GET", "/images/frame.jpg?max=64"), 200)
