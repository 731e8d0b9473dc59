"""The data-URI batch endpoint, signed variant URLs and the cache bound, over real HTTP."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlencode

import pytest
import requests
from PIL import Image

from imageserver.security.signing import sign_params
from imageserver.variants import datauri
from tests.conftest import assert_detail
from tests.support.images import make_frame
from tests.support.images import make_noise
from tests.support.server import ServerProcess

SIGNATURE_DETAIL = "Invalid or expired signature"


def start(server_factory, tmp_path: Path, **env: str):
    """Start a server whose variant cache lives in `tmp_path`."""
    settings = {"IMAGE_SERVER_VARIANT_CACHE_DIR": str(tmp_path / "cache"), **env}
    return server_factory(env=settings)


def load(server, folder: Path, headers: dict | None = None) -> str:
    response = requests.post(
        server.url("/load-directory"), json={"path": str(folder)}, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def make_gallery(folder: Path) -> Path:
    for i in range(3):
        make_frame(folder / f"frame_{i}.jpg", seed=i)
    (folder / "broken.png").write_bytes(b"\x89PNG not quite")
    return folder


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    return make_gallery(tmp_path / "gallery")


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """An open server (no token, no signing) with the gallery loaded, shared by the module."""
    root = tmp_path_factory.mktemp("plain")
    env = {"IMAGE_SERVER_VARIANT_CACHE_DIR": str(root / "cache")}
    server = ServerProcess(root / "state", env=env).start()
    try:
        yield server, load(server, make_gallery(root / "gallery"))
    finally:
        server.stop()


# --- POST /api/directories/<id>/datauris ------------------------------------------------------


def test_batch_returns_data_uris_and_reports_failures_per_item(plain):
    server, dir_id = plain
    names = ["frame_0.jpg", "missing.jpg", "frame_2.jpg", "broken.png", "../etc/passwd"]
    response = requests.post(
        server.url(f"/api/directories/{dir_id}/datauris"),
        json={"names": names, "preset": "openai-low"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body)[:5] == ["id", "preset", "count", "failed", "items"]
    assert (body["id"], body["preset"], body["count"], body["failed"]) == (
        dir_id,
        "openai-low",
        5,
        3,
    )
    items = body["items"]
    assert [item["name"] for item in items] == names
    assert [item["status"] for item in items] == [200, 404, 200, 422, 404]
    assert items[1]["detail"] == "Image not found: missing.jpg"
    for item in (items[0], items[2]):
        media_type, data = datauri.decode(item["data_uri"])
        assert media_type == item["media_type"] == "image/jpeg"
        assert len(data) == item["bytes"]
        assert Image.open(io.BytesIO(data)).size == (512, 288)
    # The same bytes as the URL form of the variant.
    url_form = requests.get(server.url(f"/d/{dir_id}/frame_0.jpg?preset=openai-low"), timeout=30)
    assert datauri.decode(items[0]["data_uri"])[1] == url_form.content


def test_batch_body_is_validated_and_bounded(plain):
    server, dir_id = plain
    url = server.url(f"/api/directories/{dir_id}/datauris")
    cases = [
        ({"preset": "claude"}, ["body", "names"]),
        ({"names": []}, ["body", "names"]),
        ({"names": [f"n{i}.jpg" for i in range(101)]}, ["body", "names"]),
        ({"names": ["frame_0.jpg"], "preset": "nope"}, ["body", "preset"]),
        ({"names": ["frame_0.jpg"], "w": 513}, ["body", "w"]),
        ({"names": "frame_0.jpg"}, ["body", "names"]),
    ]
    for body, loc in cases:
        response = requests.post(url, json=body, timeout=30)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc
    assert requests.post(url, timeout=30).status_code == 422  # no body at all
    unknown = requests.post(
        server.url("/api/directories/nope-0000000000/datauris"), json={"names": ["a.jpg"]}
    )
    assert_detail(unknown, 404, "Directory not found: nope-0000000000")
    hundred = requests.post(url, json={"names": ["frame_1.jpg"] * 100, "preset": "thumb"})
    assert hundred.status_code == 200 and hundred.json()["failed"] == 0


def test_batch_needs_the_token_like_every_control_route(server_factory, tmp_path, gallery):
    server = start(server_factory, tmp_path, IMAGE_SERVER_TOKEN="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    dir_id = load(server, gallery, headers=auth)
    url = server.url(f"/api/directories/{dir_id}/datauris")
    body = {"names": ["frame_0.jpg"], "preset": "cohere"}
    assert_detail(requests.post(url, json=body, timeout=30), 401, "Not authenticated")
    response = requests.post(url, json=body, headers=auth, timeout=30)
    assert response.status_code == 200
    assert response.json()["items"][0]["data_uri"].startswith("data:image/jpeg;base64,")
    # Image URLs themselves stay open (B.4): a variant needs no token.
    assert requests.get(server.url(f"/d/{dir_id}/frame_0.jpg?preset=thumb")).status_code == 200


# --- signed URLs ---------------------------------------------------------------------------


def test_signed_variant_urls_cover_the_parameters_and_allow_any_size(
    server_factory, tmp_path, gallery
):
    server = start(server_factory, tmp_path, IMAGE_SERVER_SIGNING_KEY="k1")
    dir_id = load(server, gallery)
    path = f"/d/{dir_id}/frame_0.jpg"
    expires = int(time.time()) + 600
    signed = sign_params("k1", path, {"w": "1000", "format": "png"}, expires)
    response = requests.get(server.url(f"{path}?{urlencode(signed)}"), timeout=30)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (1000, 562))  # 1000 is no listed size

    tampered = {**signed, "w": "1001"}
    assert_detail(requests.get(server.url(f"{path}?{urlencode(tampered)}")), 403, SIGNATURE_DETAIL)
    assert_detail(requests.get(server.url(f"{path}?w=1024")), 403, SIGNATURE_DETAIL)
    unsigned_extra = {**signed, "max": "64"}  # adding a parameter breaks the signature too
    response = requests.get(server.url(f"{path}?{urlencode(unsigned_extra)}"), timeout=30)
    assert_detail(response, 403, SIGNATURE_DETAIL)


# --- the cache bound -------------------------------------------------------------------------


def test_the_cache_stays_within_its_bound(server_factory, tmp_path):
    server = start(server_factory, tmp_path, IMAGE_SERVER_VARIANT_CACHE_MB="1")
    folder = tmp_path / "noise"
    for i in range(8):
        make_noise(folder / f"n{i}.png", (400, 400), "PNG")  # each variant ~480 KB as PNG
    dir_id = load(server, folder)
    for i in range(8):
        url = server.url(f"/d/{dir_id}/{quote(f'n{i}.png')}?max=4096&format=png")
        response = requests.get(url, timeout=30)
        assert response.status_code == 200
        assert len(response.content) > 400_000
    cache = tmp_path / "cache"
    stored = [p.stat().st_size for p in cache.glob("??/*")]
    assert sum(stored) <= 1024 * 1024
    assert int((cache / ".usage").read_text()) == sum(stored)
    assert 1 <= len(stored) < 8
    assert not list((cache / ".tmp").iterdir())  # every write was renamed into place
