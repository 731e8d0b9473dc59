"""A web page cannot drive the server: cross-site writes and DNS rebinding are refused.

Real requests against the shared `python server.py`, with the headers a browser sends
(`Origin`, `Sec-Fetch-Site`, a rebound `Host`). The page-driven version of the same attacks,
in headless Chromium, is `tests/test_browser_guard_chromium.py`.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from imageserver.security.hosts import default_patterns
from imageserver.security.hosts import host_allowed
from imageserver.security.origin import cross_site_refusal

EVIL = "http://evil.example"


def directory_count(api) -> int:
    return len(api.get("/api/directories").json()["directories"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/load-directory"),
        ("POST", "/unload"),
        ("POST", "/timeout/5"),
        ("DELETE", "/api/directories/whatever"),
        ("PUT", "/load-directory"),
        ("PATCH", "/load-directory"),
    ],
)
def test_a_write_from_a_foreign_origin_is_refused(api, frames: Path, method, path) -> None:
    api.load(frames)
    before = api.get("/").json()
    response = api.session.request(
        method,
        api.url(path),
        data=f'{{"path": "{frames}"}}',
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
        timeout=10,
    )
    assert response.status_code == 403, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "IMAGE_SERVER_CORS_ORIGINS" in response.json()["detail"]
    assert api.get("/").json() == before


def test_a_simple_text_plain_load_from_a_page_changes_nothing(api, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    response = api.post(
        "/load-directory",
        data=f'{{"path": "{folder}"}}',
        headers={"Origin": EVIL, "Content-Type": "text/plain"},
    )
    assert response.status_code == 403
    assert directory_count(api) == 0


def test_sec_fetch_site_cross_site_without_origin_is_refused(api, frames: Path) -> None:
    response = api.post(
        "/load-directory", json={"path": str(frames)}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert directory_count(api) == 0


def test_clients_without_origin_keep_working(api, frames: Path) -> None:
    # curl, n8n and Python send no Origin: the first version's clients are unaffected.
    assert api.post("/load-directory", json={"path": str(frames)}).status_code == 200
    assert api.post("/unload").status_code == 200


def test_the_servers_own_origin_may_write(api, frames: Path) -> None:
    own = api.base_url  # the gallery's page posts with its own origin
    response = api.post("/load-directory", json={"path": str(frames)}, headers={"Origin": own})
    assert response.status_code == 200, response.text


def test_an_origin_null_is_refused(api, frames: Path) -> None:
    response = api.post("/load-directory", json={"path": str(frames)}, headers={"Origin": "null"})
    assert response.status_code == 403


def test_an_allowed_origin_may_write(server_factory, frames: Path) -> None:
    server = server_factory(env={"IMAGE_SERVER_CORS_ORIGINS": "http://tools.example:3000"})
    import requests

    ok = requests.post(
        f"{server.base_url}/load-directory",
        json={"path": str(frames)},
        headers={"Origin": "http://tools.example:3000"},
        timeout=30,
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["Access-Control-Allow-Origin"] == "http://tools.example:3000"


@pytest.mark.parametrize("path", ["/", "/api/directories", "/gallery", "/metrics", "/timeout"])
def test_a_rebound_host_is_refused_on_the_control_api_gallery_and_metrics(api, path) -> None:
    response = api.get(path, headers={"Host": "attacker.example:7779"})
    assert response.status_code in (403, 421), response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "IMAGE_SERVER_ALLOWED_HOSTS" in response.json()["detail"]


def test_a_rebound_host_cannot_load(api, frames: Path) -> None:
    response = api.post(
        "/load-directory", json={"path": str(frames)}, headers={"Host": "attacker.example"}
    )
    assert response.status_code in (403, 421)
    assert directory_count(api) == 0


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:7779",
        "app.localhost:7779",
        "127.0.0.1:7779",
        "[::1]:7779",
        "10.1.2.3",
        "host.docker.internal:7779",
        socket.gethostname(),
    ],
)
def test_the_default_hosts_answer(api, host: str) -> None:
    assert api.get("/", headers={"Host": host}).status_code == 200


def test_images_and_probes_answer_any_host(api, frames: Path) -> None:
    loaded = api.load(frames)
    foreign = {"Host": "cdn.example"}
    assert api.get(f"/d/{loaded['id']}/frame_000000.jpg", headers=foreign).status_code == 200
    assert api.get("/healthz", headers=foreign).status_code == 200


def test_the_public_urls_host_and_configured_hosts_answer(server_factory) -> None:
    import requests

    server = server_factory(env={"IMAGE_SERVER_PUBLIC_URL": "https://abc123.ngrok-free.app"})
    ok = requests.get(server.base_url + "/", headers={"Host": "abc123.ngrok-free.app"}, timeout=10)
    assert ok.status_code == 200
    other = requests.get(server.base_url + "/", headers={"Host": "other.example"}, timeout=10)
    assert other.status_code in (403, 421)
    strict = server_factory(env={"IMAGE_SERVER_ALLOWED_HOSTS": ".example.com"})
    sub = requests.get(strict.base_url + "/", headers={"Host": "a.example.com"}, timeout=10)
    assert sub.status_code == 200
    local = requests.get(strict.base_url + "/", headers={"Host": "localhost"}, timeout=10)
    assert local.status_code in (403, 421)  # a configured list replaces the defaults


@pytest.mark.parametrize(
    ("host", "configured", "allowed"),
    [
        ("localhost:7779", (), True),
        ("LOCALHOST", (), True),
        ("a.b.localhost", (), True),
        ("[fe80::1]:80", (), True),
        ("192.168.0.10:7779", (), True),
        ("evil.example", (), False),
        ("localhost.evil.example", (), False),
        ("evillocalhost", (), False),
        (None, (), False),
        ("", (), False),
        ("x.example.com", (".example.com",), True),
        ("example.com", (".example.com",), True),
        ("badexample.com", (".example.com",), False),
        ("anything", ("*",), True),
        ("127.0.0.1", ("example.com",), False),
    ],
)
def test_host_rules(host, configured, allowed) -> None:
    defaults = default_patterns(None, machine_name="box")
    assert host_allowed(host, configured, defaults) is allowed


@pytest.mark.parametrize(
    ("method", "origin", "site", "refused"),
    [
        ("GET", EVIL, None, False),
        ("OPTIONS", EVIL, None, False),
        ("POST", None, None, False),
        ("POST", None, "same-origin", False),
        ("POST", None, "cross-site", True),
        ("POST", EVIL, None, True),
        ("DELETE", EVIL, None, True),
        ("POST", "http://ok.example", None, False),
        ("POST", "http://OK.example/", None, False),
        ("POST", "http://me:7779", None, False),
        ("POST", "null", None, True),
        ("POST", "null", "same-origin", False),  # the gallery's form under no-referrer
        ("POST", EVIL, "same-origin", False),  # the browser's word wins; no script forges it
        ("POST", None, "same-site", True),  # another port of localhost is another origin
        ("POST", EVIL, "cross-site", True),
        ("POST", "http://ok.example", "cross-site", False),
        ("POST", None, "none", False),
    ],
)
def test_origin_rules(method, origin, site, refused) -> None:
    reason = cross_site_refusal(method, origin, site, ("http://ok.example",), ("http://me:7779",))
    assert (reason is not None) is refused
