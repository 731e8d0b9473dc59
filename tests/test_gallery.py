"""The gallery's routes over HTTP, without a browser (docs/API.md#the-gallery; issue 13).

Against the real server: the pages are HTML with a strict CSP and nothing inline, the
static files come from the package, the JSON calls of the page keep the API's error shape,
and with a token nothing is shown without the signed, HttpOnly, SameSite=Strict cookie,
whose CSRF token guards every change. The browser itself is `test_gallery_browser.py`'s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from imageserver.web.session import COOKIE_NAME
from imageserver.web.session import CSRF_HEADER
from imageserver.web.session import SESSION_SECONDS
from tests.conftest import Api
from tests.conftest import assert_detail
from tests.support.images import make_frames
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

TOKEN = "gallery-token"
SIGNING_KEY = "gallery-signing-key"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def assert_strict_page(response: requests.Response) -> str:
    """Assert an HTML page with a strict CSP and no inline script or style; return its text."""
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    html = response.text
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # every script is a file
    assert "<style" not in html and " style=" not in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # nothing from elsewhere
    return html


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server with a token and signing; one folder loaded. Yields (server, directory id)."""
    root = tmp_path_factory.mktemp("gallery-locked")
    make_frames(root / "secret", 3, prefix="secret_")
    env = {"IMAGE_SERVER_TOKEN": TOKEN, "IMAGE_SERVER_SIGNING_KEY": SIGNING_KEY}
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


def sign_in(server: ServerProcess, token: str, next_page: str = "/gallery") -> requests.Session:
    """Post the sign-in form with `token` from a fresh session; return the session."""
    client = requests.Session()
    client.post(
        server.base_url + "/gallery/login",
        data={"token": token, "next": next_page},
        allow_redirects=False,
        timeout=10,
    )
    return client


def test_pages_are_strict_html(api: Api, frames: Path) -> None:
    dir_id = api.load(frames)["id"]
    html = assert_strict_page(api.get("/gallery"))
    assert dir_id in html and str(frames) in html
    html = assert_strict_page(api.get(f"/gallery/{dir_id}"))
    assert f'data-id="{dir_id}"' in html and 'data-total="5"' in html


