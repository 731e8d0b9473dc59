"""`?name=` on the listing and `GET /api/directories/<id>/sheet-url` (docs/API.md), real servers.

One request answers the URL of one image (signed like every listed URL) or of a contact
sheet; what the listing lacks is the image route's own 404.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.conftest import Api
from tests.conftest import assert_detail
from tests.support.images import make_frame
from tests.support.images import make_image
from tests.support.server import ServerProcess

TOKEN = "listing-name-token"
SIGNING_KEY = "listing-name-signing-key"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two identical frames (the second a near-duplicate), a different one, a sub-folder."""
    root = tmp_path / "shots"
    make_frame(root / "a.jpg", size=(640, 360), seed=1)
    (root / "b.jpg").write_bytes((root / "a.jpg").read_bytes())
    make_frame(root / "c.jpg", size=(640, 360), seed=9)
    make_image(root / "sub" / "d e.png", size=(40, 30), color=4)
    return root


def test_name_answers_just_that_entry(api: Api, folder: Path) -> None:
    dir_id = api.load(folder, recursive=True)["id"]
    path = f"/api/directories/{dir_id}/images"
    full = {entry["name"]: entry for entry in api.get(path).json()["images"]}
    for name in ("a.jpg", "sub/d e.png"):
        answer = api.get(path, params={"name": name, "offset": 3, "limit": 1}).json()
        assert answer["images"] == [full[name]]
        assert (answer["total"], answer["offset"], answer["next"]) == (1, 0, None)
    facts = api.get(path, params={"name": "c.jpg", "facts": "true", "preset": "thumb"}).json()
    entry = facts["images"][0]
    assert (entry["width"], entry["height"], entry["format"]) == (640, 360, "JPEG")
    thumb = Image.open(io.BytesIO(requests.get(entry["url"], timeout=10).content))
    assert max(thumb.size) == 256  # the variant parameters reach the one URL too
    kept = api.get(path, params={"name": "a.jpg", "unique": "true"}).json()["images"]
    assert kept[0]["duplicates"] == 1
    dropped = api.get(path, params={"name": "b.jpg", "unique": "true"})
    assert_detail(dropped, 404, "Image not found: b.jpg")
    for name in ("missing.jpg", "../shots/a.jpg", "sub/../a.jpg", "/etc/passwd"):
        assert_detail(api.get(path, params={"name": name}), 404, f"Image not found: {name}")
    assert api.get(path, params={"name": ""}).status_code == 422
    assert_detail(
        api.get("/api/directories/nope/images", params={"name": "a.jpg"}),
        404,
        "Directory not found: nope",
    )


def test_sheet_url_is_checked_and_answers_the_sheet(api: Api, folder: Path) -> None:
    dir_id = api.load(folder)["id"]
    path = f"/api/directories/{dir_id}/sheet-url"
    answer = api.get(path, params={"from": "a.jpg", "count": 2, "cols": 2, "max": 512}).json()
    assert answer["names"] == ["a.jpg", "b.jpg"]
    sheet = requests.get(answer["url"], timeout=30)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(sheet.content)).size) == 512
    named = api.get(path, params={"names": "c.jpg,a.jpg"}).json()
    assert named["names"] == ["c.jpg", "a.jpg"]
    assert requests.get(named["url"], timeout=30).status_code == 200
    assert_detail(api.get(path, params={"names": "a.jpg,zz.jpg"}), 404, "Image not found: zz.jpg")
    assert_detail(api.get(path, params={"from": "zz.jpg"}), 404, "Image not found: zz.jpg")
    for bad in ({}, {"names": "a.jpg", "from": "a.jpg"}, {"from": "a.jpg", "count": 37},
                {"names": "a.jpg", "max": 1000}):  # fmt: skip
        assert api.get(path, params=bad).status_code == 422, bad


def test_locked_signed_server(folder: Path, server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory(
        env={"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY}
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    loaded = requests.post(server.url("/load-directory"), json={"path": str(folder)},
                           headers=auth, timeout=30).json()  # fmt: skip
    images = server.url(f"/api/directories/{loaded['id']}/images")
    sheet = server.url(f"/api/directories/{loaded['id']}/sheet-url")
    for url in (images, sheet):
        assert requests.get(url, params={"name": "a.jpg"}, timeout=10).status_code == 401
    entry = requests.get(images, params={"name": "c.jpg", "preset": "claude"}, headers=auth,
                         timeout=10).json()["images"][0]  # fmt: skip
    assert "sig=" in entry["url"] and "preset=claude" in entry["url"]
    assert requests.get(entry["url"], timeout=30).status_code == 200
    # Any size with a signature (not one of the unsigned sizes), and the URL works untouched.
    answer = requests.get(sheet, params={"names": "a.jpg,c.jpg", "max": 1000}, headers=auth,
                          timeout=10).json()  # fmt: skip
    assert "sig=" in answer["url"]
    served = requests.get(answer["url"], timeout=30)
    assert served.status_code == 200
    assert max(Image.open(io.BytesIO(served.content)).size) == 1000
    tampered = answer["url"].replace("max=1000", "max=1001")
    assert requests.get(tampered, timeout=10).status_code == 403
