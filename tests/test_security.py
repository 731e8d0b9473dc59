"""Lock-down (SECURITY.md, issue 5): tokens, signatures, CORS, hidden paths, start-up warning.

Every HTTP check runs against the real server under granian; the start-up warning is checked
through `cli_serve.main` with the engine replaced, so no test binds a non-loopback address.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests

from imageserver.cli import serve as cli_serve
from imageserver.security.signing import canonical_query
from imageserver.security.signing import sign_params
from imageserver.security.signing import signature_is_valid
from imageserver.security.signing import url_signature
from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError
from tests.conftest import assert_detail
from tests.support.images import make_frames

SIGNATURE_DETAIL = "Invalid or expired signature"
ORIGIN = "https://app.example.com"
STRANGER = "https://evil.example.net"


def get(server, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url(path), timeout=10, **kwargs)


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# --- Tokens ---------------------------------------------------------------------------------


@pytest.fixture
def locked(server_factory, frames: Path):
    """A server with two tokens (a rotation in progress) and `frames` loaded."""
    server = server_factory(env={"IMAGE_SERVER_TOKEN": "old-token, new-token"}, workers=1)
    answer = requests.post(
        server.url("/load-directory"),
        json={"path": str(frames)},
        headers={"Authorization": "Bearer new-token"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return server, answer.json()


def test_every_configured_token_opens_the_control_api(locked):
    server, _ = locked
    for token in ("old-token", "new-token"):
        response = get(server, "/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, token
    assert (
        get(server, "/", headers={"Authorization": "Bearer old-token,new-token"}).status_code == 401
    )


def test_refusal_is_401_json_with_a_bearer_challenge_on_every_api_route(locked):
    server, loaded = locked
    dir_id = loaded["id"]
    routes = [
        ("GET", "/"),
        ("POST", "/load-directory"),
        ("POST", "/unload"),
        ("GET", "/timeout"),
        ("POST", "/timeout/3"),
        ("GET", "/api/directories"),
        ("GET", f"/api/directories/{dir_id}"),
        ("GET", f"/api/directories/{dir_id}/images"),
        ("DELETE", f"/api/directories/{dir_id}"),
        ("GET", "/api/directories/no-such-id"),  # no oracle for which ids exist
    ]
    for method, path in routes:
        response = requests.request(method, server.url(path), timeout=10)
        assert_detail(response, 401, "Not authenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer", (method, path)
    # The refused DELETE did nothing.
    listing = get(server, "/api/directories", headers={"Authorization": "Bearer old-token"})
    assert [entry["id"] for entry in listing.json()["directories"]] == [dir_id]


def test_images_health_robots_and_preflights_stay_open_with_a_token(locked):
    server, loaded = locked
    assert get(server, f"/d/{loaded['id']}/frame_000000.jpg").status_code == 200
    assert get(server, "/images/frame_000000.jpg").status_code == 200
    assert get(server, "/healthz").json() == {"status": "ok"}
    assert get(server, "/robots.txt").status_code == 200
    preflight = requests.options(
        server.url("/api/directories"),
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert preflight.status_code in (200, 204)


# --- Signatures -----------------------------------------------------------------------------


def test_signature_covers_path_expiry_and_every_parameter():
    params = sign_params("k1", "/d/abc/x.jpg", {"w": "512", "format": "webp"}, 2_000_000_000)
    pairs = list(params.items())
    assert signature_is_valid(("k1",), "/d/abc/x.jpg", pairs, now=1_000)
    assert signature_is_valid(("k1",), "/d/abc/x.jpg", reversed(pairs), now=1_000)  # any order
    assert not signature_is_valid(("k2",), "/d/abc/x.jpg", pairs, now=1_000)
    assert not signature_is_valid(("k1",), "/d/abc/y.jpg", pairs, now=1_000)
    assert not signature_is_valid(("k1",), "/d/abc/x.jpg", pairs, now=2_000_000_001)
    tampered = [(k, "1024" if k == "w" else v) for k, v in pairs]
    assert not signature_is_valid(("k1",), "/d/abc/x.jpg", tampered, now=1_000)
    added = [*pairs, ("quality", "10")]
    assert not signature_is_valid(("k1",), "/d/abc/x.jpg", added, now=1_000)
    removed = [(k, v) for k, v in pairs if k != "format"]
    assert not signature_is_valid(("k1",), "/d/abc/x.jpg", removed, now=1_000)
    doubled = [*pairs, ("exp", params["exp"])]
    assert not signature_is_valid(("k1",), "/d/abc/x.jpg", doubled, now=1_000)


def test_parameter_values_cannot_forge_other_pairs():
    # `a=1&b=2` as one value must not sign the same message as two pairs.
    assert canonical_query([("a", "1&b=2")]) != canonical_query([("a", "1"), ("b", "2")])
    one = url_signature("k", "/p", [("a", "1&b=2"), ("exp", "9")])
    two = url_signature("k", "/p", [("a", "1"), ("b", "2"), ("exp", "9")])
    assert one != two


def test_signed_server_refuses_tampered_and_added_parameters(server_factory, frames):
    server = server_factory(env={"IMAGE_SERVER_SIGNING_KEY": "k1"}, workers=1)
    loaded = requests.post(
        server.url("/load-directory"), json={"path": str(frames)}, timeout=30
    ).json()
    listing = get(server, f"/api/directories/{loaded['id']}/images").json()
    url = listing["images"][0]["url"]
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query)
    assert get(server, path_and_query(url)).status_code == 200
    reordered = f"{parts.path}?{urlencode(list(reversed(pairs)))}"
    assert get(server, reordered).status_code == 200

    added = f"{parts.path}?{parts.query}&w=64"
    assert_detail(get(server, added), 403, SIGNATURE_DETAIL)
    doubled = f"{parts.path}?{parts.query}&exp={dict(pairs)['exp']}"
    assert_detail(get(server, doubled), 403, SIGNATURE_DETAIL)
    other_dir = url.replace(f"/d/{loaded['id']}/", "/d/other-0123456789/")
    assert_detail(get(server, path_and_query(other_dir)), 403, SIGNATURE_DETAIL)
    head = requests.head(server.url(added), timeout=10)
    assert head.status_code == 403


# --- CORS on the control API ----------------------------------------------------------------


@pytest.fixture
def cors_server(server_factory, frames: Path):
    server = server_factory(
        env={"IMAGE_SERVER_CORS_ORIGINS": f"{ORIGIN}, http://localhost:5678"}, workers=1
    )
    requests.post(server.url("/load-directory"), json={"path": str(frames)}, timeout=30)
    return server


def test_control_api_allows_only_configured_origins(cors_server):
    allowed = get(cors_server, "/", headers={"Origin": ORIGIN})
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in allowed.headers["Vary"]
    local = get(cors_server, "/timeout", headers={"Origin": "http://localhost:5678"})
    assert local.headers["Access-Control-Allow-Origin"] == "http://localhost:5678"

    refused = get(cors_server, "/", headers={"Origin": STRANGER})
    assert refused.status_code == 200  # CORS is enforced by the browser, not by a refusal
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Origin" not in get(cors_server, "/").headers


def test_control_preflight_names_methods_and_headers_for_configured_origins(cors_server):
    preflight = requests.options(
        cors_server.url("/load-directory"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers

    stranger = requests.options(
        cors_server.url("/load-directory"),
        headers={"Origin": STRANGER, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in stranger.headers
    assert "Access-Control-Allow-Methods" not in stranger.headers


def test_images_keep_allowing_any_origin_when_control_origins_are_set(cors_server):
    response = get(cors_server, "/images/frame_000000.jpg", headers={"Origin": STRANGER})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_control_api_sends_no_cors_header_by_default(api, frames):
    api.load(frames)
    assert "Access-Control-Allow-Origin" not in api.get("/", headers={"Origin": ORIGIN}).headers


@pytest.mark.parametrize("raw", ["*", "app.example.com", "https://app.example.com/path"])
def test_cors_origins_must_be_explicit_origins(raw):
    with pytest.raises(ConfigError, match="IMAGE_SERVER_CORS_ORIGINS"):
        Config.from_env({"IMAGE_SERVER_CORS_ORIGINS": raw}, env_file=None)


# --- Hidden paths ---------------------------------------------------------------------------


def test_hidden_paths_never_show_an_absolute_server_path(server_factory, tmp_path):
    base = tmp_path / "frames-base"
    folder = base / "recording-01"
    make_frames(folder, 3)
    server = server_factory(
        env={"IMAGE_SERVER_HIDE_PATHS": "true", "FRAME_BASE_DIR": str(base)}, workers=1
    )
    session = requests.Session()
    texts = []

    loaded = session.post(server.url("/load-directory"), json={"path": "recording-01"}, timeout=30)
    assert loaded.status_code == 200, loaded.text
    dir_id = loaded.json()["id"]
    assert loaded.json()["directory"] == dir_id
    texts.append(loaded.text)
    for path in ("/", "/api/directories", f"/api/directories/{dir_id}"):
        response = session.get(server.url(path), timeout=10)
        assert response.status_code == 200
        texts.append(response.text)
    texts.append(session.get(server.url(f"/api/directories/{dir_id}/images"), timeout=10).text)
    for body in ({"path": "missing"}, {"path": "recording-01/frame_000000.jpg"}):
        refused = session.post(server.url("/load-directory"), json=body, timeout=10)
        assert refused.status_code in (400, 404)
        assert refused.json()["detail"].endswith(body["path"])
        texts.append(refused.text)
    outside = session.post(server.url("/load-directory"), json={"path": "/etc"}, timeout=10)
    assert_detail(outside, 403, "Directory not allowed: /etc")

    for text in texts:
        assert str(tmp_path) not in text
        assert str(base) not in text


# --- Headers and start-up -------------------------------------------------------------------


def test_no_response_names_a_server_version(api, frames):
    loaded = api.load(frames)
    for path in ("/", "/healthz", "/nope", f"/d/{loaded['id']}/frame_000000.jpg"):
        server_header = api.get(path).headers.get("Server", "")
        assert not re.search(r"\d", server_header), (path, server_header)
        assert "python" not in server_header.lower()
        assert "werkzeug" not in server_header.lower()


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({"IMAGE_SERVER_HOST": "0.0.0.0"}, True),
        ({"IMAGE_SERVER_HOST": "::"}, True),
        ({"IMAGE_SERVER_HOST": "192.168.1.20"}, True),
        ({"IMAGE_SERVER_HOST": "127.0.0.1"}, False),
        ({"IMAGE_SERVER_HOST": "localhost"}, False),
        ({"IMAGE_SERVER_HOST": "::1"}, False),
        ({"IMAGE_SERVER_HOST": "0.0.0.0", "IMAGE_SERVER_TOKEN": "t"}, False),
        # Allowed roots confine loads but do not lock the API: still warned (issue 21).
        ({"IMAGE_SERVER_HOST": "0.0.0.0", "IMAGE_SERVER_ALLOWED_ROOTS": "/srv/frames"}, True),
        ({"IMAGE_SERVER_HOST": "0.0.0.0", "FRAME_BASE_DIR": "/srv/frames"}, True),
    ],
)
def test_exposure_warning_only_when_open_to_the_network(env, warned):
    warning = cli_serve.exposure_warning(Config.from_env(env, env_file=None))
    assert (warning is not None) == warned
    if warned:
        assert "IMAGE_SERVER_TOKEN" in warning
        assert "\n" not in warning  # one line
        roots = env.get("IMAGE_SERVER_ALLOWED_ROOTS") or env.get("FRAME_BASE_DIR")
        assert ("IMAGE_SERVER_ALLOWED_ROOTS" in warning) != bool(roots)


def test_server_start_prints_the_warning_loudly(monkeypatch, capsys, tmp_path):
    import imageserver.engines.granian_runner

    started = []
    monkeypatch.setattr(imageserver.engines.granian_runner, "run", started.append)
    monkeypatch.setenv("IMAGE_SERVER_ENV_FILE", "/dev/null")
    monkeypatch.setenv("IMAGE_SERVER_STATE_DIR", str(tmp_path / "state"))
    for name in ("IMAGE_SERVER_TOKEN", "IMAGE_SERVER_ALLOWED_ROOTS", "FRAME_BASE_DIR"):
        monkeypatch.delenv(name, raising=False)

    assert cli_serve.main(["--host", "0.0.0.0"]) == 0
    assert len(started) == 1
    err = capsys.readouterr().err
    assert "WARNING: listening on 0.0.0.0" in err
    assert len([line for line in err.splitlines() if "WARNING" in line]) == 1

    assert cli_serve.main(["--host", "127.0.0.1"]) == 0
    assert "WARNING" not in capsys.readouterr().err
