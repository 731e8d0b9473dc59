"""The upload inbox over HTTP (docs/API.md#uploads): real server, real images, real curl.

One server with a token serves the module; each test uses an inbox of its own, so they
cannot see each other's files. What an upload refuses must leave nothing: no file in the
inbox, no temporary file in `<state_dir>/inboxes/.tmp/`.
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.conftest import assert_detail
from tests.support.parts import require_binary
from tests.support.server import ServerProcess
from tests.support.uploads import AUTH
from tests.support.uploads import TOKEN
from tests.support.uploads import image_bytes
from tests.support.uploads import stored_files
from tests.support.uploads import temp_files
from tests.support.waiting import wait_until

IMAGE_KEYS = ["name", "url", "size", "width", "height", "media_type"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("upload-state"), env={"IMAGE_SERVER_TOKEN": TOKEN}
    ).start()
    yield process
    process.stop()


@pytest.fixture
def inbox(request: pytest.FixtureRequest) -> str:
    """An inbox name of this test's own."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:64]


def upload(server: ServerProcess, inbox: str, **kwargs) -> requests.Response:
    params = {"inbox": inbox, **kwargs.pop("params", {})}
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return requests.post(
        server.url("/api/uploads"), params=params, headers=headers, timeout=30, **kwargs
    )


def assert_nothing_stored(server: ServerProcess, inbox: str) -> None:
    assert stored_files(server.state_dir, inbox) == []
    assert wait_until(lambda: temp_files(server.state_dir) == [])


def test_raw_body_is_stored_and_served_at_its_stable_url(server, inbox):
    png = image_bytes("PNG", (40, 30))
    response = upload(server, inbox, data=png, params={"name": "frame.png"})
    assert response.status_code == 201, response.text
    answer = response.json()
    assert list(answer) == ["id", "images"]
    (image,) = answer["images"]
    assert list(image) == IMAGE_KEYS
    assert image["name"] == "frame.png" and image["size"] == len(png)
    assert (image["width"], image["height"], image["media_type"]) == (40, 30, "image/png")
    assert image["url"] == f"{server.base_url}/d/{answer['id']}/frame.png"
    served = requests.get(image["url"], timeout=10)
    assert served.content == png and served.headers["Content-Type"] == "image/png"
    listing = requests.get(
        server.url(f"/api/directories/{answer['id']}/images"), headers=AUTH, timeout=10
    ).json()
    assert [entry["name"] for entry in listing["images"]] == ["frame.png"]


def test_the_inbox_is_loaded_but_never_made_current(server, inbox, frames):
    loaded = requests.post(
        server.url("/load-directory"), json={"path": str(frames)}, headers=AUTH, timeout=10
    ).json()
    answer = upload(server, inbox, data=image_bytes(), params={"name": "a.png"}).json()
    directories = requests.get(server.url("/api/directories"), headers=AUTH, timeout=10).json()
    assert directories["current"] == loaded["id"]
    assert answer["id"] in {d["id"] for d in directories["directories"]}
    status = requests.get(server.url("/"), headers=AUTH, timeout=10).json()
    assert status["current_directory"] == str(frames)


def test_multipart_with_several_files_under_any_field_name(server, inbox):
    png, jpeg = image_bytes("PNG", color=1), image_bytes("JPEG", color=2)
    files = [("file", ("a.png", png, "image/png")), ("other", ("b.jpg", jpeg, "image/jpeg"))]
    response = upload(server, inbox, files=files)
    assert response.status_code == 201, response.text
    images = response.json()["images"]
    assert [i["name"] for i in images] == ["a.png", "b.jpg"]
    assert [i["media_type"] for i in images] == ["image/png", "image/jpeg"]
    for image, body in zip(images, (png, jpeg), strict=True):
        assert requests.get(image["url"], timeout=10).content == body