def test_static_files_ship_in_the_package(api: Api) -> None:
    for name, media_type in (
        ("gallery.js", "text/javascript"),
        ("gallery.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ):
        response = api.get(f"/gallery/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"].startswith(media_type), name
    assert_detail(api.get("/gallery/static/nope.js"), 404, "Not Found")


def test_directories_page_marks_the_current_one(api: Api, tmp_path: Path) -> None:
    make_frames(tmp_path / "a", 2)
    make_frames(tmp_path / "b", 3)
    first = api.load(tmp_path / "a", timeout_minutes=5)["id"]
    second = api.load(tmp_path / "b")["id"]
    html = api.get("/gallery").text
    current = re.search(r'<li class="dir is-current" data-id="([^"]+)"', html)
    assert current and current[1] == second
    assert re.search(rf'data-id="{first}".*?data-remaining="(29[0-9]|300)"', html, re.S)


def test_errors_keep_the_api_shape(api: Api, frames: Path) -> None:
    dir_id = api.load(frames)["id"]
    missing = api.get("/gallery/not-loaded-123")
    assert missing.status_code == 404 and "Directory not found" in missing.text
    assert_detail(api.post("/gallery"), 405, "Method Not Allowed")
    assert_detail(api.get("/gallery/nope/search"), 404, "Directory not found: nope")
    assert api.get(f"/gallery/{dir_id}/search?limit=0").status_code == 422
    assert api.get(f"/gallery/{dir_id}/links?name=frame_000000.jpg&preset=x").status_code == 422
    assert_detail(
        api.get(f"/gallery/{dir_id}/links?name=nope.jpg"), 404, "Image not found: nope.jpg"
    )


def test_search_filters_by_name_and_pages(api: Api, tmp_path: Path) -> None:
    make_frames(tmp_path / "mix", 12)
    dir_id = api.load(tmp_path / "mix")["id"]
    page = api.get(f"/gallery/{dir_id}/search?q=FRAME_00001&limit=2").json()
    assert page["total"] == 2  # frame_000010.jpg, frame_000011.jpg; case-insensitive
    assert [i["name"] for i in page["images"]] == ["frame_000010.jpg", "frame_000011.jpg"]
    image = page["images"][0]
    assert image["url"].endswith(f"/d/{dir_id}/frame_000010.jpg")
    assert image["thumb"] == image["url"] + "?preset=thumb"
    assert api.get(image["thumb"].removeprefix(api.base_url)).status_code == 200
    assert api.get(f"/gallery/{dir_id}/search?offset=10").json()["total"] == 12


def test_links_give_the_stable_and_a_preset_url(api: Api, frames: Path) -> None:
    dir_id = api.load(frames)["id"]
    links = api.get(f"/gallery/{dir_id}/links?name=frame_000001.jpg&preset=openai-low").json()
    listed = api.get(f"/api/directories/{dir_id}/images?offset=1&limit=1").json()["images"][0]
    assert links["url"] == listed["url"]
    assert links["preset_url"] == listed["url"] + "?preset=openai-low"


def deadline_shown_now(seconds: int) -> str:
    """A deadline `seconds` from now as the API shows it (local time, to the second)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + seconds))


def test_rearm_reloads_and_restarts_the_deadline(api: Api, tmp_path: Path) -> None:
    make_frames(tmp_path / "a", 2)
    make_frames(tmp_path / "b", 2)
    first = api.load(tmp_path / "a", timeout_minutes=5)
    api.load(tmp_path / "b")
    # Deadlines are shown to the second: wait for the clock (the server's too: one machine) to
    # reach the second in which a new 5-minute deadline would show later than the first one.
    wait_until(
        lambda: deadline_shown_now(300) > first["auto_unload_at"],
        timeout=5,
        message="the clock to pass into the next second",
    )
    answer = api.post(f"/gallery/{first['id']}/rearm")
    assert answer.status_code == 200, answer.text
    after = api.get(f"/api/directories/{first['id']}").json()
    assert after["timeout_minutes"] == 5
    assert after["auto_unload_at"] > first["auto_unload_at"]
    assert api.get("/api/directories").json()["current"] == first["id"]
    assert_detail(api.post("/gallery/nope/rearm"), 404, "Directory not found: nope")


def test_rearm_keeps_a_live_folder_live(api: Api, frames: Path) -> None:
    dir_id = api.load(frames, watch=True)["id"]
    assert api.post(f"/gallery/{dir_id}/rearm").json()["watch"] is True
    assert api.get(f"/api/directories/{dir_id}").json()["watch"] is True


def test_hidden_paths_stay_hidden(
    server_factory: Callable[..., ServerProcess], frames: Path
) -> None:
    server = server_factory(env={"IMAGE_SERVER_HIDE_PATHS": "true"})
    client = Api(server)
    dir_id = client.load(frames)["id"]
    for page in ("/gallery", f"/gallery/{dir_id}"):
        html = client.get(page).text
        assert dir_id in html and str(frames) not in html, page


def test_locked_gallery_names_nothing_without_a_session(locked: tuple[ServerProcess, str]) -> None:
    server, dir_id = locked
    for page in ("/gallery", f"/gallery/{dir_id}"):
        response = requests.get(server.base_url + page, timeout=10)
        html = assert_strict_page(response)
        assert 'name="token"' in html
        # The form sends the visitor back to the page they asked for, and nothing more.
        html = html.replace(f'name="next" value="{page}"', "")
        assert dir_id not in html and "secret_" not in html and "/d/" not in html
    for call in (f"/gallery/{dir_id}/search", f"/gallery/{dir_id}/links?name=secret_000000.jpg"):
        assert_detail(requests.get(server.base_url + call, timeout=10), 401, "Not authenticated")
    rearm = requests.post(f"{server.base_url}/gallery/{dir_id}/rearm", timeout=10)
    assert_detail(rearm, 401, "Not authenticated")


def test_wrong_token_is_refused_without_a_cookie(locked: tuple[ServerProcess, str]) -> None:
    server, _ = locked
    response = requests.post(server.base_url + "/gallery/login", data={"token": "nope"}, timeout=10)
    assert response.status_code == 401 and "Wrong token." in response.text
    assert "Set-Cookie" not in response.headers


def test_right_token_sets_a_strict_cookie(locked: tuple[ServerProcess, str]) -> None:
    server, dir_id = locked
    response = requests.post(
        server.base_url + "/gallery/login",
        data={"token": TOKEN, "next": f"/gallery/{dir_id}"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/gallery/{dir_id}"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    for flag in ("HttpOnly", "SameSite=Strict", f"Max-Age={SESSION_SECONDS}", "Path=/"):
        assert flag in cookie, flag
    assert TOKEN not in cookie


def test_session_reads_with_signed_urls_and_changes_only_with_csrf(
    locked: tuple[ServerProcess, str],
) -> None:
    server, dir_id = locked
    client = sign_in(server, TOKEN)
    html = client.get(server.base_url + "/gallery", timeout=10).text
    assert dir_id in html
    csrf = CSRF_META.search(html)[1]
    assert csrf
    page = client.get(f"{server.base_url}/api/directories/{dir_id}/images", timeout=10).json()
    assert all("sig=" in image["url"] for image in page["images"])
    found = client.get(f"{server.base_url}/gallery/{dir_id}/search?q=0", timeout=10).json()
    assert all("sig=" in image["thumb"] for image in found["images"])
    rearm = f"{server.base_url}/gallery/{dir_id}/rearm"
    assert client.post(rearm, timeout=10).status_code == 401
    assert client.post(rearm, headers={CSRF_HEADER: "forged"}, timeout=10).status_code == 401
    assert client.post(rearm, headers={CSRF_HEADER: csrf}, timeout=10).status_code == 200


def test_tampered_cookie_and_foreign_redirects_are_refused(
    locked: tuple[ServerProcess, str],
) -> None:
    server, dir_id = locked
    forged = requests.Session()
    forged.cookies.set(COOKIE_NAME, "eyJjc3JmIjoieCJ9.Z0Z0Z0.forged")
    assert 'name="token"' in forged.get(server.base_url + "/gallery", timeout=10).text
    api_call = forged.get(f"{server.base_url}/api/directories", timeout=10)
    assert_detail(api_call, 401, "Not authenticated")
    for target in ("https://evil.example/", "//evil.example/gallery", "/api/directories"):
        response = requests.post(
            server.base_url + "/gallery/login",
            data={"token": TOKEN, "next": target},
            allow_redirects=False,
            timeout=10,
        )
        assert response.headers["Location"] == "/gallery", target


def test_sign_out_needs_the_csrf_token(locked: tuple[ServerProcess, str]) -> None:
    server, _ = locked
    client = sign_in(server, TOKEN)
    csrf = CSRF_META.search(client.get(server.base_url + "/gallery", timeout=10).text)[1]
    client.post(server.base_url + "/gallery/logout", data={"csrf": "wrong"}, timeout=10)
    assert client.cookies.get(COOKIE_NAME)
    client.post(server.base_url + "/gallery/logout", data={"csrf": csrf}, timeout=10)
    assert not client.cookies.get(COOKIE_NAME)
