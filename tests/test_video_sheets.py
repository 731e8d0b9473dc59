"""`GET /d/<id>/sheet`: contact sheets over HTTP, cached and signed like variants (#23)."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from PIL import ImageChops

from imageserver.frames import sheet
from imageserver.security.signing import sign_params
from imageserver.variants import datauri
from tests.conftest import Api
from tests.support import recording

SIGNING_KEY = "sheet-signing-key"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> recording.Recording:
    folder = tmp_path_factory.mktemp("sheet-video")
    return recording.make_recording(folder / "demo.mp4", seconds=10, fps=5, size=(640, 360))


def decoded(response) -> Image.Image:
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content))


def label_bands_hold_text(image: Image.Image, count: int, cols: int | None) -> bool:
    """Every cell's label band differs from a blank band: something is written in it."""
    c, _, tw, th, band = sheet.layout(count, cols, 1568, 9 / 16)
    for i in range(count):
        x = sheet.GAP + (i % c) * (tw + sheet.GAP)
        y = sheet.GAP + (i // c) * (th + band + sheet.GAP) + th
        region = image.crop((x, y, x + tw, y + band)).convert("RGB")
        if ImageChops.difference(region, Image.new("RGB", region.size, sheet.BAND)).getbbox():
            continue
        return False
    return True


def test_a_sheet_of_named_frames_is_a_labelled_grid(api, video):
    loaded = api.load(video.path, frames={"fps": 1})
    names = [f"frame_{i:06d}.jpg" for i in range(1, 8)]
    response = api.get(f"/d/{loaded['id']}/sheet", params={"names": ",".join(names)})
    image = decoded(response)
    assert response.headers["Content-Type"] == "image/jpeg" and image.format == "JPEG"
    cols, rows, tw, th, band = sheet.layout(7, None, 1568, 9 / 16)
    assert (cols, rows) == (3, 3)
    assert image.size == (cols * tw + (cols + 1) * sheet.GAP, rows * (th + band + sheet.GAP) + 4)
    assert label_bands_hold_text(image, 7, None)
    # The second request is a cache hit, and the ETag gives a 304.
    again = api.get(f"/d/{loaded['id']}/sheet", params={"names": ",".join(names)})
    assert (
        response.headers["X-Variant-Cache"] == "miss" and again.headers["X-Variant-Cache"] == "hit"
    )
    etag = again.headers["ETag"]
    conditional = api.get(
        f"/d/{loaded['id']}/sheet",
        params={"names": ",".join(names)},
        headers={"If-None-Match": etag},
    )
    assert conditional.status_code == 304


def test_from_and_count_with_cols_and_variant_parameters(api, video):
    loaded = api.load(video.path, frames={"fps": 1})
    query = {"from": "frame_000003.jpg", "count": 4, "cols": 4, "format": "png", "max": 512}
    image = decoded(api.get(f"/d/{loaded['id']}/sheet", params=query))
    assert image.format == "PNG" and image.width == 512 and image.width > 3 * image.height


def test_datauri_answers_text(api, video):
    loaded = api.load(video.path)
    response = api.get(
        f"/d/{loaded['id']}/sheet",
        params={"from": "frame_000001.jpg", "count": 2, "datauri": "true"},
    )
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    media_type, data = datauri.decode(response.text)
    assert media_type == "image/jpeg" and Image.open(io.BytesIO(data)).format == "JPEG"


def test_a_folder_sheet_is_labelled_with_names(api, frames):
    loaded = api.load(frames)
    names = "frame_000000.jpg,frame_000001.jpg"
    image = decoded(api.get(f"/d/{loaded['id']}/sheet", params={"names": names}))
    assert image.size[0] > image.size[1]


@pytest.mark.parametrize(
    "query,status",
    [
        ({"names": ",".join(f"frame_{i:06d}.jpg" for i in range(37))}, 422),
        ({"from": "frame_000001.jpg", "count": 37}, 422),
        ({}, 422),
        ({"names": "a.jpg", "from": "a.jpg"}, 422),
        ({"names": "missing.jpg"}, 404),
        ({"from": "missing.jpg"}, 404),
        ({"names": "frame_000001.jpg", "max": 123}, 422),
    ],
)
def test_bad_sheet_requests(api, frames, query, status):
    loaded = api.load(frames)
    response = api.get(f"/d/{loaded['id']}/sheet", params=query)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    # Asking for the sheet's URL is refused alike: a URL handed out always answers 200.
    asked = api.get(f"/api/directories/{loaded['id']}/sheet-url", params=query)
    assert asked.status_code == status, asked.text
    assert "detail" in asked.json()


def test_the_sheet_url_of_an_unsigned_server_opens_the_sheet(api, frames):
    loaded = api.load(frames)
    query = {"from": "frame_000001.jpg", "count": 3, "preset": "claude"}
    answer = api.get(f"/api/directories/{loaded['id']}/sheet-url", params=query).json()
    assert list(answer) == ["url", "names"]
    assert answer["names"] == [f"frame_{i:06d}.jpg" for i in range(1, 4)]
    assert answer["url"].startswith(f"{api.base_url}/d/{loaded['id']}/sheet?")
    assert "sig=" not in answer["url"]
    assert decoded(api.session.get(answer["url"], timeout=30)).format == "JPEG"
    missing = api.get("/api/directories/nope/sheet-url", params={"names": "a.jpg"})
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Directory not found: nope"}


def test_a_signed_server_needs_a_signature(server_factory, frames):
    api = Api(server_factory(env={"IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY}))
    loaded = api.load(frames)
    path = f"/d/{loaded['id']}/sheet"
    query = {"names": "frame_000000.jpg,frame_000001.jpg"}
    refused = api.get(path, params=query)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Invalid or expired signature"}
    signed = sign_params(SIGNING_KEY, path, query, int(time.time()) + 600)
    assert decoded(api.get(path, params=signed)).format == "JPEG"


def test_a_signed_server_hands_out_signed_sheet_urls(server_factory, frames):
    env = {"IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY, "IMAGE_SERVER_TOKEN": "sheet-token"}
    api = Api(server_factory(env=env))
    auth = {"Authorization": "Bearer sheet-token"}
    loaded = api.post("/load-directory", json={"path": str(frames)}, headers=auth).json()
    ask = f"/api/directories/{loaded['id']}/sheet-url"
    query = {"names": "frame_000000.jpg,frame_000002.jpg", "max": 123}  # any size once signed
    assert api.get(ask, params=query).status_code == 401  # a control call: the token
    answer = api.get(ask, params=query, headers=auth).json()
    assert "exp=" in answer["url"] and "sig=" in answer["url"]
    image = decoded(api.session.get(answer["url"], timeout=30))
    assert max(image.size) == 123
    tampered = answer["url"].replace("max=123", "max=124")
    assert api.session.get(tampered, timeout=30).status_code == 403
