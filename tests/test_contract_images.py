"""docs/API.md#images (image routes), B.1 stable URLs, B.4 signing and B.5 HTTP on images.

Everything goes over real HTTP to the real server (granian), with real files in tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import assert_detail
from tests.support.images import make_frames
from tests.support.images import make_image

SIGNATURE_DETAIL = "Invalid or expired signature"

CONTENT_TYPES = [
    ("a.jpg", "image/jpeg"),
    ("b.jpeg", "image/jpeg"),
    ("c.png", "image/png"),
    ("d.gif", "image/gif"),
    ("e.webp", "image/webp"),
    ("f.bmp", "image/bmp"),
    ("g.tiff", "image/tiff"),
    ("h.tif", "image/tiff"),
    ("i.avif", "image/avif"),
    ("j.heic", "image/heic"),
]

SVG_BODY = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    """A folder with frames, odd names, a symlink, non-images and a sub-folder."""
    folder = tmp_path / "gallery"
    make_frames(folder, 3)
    for index, (name, _) in enumerate(CONTENT_TYPES):
        make_image(folder / name, color=index + 10)
    make_image(folder / "with space.png", color=20)
    make_image(folder / "été.png", color=21)
    make_image(folder / ".hidden.png", color=22)
    (folder / "alias.png").symlink_to("frame_000001.jpg")
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "x.svg").write_bytes(SVG_BODY)
    make_image(folder / "folder.png" / "inside.png", color=23)
    make_image(folder / "sub" / "deep.png", color=24)
    return folder


def path_and_query(url: str) -> str:
    """Return the path and query of an absolute URL (to replay it against another server)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(url: str, **changes: str) -> str:
    """Return `url` with some query parameters replaced."""
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def listing(session_get, dir_id: str) -> dict[str, dict]:
    """Return the directory's image listing keyed by name."""
    response = session_get(f"/api/directories/{dir_id}/images")
    assert response.status_code == 200, response.text
    return {image["name"]: image for image in response.json()["images"]}


# --- A.3: nothing loaded, unknown names, decoding, odd files ------------------------------


def test_get_image_with_nothing_loaded_is_400(api):
    assert_detail(api.get("/images/x.jpg"), 400, "No directory loaded")


def test_head_image_with_nothing_loaded_is_400_without_body(api):
    response = api.head("/images/x.jpg")
    assert response.status_code == 400
    assert response.content == b""


def test_unknown_image_name_is_404_with_its_name(api, gallery):
    api.load(gallery)
    assert_detail(api.get("/images/nope.jpg"), 404, "Image not found: nope.jpg")


@pytest.mark.parametrize("name", ["Frame_000001.jpg", "FRAME_000001.JPG", "frame_000001.JPG"])
def test_image_names_are_case_sensitive(api, gallery, name):
    api.load(gallery)
    assert api.get("/images/frame_000001.jpg").status_code == 200
    assert_detail(api.get(f"/images/{name}"), 404, f"Image not found: {name}")


@pytest.mark.parametrize(
    ("encoded", "name"),
    [("with%20space.png", "with space.png"), ("%C3%A9t%C3%A9.png", "été.png")],
)
def test_percent_encoded_names_are_decoded(api, gallery, encoded, name):
    api.load(gallery)
    response = api.get(f"/images/{encoded}")
    assert response.status_code == 200
    assert response.content == (gallery / name).read_bytes()


def test_hidden_files_are_served(api, gallery):
    api.load(gallery)
    response = api.get("/images/.hidden.png")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content == (gallery / ".hidden.png").read_bytes()


def test_symlink_to_a_file_inside_the_directory_is_served(api, gallery):
    api.load(gallery)
    response = api.get("/images/alias.png")
    assert response.status_code == 200
    assert response.content == (gallery / "frame_000001.jpg").read_bytes()


@pytest.mark.parametrize("name", ["notes.txt", "x.svg"])
def test_files_that_are_not_served_images_are_404(api, gallery, name):
    api.load(gallery)
    assert_detail(api.get(f"/images/{name}"), 404, f"Image not found: {name}")
    assert api.head(f"/images/{name}").status_code == 404


