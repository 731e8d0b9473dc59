"""The production engine (issue 11): granian with a native ASGI image path, Flask behind a2wsgi.

What is specific to the engine, over real sockets against `python server.py`: the raw request
target reaches every route (B.4), what the HTTP layer refuses itself is bodiless (A.0),
bytes the adapter could not decode never become a 500, large files stream whole, SIGTERM
stops within 5 seconds with connections still open (B.3), and the WSGI entry point that
stays for WSGI servers still serves images.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import Api
from tests.conftest import assert_detail
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.wsgi_server import wsgiref_server

# The contract stops the server within 5 s of SIGTERM (B.3); checked here with 3x that, so a
# loaded CI machine does not fail it. The shutdown time itself is for bench/ to measure.
SHUTDOWN_BOUND_SECONDS = 3 * 5


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` verbatim and return the status, the headers and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        _send_until_answered(sock, request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        headers = {name.lower(): value for name, value in headers.items()}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split(" ")[1]), headers, body


def _send_until_answered(sock: socket.socket, request: bytes) -> None:
    """Send `request`, stopping early once the server answers (it may refuse mid-way)."""
    view = memoryview(request)
    while view:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            return  # answered (a 431...) before reading it all: don't write into a reset
        try:
            view = view[sock.send(view[:65536]) :]
        except (BrokenPipeError, ConnectionResetError):
            return


@pytest.fixture
def nested(tmp_path: Path) -> Path:
    folder = tmp_path / "nested"
    make_frames(folder, 2)
    make_image(folder / "sub" / "deep.png", size=(64, 48))
    return folder


@pytest.mark.parametrize(
    "suffix",
    ["", "?w=64", "?preset=thumb", "?as=datauri", "?via=flask"],
    ids=["plain", "variant", "preset", "datauri", "unknown-param"],
)
def test_an_encoded_separator_is_never_a_separator_on_any_image_route(api, nested, suffix):
    # Plain requests go to the native path, the others to Flask: both see the raw target.
    loaded = api.load(nested, recursive=True)
    assert api.get(f"/d/{loaded['id']}/sub/deep.png{suffix}").status_code == 200
    for path in (f"/d/{loaded['id']}/sub%2Fdeep.png", "/images/sub%2Fdeep.png"):
        response = api.get(path + suffix)
        assert_detail(response, 404, "Image not found: sub/deep.png")
        assert api.head(path + suffix).status_code == 404


def test_raw_utf8_in_a_query_is_never_a_500(api, frames):
    api.load(frames)
    for target in (b"/healthz?\xc3\xa9=1", b"/api/directories?x=\xc3\xa9", b"/?\xe2\x82\xac"):
        request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        status, headers, _ = raw_exchange(api.server.port, request)
        assert status == 200, target
        assert headers["content-type"].startswith("application/json")
    request = (
        b"GET /images/frame_000001.jpg?w=\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, headers, body = raw_exchange(api.server.port, request)
    assert status in (400, 422), body  # a bad value, or refused by the engine: never a 500


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4_000_000 + b"\r\n\r\n",
    ],
    ids=["request-line", "nul", "long-target", "huge-header"],
)
def test_what_the_http_layer_refuses_is_bodiless_and_never_html(api, request_bytes):
    status, headers, body = raw_exchange(api.server.port, request_bytes)
    assert status in (400, 414, 431)
    assert body == b""
    assert "text/html" not in headers.get("content-type", "")


def test_a_large_image_is_streamed_whole_with_its_length(api, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    payload = os.urandom(3 * 1024 * 1024 + 11)  # well over the one-read size
    (folder / "huge.png").write_bytes(payload)
    loaded = api.load(folder)
    response = api.get(f"/d/{loaded['id']}/huge.png")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(payload))
    assert response.content == payload
    tail = api.get(f"/d/{loaded['id']}/huge.png", headers={"Range": "bytes=-1000"})
    assert tail.status_code == 206
    assert tail.content == payload[-1000:]
    big_range = api.get(f"/d/{loaded['id']}/huge.png", headers={"Range": "bytes=1-"})
    assert big_range.status_code == 206  # too big for the native path: Werkzeug's 206
    assert big_range.content == payload[1:]


def test_no_version_in_the_server_header(api, frames):
    loaded = api.load(frames)
    for response in (api.get("/healthz"), api.get(f"/d/{loaded['id']}/frame_000000.jpg")):
        assert not any(ch.isdigit() for ch in response.headers.get("Server", ""))


def test_sigterm_with_open_and_half_sent_connections_exits_within_five_seconds(
    server_factory, frames
):
    server = server_factory()
    api = Api(server)
    api.load(frames, timeout_minutes=30)
    assert api.get("/healthz").status_code == 200  # an idle keep-alive connection stays open
    mid_body = socket.create_connection(("127.0.0.1", server.port))
    mid_body.sendall(b"POST /load-directory HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    mid_headers = socket.create_connection(("127.0.0.1", server.port))
    mid_headers.sendall(b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)  # the main process only, as systemd does
    try:
        server.process.wait(timeout=SHUTDOWN_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {SHUTDOWN_BOUND_SECONDS} s after SIGTERM")
    finally:
        mid_body.close()
        mid_headers.close()
        api.session.close()
    elapsed = time.monotonic() - started
    assert elapsed < SHUTDOWN_BOUND_SECONDS, f"shutdown took {elapsed:.1f} s"


def test_the_wsgi_entry_point_serves_images_under_a_wsgi_server(tmp_path, frames):
    # One smoke test for `imageserver.wsgi:application`, here under the standard library's
    # WSGI server (a real one, single-threaded), with its own state directory.
    with wsgiref_server(tmp_path / "state") as base:
        loaded = requests.post(f"{base}/load-directory", json={"path": str(frames)}, timeout=10)
        assert loaded.status_code == 200, loaded.text
        image = requests.get(f"{base}/d/{loaded.json()['id']}/frame_000001.jpg", timeout=10)
        assert image.status_code == 200
        assert image.content == (frames / "frame_000001.jpg").read_bytes()
        assert requests.get(f"{base}/images/missing.jpg", timeout=10).status_code == 404