def test_curl_upload_file_and_curl_form_files(server, inbox, tmp_path):
    require_binary("curl", "apt-get install -y curl; .ci/run does")
    (tmp_path / "frame.png").write_bytes(image_bytes("PNG", color=3))
    (tmp_path / "b.jpg").write_bytes(image_bytes("JPEG", color=4))
    auth = ["-H", f"Authorization: Bearer {TOKEN}"]
    base = server.url("/api/uploads")
    put = subprocess.run(
        ["curl", "-sS", *auth, "-T", "frame.png", f"{base}/?inbox={inbox}"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    assert [i["name"] for i in _json(put.stdout)["images"]] == ["frame.png"]
    form = subprocess.run(
        [
            "curl",
            "-sS",
            *auth,
            "-F",
            "file=@frame.png",
            "-F",
            "file=@b.jpg",
            f"{base}?inbox={inbox}",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    images = _json(form.stdout)["images"]
    assert [i["name"] for i in images] == ["frame.png", "b.jpg"]  # frame.png: the stored one
    assert requests.get(images[1]["url"], timeout=10).content == (tmp_path / "b.jpg").read_bytes()
    assert stored_files(server.state_dir, inbox) == ["b.jpg", "frame.png"]


def _json(stdout: bytes) -> dict:
    return json.loads(stdout)


def test_the_same_bytes_are_stored_once(server, inbox):
    png = image_bytes(color=5)
    first = upload(server, inbox, data=png, params={"name": "one.png"}).json()
    again = upload(server, inbox, data=png, params={"name": "two.png"})
    assert again.status_code == 201
    assert again.json()["images"][0]["name"] == "one.png"
    unnamed = upload(server, inbox, data=png).json()
    assert unnamed["images"] == first["images"]
    assert stored_files(server.state_dir, inbox) == ["one.png"]


def test_content_addressed_name_when_none_is_given(server, inbox):
    response = upload(server, inbox, data=image_bytes("JPEG", color=6))
    name = response.json()["images"][0]["name"]
    assert re.fullmatch(r"[0-9a-f]{16}\.jpg", name)


def test_a_different_file_under_a_taken_name_is_409(server, inbox):
    upload(server, inbox, data=image_bytes(color=7), params={"name": "x.png"})
    clash = upload(server, inbox, data=image_bytes(color=8), params={"name": "x.png"})
    assert clash.status_code == 409
    assert "never overwritten" in clash.json()["detail"]
    assert len(stored_files(server.state_dir, inbox)) == 1


def test_a_file_over_the_limit_is_413_and_nothing_is_stored(server, inbox):
    body = image_bytes() + b"\0" * (21 * 1024 * 1024)
    response = upload(server, inbox, data=body, params={"name": "big.png"})
    assert response.status_code == 413
    assert "20 MB" in response.json()["detail"]
    assert_nothing_stored(server, inbox)


@pytest.mark.parametrize(
    ("name", "body", "status", "words"),
    [
        ("notes.png", b"just some text, renamed\n" * 4, 415, "Not an image"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', 415, "SVG"),
        ("cut.png", image_bytes(size=(64, 64))[:60], 422, "truncated"),
        ("zip.png", image_bytes() + b"PK\x03\x04" + b"\0" * 64 + b"zip", 422, "polyglot"),
        ("script.png", image_bytes(text="<script>alert(1)</script>"), 422, "script markup"),
        ("mislabelled.png", image_bytes("JPEG"), 422, "does not match"),
    ],
    ids=["text", "svg", "truncated", "zip-appended", "script-chunk", "mislabelled"],
)
def test_what_is_not_one_whole_image_is_refused(server, inbox, name, body, status, words):
    response = upload(server, inbox, data=body, params={"name": name})
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert words in response.json()["detail"]
    assert_nothing_stored(server, inbox)


def test_one_bad_file_refuses_the_whole_request(server, inbox):
    files = [("f", ("good.png", image_bytes(), "image/png")), ("f", ("bad.png", b"text", "x/y"))]
    assert upload(server, inbox, files=files).status_code == 415
    assert_nothing_stored(server, inbox)


def test_a_bad_inbox_name_is_422(server):
    response = upload(server, "../etc", data=image_bytes())
    assert response.status_code == 422 and "inbox" in response.json()["detail"]


def test_a_wrong_token_is_401(server, inbox):
    response = upload(server, inbox, data=image_bytes(), headers={"Authorization": "Bearer no"})
    assert_detail(response, 401, "Not authenticated")
    assert_nothing_stored(server, inbox)


def test_without_a_token_configured_uploads_are_403(api):
    response = api.post("/api/uploads", data=image_bytes())
    assert response.status_code == 403
    assert "IMAGE_SERVER_TOKEN" in response.json()["detail"]


def test_a_cut_upload_leaves_nothing(server, inbox):
    body = image_bytes(size=(300, 300))
    head = (
        f"POST /api/uploads?inbox={inbox}&name=cut.png HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
    assert_nothing_stored(server, inbox)
    assert requests.get(server.url("/healthz"), timeout=10).status_code == 200


def test_unloading_the_inbox_deletes_its_files(server, inbox):
    answer = upload(server, inbox, data=image_bytes(), params={"name": "a.png"}).json()
    folder: Path = server.state_dir / "inboxes" / inbox
    assert folder.is_dir()
    deleted = requests.delete(server.url(f"/api/directories/{answer['id']}"), headers=AUTH)
    assert deleted.status_code == 200
    assert not folder.exists()
    assert requests.get(answer["images"][0]["url"], timeout=10).status_code == 404


def test_variants_of_an_uploaded_image(server, inbox):
    answer = upload(server, inbox, data=image_bytes(size=(400, 300)), params={"name": "v.png"})
    url = answer.json()["images"][0]["url"]
    variant = requests.get(url, params={"w": 64, "format": "webp"}, timeout=10)
    assert variant.status_code == 200, variant.text
    assert variant.headers["Content-Type"] == "image/webp"


def test_signed_urls_for_uploads(server_factory):
    signed = server_factory(
        env={"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": "upload-signing"}
    )
    response = requests.post(
        signed.url("/api/uploads?name=s.png"), data=image_bytes(), headers=AUTH, timeout=10
    )
    url = response.json()["images"][0]["url"]
    assert "sig=" in url and "exp=" in url
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403


def noise_png(seed: int, side: int = 360) -> bytes:
    """A PNG that does not compress: about 3 * side**2 bytes (390 KB at 360)."""
    pixels = random.Random(seed).randbytes(3 * side * side)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_all_inboxes_together_are_bounded(server_factory):
    """New inbox names cannot each take a full quota: IMAGE_SERVER_UPLOAD_TOTAL_MB bounds all."""
    env = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_UPLOAD_TOTAL_MB": "1"}
    bounded = server_factory(env=env)
    for n in (1, 2):
        response = upload(bounded, "first", data=noise_png(n), params={"name": f"{n}.png"})
        assert response.status_code == 201, response.text
    refused = upload(bounded, "second", data=noise_png(3), params={"name": "3.png"})
    assert refused.status_code == 413
    assert "IMAGE_SERVER_UPLOAD_TOTAL_MB" in refused.json()["detail"]
    assert_nothing_stored(bounded, "second")

    first_id = upload(bounded, "first", data=noise_png(1), params={"name": "1.png"}).json()["id"]
    gone = requests.delete(bounded.url(f"/api/directories/{first_id}"), headers=AUTH, timeout=10)
    assert gone.status_code == 200
    again = upload(bounded, "second", data=noise_png(3), params={"name": "3.png"})
    assert again.status_code == 201, again.text
    assert stored_files(bounded.state_dir, "second") == ["3.png"]
