"""Several directories at once, stable ids and URLs, the directories API.

See docs/API.md#several-directories.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import Api
from tests.conftest import assert_detail
from tests.support.contract import NOTHING_LOADED
from tests.support.images import make_frames
from tests.support.images import make_image

DIR_KEYS = [
    "id",
    "directory",
    "image_count",
    "load_time",
    "timeout_minutes",
    "auto_unload_at",
    "url_prefix",
]
PAGE_KEYS = ["id", "total", "offset", "limit", "images", "next"]
IMAGE_KEYS = ["name", "url", "size", "mtime"]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
URL_SAFE_ID = re.compile(r"^[A-Za-z0-9._~-]+$")
# Characters allowed unencoded in a URL path (RFC 3986 pchar plus "/").
PATH_CHARS = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")


def listing(api: Api) -> dict:
    response = api.get("/api/directories")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def listed_ids(api: Api) -> list[str]:
    return [d["id"] for d in listing(api)["directories"]]


def two_recordings(tmp_path: Path) -> tuple[Path, Path]:
    """Two folders that both hold `frame_000001.jpg`, with different pixels."""
    a = tmp_path / "recording_a"
    b = tmp_path / "recording_b"
    make_image(a / "frame_000001.jpg", color=1)
    make_image(a / "only_a.jpg", color=2)
    make_image(b / "frame_000001.jpg", color=200)
    make_image(b / "only_b.jpg", color=201)
    assert (a / "frame_000001.jpg").read_bytes() != (b / "frame_000001.jpg").read_bytes()
    return a, b


def walk_pages(api: Api, first_url: str) -> tuple[list[dict], list[dict]]:
    """Follow `next` from `first_url`; return the pages and all images in order."""
    pages: list[dict] = []
    images: list[dict] = []
    url: str | None = first_url
    while url is not None:
        assert len(pages) < 100, "the `next` chain does not end"
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        images.extend(page["images"])
        url = page["next"]
    return pages, images


# -- several directories, stable URLs -------------------------------------------------------


def test_several_directories_stay_loaded_and_the_last_load_is_current(api, tmp_path):
    folders = [tmp_path / f"rec{i}" for i in range(3)]
    ids = []
    for i, folder in enumerate(folders):
        make_frames(folder, i + 1)
        ids.append(api.load(folder)["id"])
    assert len(set(ids)) == 3

    body = listing(api)
    assert list(body)[:2] == ["directories", "current"]
    assert sorted(d["id"] for d in body["directories"]) == sorted(ids)
    assert body["current"] == ids[-1]
    by_id = {d["id"]: d for d in body["directories"]}
    for i, (dir_id, folder) in enumerate(zip(ids, folders, strict=True)):
        assert by_id[dir_id]["directory"] == str(folder)
        assert by_id[dir_id]["image_count"] == i + 1
        response = api.get(f"/d/{dir_id}/frame_000000.jpg")
        assert response.status_code == 200
        assert response.content == (folder / "frame_000000.jpg").read_bytes()


def test_stable_url_keeps_serving_its_directory_when_another_becomes_current(api, tmp_path):
    a, b = two_recordings(tmp_path)
    a_bytes = (a / "frame_000001.jpg").read_bytes()
    b_bytes = (b / "frame_000001.jpg").read_bytes()

    id_a = api.load(a)["id"]
    assert api.get(f"/d/{id_a}/frame_000001.jpg").content == a_bytes
    assert api.get("/images/frame_000001.jpg").content == a_bytes

    id_b = api.load(b)["id"]
    assert id_a != id_b
    stable_a = api.get(f"/d/{id_a}/frame_000001.jpg")
    assert stable_a.status_code == 200
    assert stable_a.headers["Content-Type"] == "image/jpeg"
    assert stable_a.content == a_bytes
    assert api.head(f"/d/{id_a}/frame_000001.jpg").status_code == 200
    assert api.get(f"/d/{id_a}/only_a.jpg").status_code == 200
    assert api.get(f"/d/{id_b}/frame_000001.jpg").content == b_bytes

    current = api.get("/images/frame_000001.jpg")
    assert current.status_code == 200
    assert current.content == b_bytes
    assert_detail(api.get("/images/only_a.jpg"), 404, "Image not found: only_a.jpg")
    assert api.get("/").json()["current_directory"] == str(b)

    # Unloading the current one (B) leaves A's stable URLs alone.
    assert api.post("/unload").json()["status"] == "success"
    assert api.get(f"/d/{id_a}/frame_000001.jpg").content == a_bytes
    assert api.get(f"/d/{id_b}/frame_000001.jpg").status_code == 404
    assert_detail(api.get("/images/frame_000001.jpg"), 400, "No directory loaded")


def test_same_directory_gets_same_id_after_reload_and_after_unload_then_load(api, frames):
    first = api.load(frames)["id"]
    assert api.load(frames)["id"] == first
    assert listed_ids(api) == [first]

    assert api.post("/unload").json()["status"] == "success"
    assert listed_ids(api) == []
    assert api.load(frames)["id"] == first

    assert api.delete(f"/api/directories/{first}").status_code == 200
    assert api.load(frames, timeout_minutes=5)["id"] == first
    assert api.load(frames, recursive=True)["id"] == first


def test_symlinked_path_to_a_directory_gets_the_same_id(api, frames, tmp_path):
    link = tmp_path / "link_to_frames"
    link.symlink_to(frames, target_is_directory=True)
    direct = api.load(frames)["id"]
    via_link = api.load(link)
    assert via_link["id"] == direct
    assert listed_ids(api) == [direct]
    response = api.get(f"/d/{direct}/frame_000002.jpg")
    assert response.content == (frames / "frame_000002.jpg").read_bytes()


def test_different_directories_with_the_same_name_get_different_ids(api, tmp_path):
    one = tmp_path / "one" / "frames"
    two = tmp_path / "two" / "frames"
    make_frames(one, 1)
    make_image(two / "frame_000000.jpg", color=77)
    id_one = api.load(one)["id"]
    id_two = api.load(two)["id"]
    assert id_one != id_two
    assert (
        api.get(f"/d/{id_one}/frame_000000.jpg").content == (one / "frame_000000.jpg").read_bytes()
    )
    assert (
        api.get(f"/d/{id_two}/frame_000000.jpg").content == (two / "frame_000000.jpg").read_bytes()
    )


@pytest.mark.parametrize(
    "folder_name",
    ["My Frames (2024) #1", "été à Paris?", "a%2Fb&c=d", "UPPER.case.dots", "日本語"],
)
def test_ids_are_url_safe_and_their_stable_urls_answer(api, tmp_path, folder_name):
    folder = tmp_path / folder_name
    make_frames(folder, 2)
    body = api.load(folder)
    dir_id = body["id"]
    assert URL_SAFE_ID.match(dir_id), dir_id
    assert quote(dir_id, safe="") == dir_id
    assert body["url_prefix"].endswith(f"/d/{dir_id}/")
    response = requests.get(body["url_prefix"] + "frame_000001.jpg", timeout=10)
    assert response.status_code == 200
    assert response.content == (folder / "frame_000001.jpg").read_bytes()


def test_load_response_adds_id_and_absolute_url_prefix(api, frames):
    body = api.load(frames)
    assert list(body)[:5] == ["status", "directory", "image_count", "message", "timeout"]
    assert "id" in body and "url_prefix" in body
    prefix = body["url_prefix"]
    assert prefix == f"{api.base_url}/d/{body['id']}/"
    assert prefix.endswith("/")
    assert urlsplit(prefix).scheme == "http"
    response = requests.get(prefix + "frame_000000.jpg", timeout=10)
    assert response.status_code == 200
    assert response.content == (frames / "frame_000000.jpg").read_bytes()


# -- GET/DELETE /api/directories --------------------------------------------------------------


def test_directories_listing_is_empty_when_nothing_is_loaded(api):
    assert listing(api) == {"directories": [], "current": None}


def test_directory_entries_have_the_contract_keys_in_order(api, frames, tmp_path):
    other = tmp_path / "other"
    make_frames(other, 3)
    loaded_frames = api.load(frames)
    before = time.time()
    loaded_other = api.load(other, timeout_minutes=5)

    body = listing(api)
    assert list(body)[:2] == ["directories", "current"]
    assert body["current"] == loaded_other["id"]
    entries = {d["id"]: d for d in body["directories"]}
    for entry in entries.values():
        assert list(entry)[:7] == DIR_KEYS

    plain = entries[loaded_frames["id"]]
    assert plain["directory"] == str(frames)
    assert plain["image_count"] == 5
    assert TIMESTAMP.match(plain["load_time"])
    assert plain["timeout_minutes"] is None
    assert plain["auto_unload_at"] is None
    assert plain["url_prefix"] == loaded_frames["url_prefix"]

    timed = entries[loaded_other["id"]]
    assert timed["directory"] == str(other)
    assert timed["image_count"] == 3
    assert timed["timeout_minutes"] == 5
    assert TIMESTAMP.match(timed["auto_unload_at"])
    deadline = time.mktime(time.strptime(timed["auto_unload_at"], "%Y-%m-%d %H:%M:%S"))
    assert before + 300 - 3 <= deadline <= time.time() + 300 + 3
    assert timed["url_prefix"] == loaded_other["url_prefix"]

    for dir_id, entry in entries.items():
        one = api.get(f"/api/directories/{dir_id}")
        assert one.status_code == 200
        assert one.headers["Content-Type"].startswith("application/json")
        assert list(one.json())[:7] == DIR_KEYS
        assert {k: one.json()[k] for k in DIR_KEYS} == {k: entry[k] for k in DIR_KEYS}


def test_unknown_directory_id_is_404_for_get_and_delete(api, frames):
    api.load(frames)
    assert_detail(api.get("/api/directories/nope-0000"), 404, "Directory not found: nope-0000")
    assert_detail(api.delete("/api/directories/nope-0000"), 404, "Directory not found: nope-0000")
    assert api.get("/d/nope-0000/frame_000000.jpg").status_code == 404


def test_deleting_an_already_deleted_directory_is_404(api, frames):
    dir_id = api.load(frames)["id"]
    assert api.delete(f"/api/directories/{dir_id}").status_code == 200
    assert_detail(api.get(f"/api/directories/{dir_id}"), 404, f"Directory not found: {dir_id}")
    assert_detail(api.delete(f"/api/directories/{dir_id}"), 404, f"Directory not found: {dir_id}")


def test_deleting_the_current_directory_leaves_nothing_current(api, tmp_path):
    a, b = two_recordings(tmp_path)
    id_a = api.load(a)["id"]
    id_b = api.load(b)["id"]

    response = api.delete(f"/api/directories/{id_b}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "success", "message": "Directory unloaded successfully"}

    body = listing(api)
    assert body["current"] is None
    assert [d["id"] for d in body["directories"]] == [id_a]
    assert api.get("/").json() == NOTHING_LOADED
    assert_detail(api.get("/images/frame_000001.jpg"), 400, "No directory loaded")
    assert api.get(f"/d/{id_b}/frame_000001.jpg").status_code == 404
    assert api.get(f"/d/{id_a}/frame_000001.jpg").content == (a / "frame_000001.jpg").read_bytes()
    assert api.post("/unload").json() == {
        "status": "info",
        "message": "No directory currently loaded",
    }


def test_deleting_another_directory_keeps_the_current_one(api, tmp_path):
    a, b = two_recordings(tmp_path)
    id_a = api.load(a)["id"]
    id_b = api.load(b)["id"]
    assert api.delete(f"/api/directories/{id_a}").status_code == 200
    body = listing(api)
    assert body["current"] == id_b
    assert [d["id"] for d in body["directories"]] == [id_b]
    assert api.get("/").json()["current_directory"] == str(b)
    assert api.get(f"/d/{id_a}/frame_000001.jpg").status_code == 404


# -- paged image listings ---------------------------------------------------------------------


NAMES = [
    "with space.png",
    "hash#1.jpg",
    "question?.jpg",
    "percent%41.jpg",
    "plus+sign.gif",
    "ümlaut.webp",
    "a.jpg",
    "Z.jpg",
]


def test_image_listing_shape_sorting_sizes_mtimes_and_working_urls(api, tmp_path):
    folder = tmp_path / "mixed"
    for i, name in enumerate(NAMES):
        make_image(folder / name, size=(16 + 8 * i, 16), color=i)
        stamp = 1_600_000_000 + 1000 * i + 0.25
        os.utime(folder / name, (stamp, stamp))
    loaded = api.load(folder)
    dir_id = loaded["id"]
    prefix = loaded["url_prefix"]

    response = api.get(f"/api/directories/{dir_id}/images")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    page = response.json()
    assert list(page)[:6] == PAGE_KEYS
    assert page["id"] == dir_id
    assert page["total"] == len(NAMES)
    assert page["offset"] == 0
    assert page["limit"] == 1000
    assert page["next"] is None
    assert [image["name"] for image in page["images"]] == sorted(NAMES)

    for image in page["images"]:
        assert list(image)[:4] == IMAGE_KEYS
        path = folder / image["name"]
        stat = path.stat()
        assert image["size"] == stat.st_size
        assert abs(image["mtime"] - stat.st_mtime) < 1.0
        url = image["url"]
        assert url.startswith(prefix)
        encoded = url[len(prefix) :]
        assert PATH_CHARS.match(encoded), url
        assert unquote(encoded) == image["name"]
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200, url
        assert fetched.content == path.read_bytes()


def test_image_listing_pages_follow_next_until_null(api, tmp_path):
    folder = tmp_path / "seven"
    names = make_frames(folder, 7)
    dir_id = api.load(folder)["id"]

    pages, images = walk_pages(api, f"{api.base_url}/api/directories/{dir_id}/images?limit=3")
    assert [p["offset"] for p in pages] == [0, 3, 6]
    assert [p["limit"] for p in pages] == [3, 3, 3]
    assert [len(p["images"]) for p in pages] == [3, 3, 1]
    assert all(p["total"] == 7 for p in pages)
    for page in pages[:-1]:
        assert page["next"].startswith(f"{api.base_url}/api/directories/{dir_id}/images?")
    assert pages[-1]["next"] is None
    assert [image["name"] for image in images] == names

    middle = api.get(f"/api/directories/{dir_id}/images?offset=2&limit=2").json()
    assert [image["name"] for image in middle["images"]] == names[2:4]
    assert middle["offset"] == 2 and middle["limit"] == 2
    last = api.get(f"/api/directories/{dir_id}/images?offset=5&limit=2").json()
    assert [image["name"] for image in last["images"]] == names[5:7]
    assert last["next"] is None


@pytest.mark.parametrize(
    "query",
    ["limit=10001", "limit=99999", "offset=-1", "offset=-1&limit=10", "limit=abc", "offset=x"],
)
def test_image_listing_rejects_bad_paging_with_422(api, frames, query):
    dir_id = api.load(frames)["id"]
    response = api.get(f"/api/directories/{dir_id}/images?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    assert {"type", "loc", "msg", "input"} <= set(detail[0])


def test_image_listing_accepts_the_largest_limit(api, frames):
    dir_id = api.load(frames)["id"]
    page = api.get(f"/api/directories/{dir_id}/images?limit=10000").json()
    assert page["limit"] == 10000
    assert len(page["images"]) == 5
    assert page["next"] is None


def test_walking_2500_images_by_following_next(api, tmp_path):
    folder = tmp_path / "big"
    names = make_frames(folder, 2500)
    dir_id = api.load(folder)["id"]

    pages, images = walk_pages(api, f"{api.base_url}/api/directories/{dir_id}/images")
    assert [len(p["images"]) for p in pages] == [1000, 1000, 500]
    assert [p["offset"] for p in pages] == [0, 1000, 2000]
    assert pages[-1]["next"] is None
    assert [image["name"] for image in images] == names

    pages, images = walk_pages(
        api, f"{api.base_url}/api/directories/{dir_id}/images?offset=0&limit=700"
    )
    assert [len(p["images"]) for p in pages] == [700, 700, 700, 400]
    assert [image["name"] for image in images] == names
    last = images[-1]
    response = requests.get(last["url"], timeout=10)
    assert response.content == (folder / last["name"]).read_bytes()


# -- recursive loads --------------------------------------------------------------------------


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    make_image(root / "top.jpg", color=1)
    make_image(root / "sub" / "frame.jpg", color=2)
    make_image(root / "sub" / "deeper" / "x.png", color=3)
    return root


def test_recursive_load_serves_and_lists_images_in_subfolders(api, tmp_path):
    root = make_tree(tmp_path)
    body = api.load(root, recursive=True)
    assert body["image_count"] == 3
    dir_id = body["id"]
    sub_bytes = (root / "sub" / "frame.jpg").read_bytes()

    for path in (f"/d/{dir_id}/sub/frame.jpg", "/images/sub/frame.jpg"):
        response = api.get(path)
        assert response.status_code == 200, path
        assert response.content == sub_bytes
    deeper = api.get(f"/d/{dir_id}/sub/deeper/x.png")
    assert deeper.status_code == 200
    assert deeper.headers["Content-Type"] == "image/png"

    assert api.get("/").json()["image_list"] == ["sub/deeper/x.png", "sub/frame.jpg", "top.jpg"]
    page = api.get(f"/api/directories/{dir_id}/images").json()
    assert page["total"] == 3
    by_name = {image["name"]: image for image in page["images"]}
    assert list(by_name) == ["sub/deeper/x.png", "sub/frame.jpg", "top.jpg"]
    assert by_name["sub/frame.jpg"]["url"] == body["url_prefix"] + "sub/frame.jpg"
    assert requests.get(by_name["sub/frame.jpg"]["url"], timeout=10).content == sub_bytes
    assert by_name["sub/frame.jpg"]["size"] == len(sub_bytes)


def test_non_recursive_load_leaves_subfolders_out(api, tmp_path):
    root = make_tree(tmp_path)
    body = api.load(root)
    assert body["image_count"] == 1
    dir_id = body["id"]
    assert api.get(f"/d/{dir_id}/sub/frame.jpg").status_code == 404
    assert api.get("/images/sub/frame.jpg").status_code == 404
    assert api.get(f"/d/{dir_id}/top.jpg").status_code == 200
    assert api.get("/").json()["image_list"] == ["top.jpg"]
    page = api.get(f"/api/directories/{dir_id}/images").json()
    assert [image["name"] for image in page["images"]] == ["top.jpg"]

    # A recursive re-load of the same directory picks them up, then a plain one drops them.
    assert api.load(root, recursive=True)["image_count"] == 3
    assert api.get(f"/d/{dir_id}/sub/frame.jpg").status_code == 200
    assert api.load(root)["image_count"] == 1
    assert api.get(f"/d/{dir_id}/sub/frame.jpg").status_code == 404


# -- absolute URLs: public URL and proxies ----------------------------------------------------


def test_forwarded_headers_are_ignored_by_default(api, frames):
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
    response = api.post("/load-directory", json={"path": str(frames)}, headers=forged)
    assert response.status_code == 200
    body = response.json()
    assert body["url_prefix"] == f"{api.base_url}/d/{body['id']}/"
    assert body["url_prefix"].startswith("http://127.0.0.1:")

    page = api.get(f"/api/directories/{body['id']}/images?limit=2", headers=forged).json()
    assert all(image["url"].startswith(body["url_prefix"]) for image in page["images"])
    assert page["next"].startswith(f"{api.base_url}/")
    entry = api.get(f"/api/directories/{body['id']}", headers=forged).json()
    assert entry["url_prefix"] == body["url_prefix"]


def test_forwarded_headers_are_honoured_with_a_trusted_proxy(server_factory, frames):
    server = server_factory(env={"IMAGE_SERVER_TRUSTED_PROXIES": "1"})
    api = Api(server)
    forwarded = {"X-Forwarded-Host": "tunnel.example.com", "X-Forwarded-Proto": "https"}
    response = api.post("/load-directory", json={"path": str(frames)}, headers=forwarded)
    assert response.status_code == 200
    body = response.json()
    dir_id = body["id"]
    assert body["url_prefix"] == f"https://tunnel.example.com/d/{dir_id}/"

    page = api.get(f"/api/directories/{dir_id}/images?limit=2", headers=forwarded).json()
    assert page["images"][0]["url"] == (
        f"https://tunnel.example.com/d/{dir_id}/{page['images'][0]['name']}"
    )
    assert page["next"].startswith(f"https://tunnel.example.com/api/directories/{dir_id}/images?")

    # Without the headers, the request's own host is used.
    plain = api.get(f"/api/directories/{dir_id}").json()
    assert plain["url_prefix"] == f"{server.base_url}/d/{dir_id}/"
    api.session.close()


def test_public_url_setting_is_used_for_every_absolute_url(server_factory, frames):
    server = server_factory(env={"IMAGE_SERVER_PUBLIC_URL": "https://example.ngrok.app/"})
    api = Api(server)
    forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
    body = api.load(frames)
    dir_id = body["id"]
    public_prefix = f"https://example.ngrok.app/d/{dir_id}/"
    assert body["url_prefix"] == public_prefix
    assert api.get(f"/api/directories/{dir_id}", headers=forged).json()["url_prefix"] == (
        public_prefix
    )
    assert listing(api)["directories"][0]["url_prefix"] == public_prefix

    page = api.get(f"/api/directories/{dir_id}/images?limit=2", headers=forged).json()
    for image in page["images"]:
        assert image["url"] == public_prefix + image["name"]
        # The same path answers on the server itself.
        local = server.url(urlsplit(image["url"]).path)
        assert requests.get(local, timeout=10).content == (frames / image["name"]).read_bytes()
    assert page["next"].startswith(f"https://example.ngrok.app/api/directories/{dir_id}/images?")
    following = urlsplit(page["next"])
    second = api.get(f"{following.path}?{following.query}").json()
    assert second["offset"] == 2
    assert [image["name"] for image in second["images"]] == [
        "frame_000002.jpg",
        "frame_000003.jpg",
    ]
    api.session.close()


# -- ids across restarts ----------------------------------------------------------------------


def test_same_directory_gets_same_id_after_a_server_restart(server_factory, frames, tmp_path):
    state = tmp_path / "state"
    first = server_factory(state_dir=state)
    api = Api(first)
    dir_id = api.load(frames)["id"]
    api.session.close()
    first.stop()

    second = server_factory(state_dir=state)
    api = Api(second)
    assert listed_ids(api) == [dir_id]
    response = api.get(f"/d/{dir_id}/frame_000003.jpg")
    assert response.status_code == 200
    assert response.content == (frames / "frame_000003.jpg").read_bytes()
    assert api.delete(f"/api/directories/{dir_id}").status_code == 200
    again = api.load(frames)
    assert again["id"] == dir_id
    assert again["url_prefix"] == f"{second.base_url}/d/{dir_id}/"
    api.session.close()