def test_svg_is_never_served_even_by_stable_url(api, gallery):
    body = api.load(gallery)
    response = api.get(f"/d/{body['id']}/x.svg")
    assert_detail(response, 404, "Image not found: x.svg")
    assert SVG_BODY not in response.content


@pytest.mark.parametrize("name", ["folder.png", "sub"])
def test_a_directory_name_is_404(api, gallery, name):
    api.load(gallery)
    assert_detail(api.get(f"/images/{name}"), 404, f"Image not found: {name}")


@pytest.mark.parametrize("encoded", ["sub%2Fdeep.png", "sub%2fdeep.png", "sub%5Cdeep.png"])
def test_encoded_separator_is_not_a_separator(api, gallery, encoded):
    api.load(gallery, recursive=True)
    assert api.get("/images/sub/deep.png").status_code == 200
    response = api.get(f"/images/{encoded}")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Image not found: ")


# --- A.3 / B.4: Content-Type and nosniff ---------------------------------------------------


@pytest.mark.parametrize(("name", "content_type"), CONTENT_TYPES)
def test_content_type_follows_the_extension(api, gallery, name, content_type):
    api.load(gallery)
    response = api.get(f"/images/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content == (gallery / name).read_bytes()


@pytest.mark.parametrize("name", ["frame_000000.jpg", "c.png", "e.webp"])
def test_images_carry_nosniff(api, gallery, name):
    api.load(gallery)
    assert api.get(f"/images/{name}").headers["X-Content-Type-Options"] == "nosniff"
    assert api.head(f"/images/{name}").headers["X-Content-Type-Options"] == "nosniff"


# --- A.3 / B.5: HEAD ------------------------------------------------------------------------


def test_head_answers_200_like_get_without_body(api, gallery):
    body = api.load(gallery)
    for path in ("/images/frame_000002.jpg", f"/d/{body['id']}/frame_000002.jpg"):
        get = api.get(path)
        head = api.head(path)
        assert get.status_code == 200
        assert head.status_code == 200
        assert head.content == b""
        for header in ("Content-Length", "Content-Type", "ETag", "Last-Modified"):
            assert head.headers[header] == get.headers[header], header
        assert int(head.headers["Content-Length"]) == (gallery / "frame_000002.jpg").stat().st_size


# --- B.5: validators, 304, Range, Cache-Control, CORS ---------------------------------------


def test_images_have_etag_and_last_modified(api, gallery):
    api.load(gallery)
    response = api.get("/images/frame_000000.jpg")
    assert response.status_code == 200
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"].endswith("GMT")


def test_if_none_match_with_the_etag_gives_304(api, gallery):
    api.load(gallery)
    etag = api.get("/images/frame_000000.jpg").headers["ETag"]
    response = api.get("/images/frame_000000.jpg", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""


def test_if_modified_since_with_last_modified_gives_304(api, gallery):
    api.load(gallery)
    last_modified = api.get("/images/frame_000000.jpg").headers["Last-Modified"]
    response = api.get("/images/frame_000000.jpg", headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304
    assert response.content == b""


def test_etag_changes_when_the_file_changes(api, gallery):
    api.load(gallery)
    target = gallery / "frame_000000.jpg"
    first = api.get("/images/frame_000000.jpg")
    old_etag = first.headers["ETag"]
    old_mtime = target.stat().st_mtime
    make_image(target, size=(64, 48), color=99)
    os.utime(target, (old_mtime + 100, old_mtime + 100))
    api.load(gallery)  # re-index, as a caller does after changing files
    second = api.get("/images/frame_000000.jpg")
    assert second.status_code == 200
    assert second.content == target.read_bytes()
    assert second.content != first.content
    assert second.headers["ETag"] != old_etag
    assert second.headers["Last-Modified"] != first.headers["Last-Modified"]
    stale = api.get("/images/frame_000000.jpg", headers={"If-None-Match": old_etag})
    assert stale.status_code == 200
    assert stale.content == target.read_bytes()


def test_range_of_the_first_ten_bytes_gives_206(api, gallery):
    api.load(gallery)
    data = (gallery / "c.png").read_bytes()
    response = api.get("/images/c.png", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    assert response.content == data[:10]
    assert len(response.content) == 10


def test_range_beyond_the_end_gives_416(api, gallery):
    api.load(gallery)
    size = (gallery / "c.png").stat().st_size
    response = api.get("/images/c.png", headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert response.status_code == 416


def test_images_have_cache_control_with_max_age(api, gallery):
    api.load(gallery)
    response = api.get("/images/frame_000000.jpg")
    assert "max-age=" in response.headers["Cache-Control"]


def test_image_get_and_head_allow_any_origin(api, gallery):
    body = api.load(gallery)
    for path in ("/images/frame_000000.jpg", f"/d/{body['id']}/frame_000000.jpg"):
        assert api.get(path).headers["Access-Control-Allow-Origin"] == "*"
        assert api.head(path).headers["Access-Control-Allow-Origin"] == "*"


def test_options_preflight_on_images_allows_any_origin_and_get(api, gallery):
    body = api.load(gallery)
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}
    for path in ("/images/frame_000000.jpg", f"/d/{body['id']}/frame_000000.jpg"):
        response = api.options(path, headers=headers)
        assert 200 <= response.status_code < 300, (path, response.status_code)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        methods = [m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")]
        assert "GET" in methods


# --- B.1: stable URLs ---------------------------------------------------------------------


def test_stable_urls_serve_from_their_own_directory_whatever_is_current(api, tmp_path):
    first = tmp_path / "rec1"
    second = tmp_path / "rec2"
    make_image(first / "frame_000001.jpg", color=1)
    make_image(second / "frame_000001.jpg", color=2)
    body1 = api.load(first)
    body2 = api.load(second)  # now current
    assert body1["id"] != body2["id"]
    for body, folder in ((body1, first), (body2, second)):
        assert body["url_prefix"].endswith("/")
        assert body["url_prefix"].startswith("http")
        response = api.session.get(body["url_prefix"] + "frame_000001.jpg", timeout=10)
        assert response.status_code == 200
        assert response.content == (folder / "frame_000001.jpg").read_bytes()
        direct = api.get(f"/d/{body['id']}/frame_000001.jpg")
        assert direct.content == (folder / "frame_000001.jpg").read_bytes()
    assert api.get("/images/frame_000001.jpg").content == (second / "frame_000001.jpg").read_bytes()


def test_stable_url_unknown_name_is_404(api, gallery):
    body = api.load(gallery)
    assert_detail(api.get(f"/d/{body['id']}/nope.jpg"), 404, "Image not found: nope.jpg")


def test_stable_url_serves_sub_folders_when_loaded_recursively(api, gallery):
    body = api.load(gallery, recursive=True)
    data = (gallery / "sub" / "deep.png").read_bytes()
    assert api.get(f"/d/{body['id']}/sub/deep.png").content == data
    assert api.get("/images/sub/deep.png").content == data


def test_cache_max_age_setting_is_respected(server_factory, gallery):
    server = server_factory(env={"IMAGE_SERVER_CACHE_MAX_AGE": "123"})
    body = requests.post(server.url("/load-directory"), json={"path": str(gallery)}, timeout=30)
    assert body.status_code == 200, body.text
    for path in ("/images/frame_000000.jpg", f"/d/{body.json()['id']}/frame_000000.jpg"):
        response = requests.get(server.url(path), timeout=10)
        assert response.status_code == 200
        directives = [d.strip() for d in response.headers["Cache-Control"].split(",")]
        assert "max-age=123" in directives


# --- B.4: signed URLs -----------------------------------------------------------------------


def start_signed(server_factory, gallery: Path, **kwargs):
    """Start a server with signing key k1 (unless `env` says otherwise) and load `gallery`."""
    env = kwargs.pop("env", {"IMAGE_SERVER_SIGNING_KEY": "k1"})
    server = server_factory(env=env, **kwargs)
    response = requests.post(server.url("/load-directory"), json={"path": str(gallery)}, timeout=30)
    assert response.status_code == 200, response.text
    return server, response.json()


def server_get(server, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url(path), timeout=10, **kwargs)


def test_signing_refuses_missing_tampered_and_expired_signatures(server_factory, gallery):
    server, body = start_signed(server_factory, gallery)
    images = listing(lambda p: server_get(server, p), body["id"])
    url = images["frame_000000.jpg"]["url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert set(query) >= {"exp", "sig"}
    assert server_get(server, path_and_query(url)).status_code == 200

    unsigned = [f"/d/{body['id']}/frame_000000.jpg", "/images/frame_000000.jpg"]
    for path in unsigned:
        assert_detail(server_get(server, path), 403, SIGNATURE_DETAIL)
        assert requests.head(server.url(path), timeout=10).status_code == 403

    sig = query["sig"]
    tampered_sig = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    expired = str(int(query["exp"]) - 10 * 365 * 86400)
    bad_urls = [
        with_query(url, sig=tampered_sig),
        with_query(url, sig=""),
        with_query(url, exp=expired),
        with_query(url, exp="1"),
        with_query(url, exp=str(int(query["exp"]) + 1)),
        with_query(url, exp="soon"),
        # The signature of one image does not open another one.
        url.replace("frame_000000.jpg", "frame_000001.jpg"),
    ]
    for bad in bad_urls:
        assert_detail(server_get(server, path_and_query(bad)), 403, SIGNATURE_DETAIL)


def test_signing_serves_listing_urls_and_leaves_url_prefix_unsigned(server_factory, gallery):
    server, body = start_signed(server_factory, gallery)
    prefix = body["url_prefix"]
    assert prefix.endswith("/")
    assert "?" not in prefix
    assert "sig=" not in prefix
    assert "exp=" not in prefix
    images = listing(lambda p: server_get(server, p), body["id"])
    for name in ("frame_000000.jpg", "with space.png", "été.png"):
        url = images[name]["url"]
        assert url.startswith(prefix)
        assert "sig=" in url
        assert "exp=" in url
        response = server_get(server, path_and_query(url))
        assert response.status_code == 200, (name, response.text)
        assert response.content == (gallery / name).read_bytes()
    assert_detail(server_get(server, urlsplit(prefix).path + "c.png"), 403, SIGNATURE_DETAIL)


def test_urls_signed_with_the_previous_key_still_work_after_rotation(server_factory, gallery):
    first, body = start_signed(server_factory, gallery)
    old_url = listing(lambda p: server_get(first, p), body["id"])["frame_000000.jpg"]["url"]
    assert server_get(first, path_and_query(old_url)).status_code == 200
    first.stop()

    rotated = server_factory(
        state_dir=first.state_dir,
        env={"IMAGE_SERVER_SIGNING_KEY": "k2", "IMAGE_SERVER_SIGNING_KEY_PREVIOUS": "k1"},
    )
    response = server_get(rotated, path_and_query(old_url))
    assert response.status_code == 200, response.text
    assert response.content == (gallery / "frame_000000.jpg").read_bytes()

    new_url = listing(lambda p: server_get(rotated, p), body["id"])["frame_000000.jpg"]["url"]
    assert server_get(rotated, path_and_query(new_url)).status_code == 200
    tampered = with_query(old_url, exp=str(int(parse_qs(urlsplit(old_url).query)["exp"][0]) + 1))
    assert_detail(server_get(rotated, path_and_query(tampered)), 403, SIGNATURE_DETAIL)


def test_a_name_with_a_newline_is_an_image_not_found(api, gallery):
    body = api.load(gallery)
    for path in ("/images/a%0Ab.jpg", f"/d/{body['id']}/a%0Ab.jpg"):
        assert_detail(api.get(path), 404, "Image not found: a\nb.jpg")
        assert api.options(path).status_code == 204


def test_a_range_in_an_unknown_unit_is_ignored(api, gallery):
    api.load(gallery)
    data = (gallery / "frame_000000.jpg").read_bytes()
    for value in ("items=0-5", "pages=1"):
        response = api.get("/images/frame_000000.jpg", headers={"Range": value})
        assert response.status_code == 200, value
        assert response.content == data
