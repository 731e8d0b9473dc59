"""The control API over real HTTP: docs/API.md (conventions, status, loading, timeout), B.4,
and B.5's health check and robots.txt.

Every test talks to a real server (granian) (`api` is the shared one, reset before each test;
`server_factory` starts a dedicated one when a test needs its own environment).
"""

from __future__ import annotations

import http.client
import json
import re
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from tests.conftest import assert_detail
from tests.support.contract import NOTHING_LOADED
from tests.support.images import make_frames
from tests.support.images import make_image

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
REMAINING = re.compile(r"^(\d+)m (\d+)s$")
STATUS_KEYS = [
    "current_directory",
    "image_count",
    "image_list",
    "load_time",
    "timeout_minutes",
    "auto_unload_at",
    "time_remaining",
]
LOAD_KEYS = ["status", "directory", "image_count", "message", "timeout", "id", "url_prefix"]
TIMEOUT_SET_KEYS = ["status", "timeout_minutes", "timeout_enabled", "message"]
VALIDATION_ITEM_KEYS = ["type", "loc", "msg", "input"]
NOTHING_LOADED_BYTES = (
    b'{"current_directory":null,"image_count":0,"image_list":[],"load_time":null,'
    b'"timeout_minutes":null,"auto_unload_at":null,"time_remaining":null}'
)
NO_TIMEOUT = "No auto-unload timeout set"
DISABLED = (
    "Timeout disabled. Directory will remain loaded until manually unloaded or server is restarted."
)
UNLOADED = {"status": "success", "message": "Directory unloaded successfully"}
NOTHING_TO_UNLOAD = {"status": "info", "message": "No directory currently loaded"}
ONE_MIB = 1024 * 1024
# Slack for "now" on either side of a request: the server truncates to whole seconds.
CLOCK_SLACK = timedelta(seconds=10)


# --- helpers ---------------------------------------------------------------------------------


def json_body(response: requests.Response, status: int = 200) -> dict:
    """Assert status and JSON Content-Type, return the parsed body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].split(";")[0].strip() == "application/json"
    return response.json()


def assert_keys_start(body: dict, keys: list[str]) -> None:
    """The contract's keys come first, in order; extra keys may only follow them."""
    assert list(body.keys())[: len(keys)] == keys, list(body.keys())


def parse_local(text: str) -> datetime:
    """Parse a contract timestamp (local time, `%Y-%m-%d %H:%M:%S`)."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text), text
    return datetime.strptime(text, TIME_FORMAT)


def assert_around(text: str, expected: datetime, slack: timedelta = CLOCK_SLACK) -> None:
    """Assert a contract timestamp is within `slack` of `expected` (local time)."""
    stamp = parse_local(text)
    assert expected - slack <= stamp <= expected + slack, (text, expected)


def remaining_seconds(text: str) -> int:
    """Parse `"{M}m {S}s"` (minutes never roll over into hours)."""
    match = REMAINING.fullmatch(text)
    assert match, text
    minutes, seconds = int(match.group(1)), int(match.group(2))
    assert 0 <= seconds < 60, text
    return minutes * 60 + seconds


def assert_validation_list(response: requests.Response) -> list[dict]:
    """Assert a 422 with pydantic's error list (each item: type, loc, msg, input, in order)."""
    body = json_body(response, 422)
    assert list(body.keys()) == ["detail"]
    items = body["detail"]
    assert isinstance(items, list) and items, body
    for item in items:
        assert_keys_start(item, VALIDATION_ITEM_KEYS)
        assert isinstance(item["type"], str)
        assert isinstance(item["loc"], list)
        assert isinstance(item["msg"], str)
    return items


def locs(items: list[dict]) -> list[list]:
    return [item["loc"] for item in items]


def raw_post(base_url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """POST with exactly the given headers (no Content-Type unless given) via http.client."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        content_type = response.getheader("Content-Type", "")
        assert content_type.startswith("application/json"), content_type
        return response.status, json.loads(payload)
    finally:
        conn.close()


def status(api) -> dict:
    body = json_body(api.get("/"))
    assert_keys_start(body, STATUS_KEYS)
    return body


def directories(api) -> dict:
    return json_body(api.get("/api/directories"))


# --- A.0: every route ----------------------------------------------------------------------


def test_nothing_loaded_status_is_compact_json_in_contract_order(api):
    response = api.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == NOTHING_LOADED_BYTES
    assert list(response.json().keys()) == STATUS_KEYS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/does-not-exist"),
        ("POST", "/does-not-exist"),
        ("GET", "/api"),
        ("GET", "/api/unknown"),
        ("GET", "/load-directory/extra"),
        ("POST", "/timeout/5/extra"),
        ("GET", "/index.html"),
    ],
)
def test_unknown_path_is_json_not_found(api, method, path):
    response = api.session.request(method, api.url(path), timeout=10)
    assert_detail(response, 404, "Not Found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/load-directory", "POST"),
        ("PUT", "/unload", "POST"),
        ("GET", "/unload", "POST"),
        ("DELETE", "/timeout", "GET"),
        ("GET", "/timeout/5", "POST"),
        ("POST", "/", "GET"),
        ("POST", "/healthz", "GET"),
        ("PUT", "/api/directories", "GET"),
    ],
)
def test_wrong_method_is_json_method_not_allowed_with_allow_header(api, method, path, allowed):
    response = api.session.request(method, api.url(path), timeout=10)
    assert_detail(response, 405, "Method Not Allowed")
    allow = {part.strip().upper() for part in response.headers["Allow"].split(",")}
    assert allowed in allow
    assert method not in allow


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json; charset=iso-8859-1",
    ],
)
def test_load_accepts_json_content_type_with_any_charset(api, frames, content_type):
    body = f'{{"path": "{frames}"}}'.encode()
    response = api.post("/load-directory", data=body, headers={"Content-Type": content_type})
    loaded = json_body(response)
    assert loaded["directory"] == str(frames)
    assert loaded["image_count"] == 5


def test_load_accepts_body_without_content_type(api, frames):
    code, body = raw_post(
        api.base_url,
        "/load-directory",
        f'{{"path": "{frames}", "timeout_minutes": 3}}'.encode(),
        {"Accept": "*/*"},
    )
    assert code == 200, body
    assert body["directory"] == str(frames)
    assert body["image_count"] == 5
    assert status(api)["timeout_minutes"] == 3


def test_load_accepts_curl_default_form_type_when_body_is_json_object(api, frames):
    # `curl -d '{"path": ...}'` sends application/x-www-form-urlencoded.
    code, body = raw_post(
        api.base_url,
        "/load-directory",
        f'{{"path":"{frames}","timeout_minutes":"4"}}'.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "curl/8.5.0"},
    )
    assert code == 200, body
    assert body["directory"] == str(frames)
    assert status(api)["current_directory"] == str(frames)
    assert status(api)["timeout_minutes"] == 4


def test_timeout_post_with_curl_form_type_and_no_body_works(api):
    code, body = raw_post(
        api.base_url,
        "/timeout/6",
        b"",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert code == 200, body
    assert body["timeout_minutes"] == 6


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"path": '),
        ("application/json", b"{'path': '/tmp'}"),
        ("application/json", b"not json at all"),
        (None, b'{"path": "/tmp",}'),
        ("application/x-www-form-urlencoded", b"{path=/tmp"),
    ],
)
def test_invalid_json_body_is_validation_error_list(api, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.post("/load-directory", data=body, headers=headers)
    items = assert_validation_list(response)
    assert items[0]["type"] == "json_invalid"
    assert items[0]["loc"][0] == "body"
    assert status(api) == NOTHING_LOADED


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/json"}, {"Content-Type": "text/plain"}],
)
def test_missing_load_body_is_validation_error(api, headers):
    response = api.post("/load-directory", data=b"", headers=headers)
    items = assert_validation_list(response)
    assert items[0]["type"] == "missing"
    assert items[0]["loc"] == ["body"]


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"/tmp"', b"null", b"42", b'{"path": 5}', b'{"path": ["/tmp"]}', b'{"path": null}'],
)
def test_load_body_of_wrong_shape_is_validation_error(api, body):
    response = api.post("/load-directory", data=body, headers={"Content-Type": "application/json"})
    assert_validation_list(response)
    assert status(api) == NOTHING_LOADED


@pytest.mark.parametrize(
    "template",
    [
        '{"path": "a\\u0000b"}',
        '{"path": ""}',
        '{"path": "   "}',
        '{"path": "@", "timeout_minutes": 1e400}',
        '{"path": "@", "timeout_minutes": -1e400}',
        '{"path": "@", "timeout_minutes": 99999999999999999999999999}',
        '{"path": "@", "timeout_minutes": -99999999999999999999999999}',
        '{"path": "@", "recursive": "maybe"}',
        '{"path": "@", "timeout_minutes": NaN}',
    ],
)
def test_bad_load_input_is_never_a_500(api, frames, template):
    body = template.replace("@", str(frames)).encode()
    response = api.post("/load-directory", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    if response.status_code >= 400:
        assert list(response.json().keys()) == ["detail"]


def test_undecodable_body_is_a_json_client_error(api):
    response = api.post(
        "/load-directory", data=b"\xff\xfe\x00\x01", headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert list(response.json().keys()) == ["detail"]


@pytest.mark.parametrize("raw", ["99999999999999999999999999", "-99999999999999999999999999"])
def test_huge_timeout_minutes_is_never_a_500(api, frames, raw):
    response = api.post(f"/timeout/{raw}")
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    # Whatever default the server accepted, a plain load under it must not fail.
    response = api.post("/load-directory", json={"path": str(frames)})
    assert response.status_code < 500, (response.status_code, response.text)
    json_body(api.post("/timeout/0"))
    api.load(frames)
    # And with a directory current, re-arming it must not fail either.
    response = api.post(f"/timeout/{raw}")
    assert response.status_code < 500, (response.status_code, response.text)
    assert status(api)["current_directory"] == str(frames)


def test_request_body_over_one_mebibyte_is_413(api, frames):
    padding = " " * (ONE_MIB + 1 - len(f'{{"path": "{frames}"}}'))
    body = f'{{"path": "{frames}"{padding}}}'.encode()
    assert len(body) == ONE_MIB + 1
    url = api.url("/load-directory")
    response = requests.post(url, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("application/json")
    assert list(response.json().keys()) == ["detail"]
    assert isinstance(response.json()["detail"], str)
    assert status(api) == NOTHING_LOADED

    # Any route: the size alone decides, even where the body is not read.
    response = requests.post(api.url("/unload"), data=b"x" * (2 * ONE_MIB))
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert list(response.json().keys()) == ["detail"]


def test_keep_alive_connection_still_works_after_a_413(api, frames):
    # HTTP/1.1 framing: a server that answers before reading the body must either drain it or
    # close the connection; a client's next request on the same connection must not be lost.
    session = requests.Session()
    for _ in range(3):
        response = session.post(api.url("/unload"), data=b"x" * (2 * ONE_MIB), timeout=10)
        assert response.status_code == 413
        follow_up = session.get(api.url("/"), timeout=10)
        assert follow_up.status_code == 200
    session.close()


def test_request_body_of_exactly_one_mebibyte_is_accepted(api, frames):
    head = f'{{"path": "{frames}"'
    body = (head + " " * (ONE_MIB - len(head) - 1) + "}").encode()
    assert len(body) == ONE_MIB
    response = api.post("/load-directory", data=body, headers={"Content-Type": "application/json"})
    assert json_body(response)["image_count"] == 5


def test_chunked_request_body_over_one_mebibyte_is_413(api, frames):
    def chunks():
        yield f'{{"path": "{frames}"'.encode()
        for _ in range(40):
            yield b" " * 65536
        yield b"}"

    response = api.post(
        "/load-directory", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert status(api) == NOTHING_LOADED


def test_chunked_body_over_one_mebibyte_is_413_where_the_body_is_not_read(api, frames):
    # No Content-Length: the size is counted as the body arrives, on every route.
    api.load(frames)
    response = api.post("/unload", data=(b"x" * 65536 for _ in range(40)))
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert list(response.json()) == ["detail"]
    assert status(api)["current_directory"] == str(frames)  # nothing was done


def test_small_chunked_json_body_is_read_like_a_sized_one(api, frames):
    body = json.dumps({"path": str(frames), "timeout_minutes": "7"}).encode()
    response = api.post("/load-directory", data=(body[i : i + 7] for i in range(0, len(body), 7)))
    assert json_body(response)["image_count"] == 5
    assert status(api)["timeout_minutes"] == 7


# --- A.1: GET / ----------------------------------------------------------------------------


def test_status_after_load_lists_indexed_images_sorted_by_code_point(api, tmp_path):
    folder = tmp_path / "mixed"
    names = ["B.png", "a.png", "Z.jpg", "_x.png", "é.png", "10.png", "9.png", ".hidden.png"]
    for i, name in enumerate(names):
        make_image(folder / name, color=i)
    (folder / "notes.txt").write_text("not an image")
    (folder / "vector.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "album.png").mkdir()  # a folder with an image-like name is not an image
    make_image(folder / "sub" / "inner.png")  # sub-folders only count with "recursive"

    before = datetime.now()
    loaded = api.load(folder)
    assert loaded["image_count"] == len(names)

    body = status(api)
    assert body["current_directory"] == str(folder)
    assert body["image_list"] == sorted(names)
    assert body["image_list"] == [
        ".hidden.png",
        "10.png",
        "9.png",
        "B.png",
        "Z.jpg",
        "_x.png",
        "a.png",
        "é.png",
    ]
    assert body["image_count"] == len(names)
    assert isinstance(body["image_count"], int)
    assert_around(body["load_time"], before)
    assert body["timeout_minutes"] is None
    assert body["auto_unload_at"] is None
    assert body["time_remaining"] is None

    # The list comes from the index built at load time, not from a rescan per request.
    make_image(folder / "late.png")
    (folder / "a.png").unlink()
    again = status(api)
    assert again["image_list"] == body["image_list"]
    assert again["image_count"] == len(names)
    assert again["load_time"] == body["load_time"]


def test_status_shows_the_deadline_when_a_timeout_is_set(api, frames):
    before = datetime.now()
    loaded = api.load(frames, timeout_minutes=5)
    body = status(api)
    assert body["timeout_minutes"] == 5
    assert_around(body["auto_unload_at"], before + timedelta(minutes=5))
    left = remaining_seconds(body["time_remaining"])
    assert 5 * 60 - 15 <= left <= 5 * 60
    assert body["time_remaining"].startswith(("4m ", "5m "))
    assert loaded["timeout"] == (
        f"Directory will be automatically unloaded at {body['auto_unload_at']} (5 minutes)"
    )


def test_time_remaining_counts_minutes_never_hours(api, frames):
    api.load(frames, timeout_minutes=1440)
    body = status(api)
    assert body["timeout_minutes"] == 1440
    remaining = body["time_remaining"]
    assert REMAINING.fullmatch(remaining), remaining
    assert remaining.startswith(("1439m ", "1440m ")), remaining
    assert "h" not in remaining
    assert 1440 * 60 - 15 <= remaining_seconds(remaining) <= 1440 * 60


# --- A.2: POST /load-directory -------------------------------------------------------------


def test_load_success_body_has_contract_keys_and_messages(api, frames):
    response = api.post("/load-directory", json={"path": str(frames)})
    body = json_body(response)
    assert_keys_start(body, LOAD_KEYS)
    assert body["status"] == "success"
    assert body["directory"] == str(frames)
    assert body["image_count"] == 5
    assert body["message"] == f"Loaded 5 images from {frames}"
    assert body["timeout"] == NO_TIMEOUT
    assert isinstance(body["id"], str) and body["id"]
    prefix = body["url_prefix"]
    assert prefix.startswith(("http://", "https://")), prefix
    assert prefix.endswith("/"), prefix
    assert prefix.startswith(api.base_url + "/"), prefix
    assert body["id"] in prefix


def test_load_success_message_announces_the_deadline(api, frames):
    before = datetime.now()
    body = json_body(api.post("/load-directory", json={"path": str(frames), "timeout_minutes": 9}))
    assert_keys_start(body, LOAD_KEYS)
    match = re.fullmatch(
        r"Directory will be automatically unloaded at "
        r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \(9 minutes\)",
        body["timeout"],
    )
    assert match, body["timeout"]
    assert_around(match.group(1), before + timedelta(minutes=9))
    assert status(api)["auto_unload_at"] == match.group(1)


def test_load_accepts_directory_as_alias_of_path(api, frames):
    body = json_body(api.post("/load-directory", json={"directory": str(frames)}))
    assert body["directory"] == str(frames)
    assert body["image_count"] == 5
    assert status(api)["current_directory"] == str(frames)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (None, None)],
)
def test_load_timeout_minutes_accepts_int_numeric_string_and_null(api, frames, value, expected):
    body = json_body(
        api.post("/load-directory", json={"path": str(frames), "timeout_minutes": value})
    )
    state = status(api)
    assert state["timeout_minutes"] == expected
    if expected is None:
        assert body["timeout"] == NO_TIMEOUT
        assert state["auto_unload_at"] is None
    else:
        assert body["timeout"].endswith(f"({expected} minutes)")
        assert state["auto_unload_at"] is not None


@pytest.mark.parametrize("value", [1.5, "abc", "1.5", [7], {"m": 7}])
def test_load_timeout_minutes_that_is_not_an_integer_is_422(api, frames, value):
    response = api.post("/load-directory", json={"path": str(frames), "timeout_minutes": value})
    items = assert_validation_list(response)
    assert ["body", "timeout_minutes"] in locs(items)
    assert status(api) == NOTHING_LOADED


@pytest.mark.parametrize("body", [{}, {"timeout_minutes": 5}, {"dir": "/tmp"}])
def test_load_without_path_is_422_at_body_path(api, body):
    items = assert_validation_list(api.post("/load-directory", json=body))
    assert ["body", "path"] in locs(items)
    item = next(i for i in items if i["loc"] == ["body", "path"])
    assert item["type"] == "missing"


def test_relative_path_resolves_against_working_directory_without_frame_base_dir(api):
    # The shared server runs from the project root with no FRAME_BASE_DIR, whatever the shell
    # that runs pytest sets (tests/support/environment.py).
    project_root = Path(__file__).resolve().parents[1]
    body = json_body(api.post("/load-directory", json={"path": "tests/support/../support"}))
    assert body["directory"] == str(project_root / "tests" / "support")
    assert body["image_count"] == 0
    assert body["message"] == f"Loaded 0 images from {project_root / 'tests' / 'support'}"


def test_missing_directory_is_404_with_absolute_normalised_path(api, tmp_path):
    requested = f"{tmp_path}/a/../missing/"
    response = api.post("/load-directory", json={"path": requested})
    assert_detail(response, 404, f"Directory not found: {tmp_path / 'missing'}")
    assert status(api) == NOTHING_LOADED


def test_file_is_400_not_a_directory(api, frames):
    target = frames / "frame_000000.jpg"
    response = api.post("/load-directory", json={"path": str(target)})
    assert_detail(response, 400, f"Not a directory: {target}")
    text = frames / "notes.txt"
    text.write_text("hello")
    assert_detail(
        api.post("/load-directory", json={"path": str(text)}), 400, f"Not a directory: {text}"
    )
    assert status(api) == NOTHING_LOADED


def test_non_image_files_are_not_counted(api, tmp_path):
    folder = tmp_path / "few"
    make_frames(folder, 2)
    (folder / "readme.txt").write_text("x")
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (folder / "data.json").write_text("{}")
    (folder / "noext").write_bytes(b"\xff\xd8\xff")
    body = api.load(folder)
    assert body["image_count"] == 2
    assert body["message"] == f"Loaded 2 images from {folder}"
    assert status(api)["image_list"] == ["frame_000000.jpg", "frame_000001.jpg"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"timeout_minutes": 5}, 5),
        ({"timeout_minutes": "5"}, 5),
        ({"timeout_minutes": 0}, None),
        ({"timeout_minutes": -3}, None),
        ({"timeout_minutes": "-3"}, None),
        ({"timeout_minutes": None}, 30),
        ({}, 30),
    ],
)
def test_effective_timeout_is_body_value_else_server_default(api, frames, extra, expected):
    json_body(api.post("/timeout/30"))
    before = datetime.now()
    body = json_body(api.post("/load-directory", json={"path": str(frames), **extra}))
    state = status(api)
    assert state["timeout_minutes"] == expected
    if expected is None:
        assert body["timeout"] == NO_TIMEOUT
        assert state["auto_unload_at"] is None
        assert state["time_remaining"] is None
    else:
        assert body["timeout"] == (
            f"Directory will be automatically unloaded at {state['auto_unload_at']} "
            f"({expected} minutes)"
        )
        assert_around(state["auto_unload_at"], before + timedelta(minutes=expected))
    # The default itself is untouched by a load.
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 30, "timeout_enabled": True}


def test_loading_the_loaded_directory_again_reindexes_and_rearms(api, frames):
    first = api.load(frames, timeout_minutes=5)
    assert first["image_count"] == 5
    make_image(frames / "frame_000005.jpg", color=5)
    (frames / "frame_000000.jpg").unlink()
    make_image(frames / "extra.png", color=6)

    before = datetime.now()
    response = api.post("/load-directory", json={"path": str(frames), "timeout_minutes": 20})
    second = json_body(response)
    assert second["status"] == "success"
    assert second["image_count"] == 6
    assert second["message"] == f"Loaded 6 images from {frames}"
    assert second["id"] == first["id"]
    assert second["url_prefix"] == first["url_prefix"]

    state = status(api)
    assert state["image_count"] == 6
    assert "frame_000005.jpg" in state["image_list"]
    assert "extra.png" in state["image_list"]
    assert "frame_000000.jpg" not in state["image_list"]
    assert state["timeout_minutes"] == 20
    assert_around(state["auto_unload_at"], before + timedelta(minutes=20))
    # Still one loaded directory, not two.
    listing = directories(api)
    assert [d["id"] for d in listing["directories"]] == [first["id"]]


def test_loading_another_directory_makes_it_current(api, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    make_frames(one, 2)
    make_frames(two, 3, prefix="shot_", ext=".png")
    api.load(one)
    api.load(two)
    state = status(api)
    assert state["current_directory"] == str(two)
    assert state["image_list"] == ["shot_000000.png", "shot_000001.png", "shot_000002.png"]


# --- A.4: POST /unload ---------------------------------------------------------------------


def test_unload_unloads_only_the_current_directory(api, tmp_path):
    other, current = tmp_path / "other", tmp_path / "current"
    make_frames(other, 2)
    make_frames(current, 3)
    other_id = api.load(other)["id"]
    current_id = api.load(current)["id"]

    response = api.post("/unload")
    body = json_body(response)
    assert body == UNLOADED
    assert list(body.keys()) == ["status", "message"]
    assert status(api) == NOTHING_LOADED
    assert api.get("/").content == NOTHING_LOADED_BYTES

    listing = directories(api)
    ids = [d["id"] for d in listing["directories"]]
    assert other_id in ids
    assert current_id not in ids
    assert listing["current"] is None
    # The other directory still serves its stable URLs.
    other_url = api.get(f"/api/directories/{other_id}")
    assert json_body(other_url)["directory"] == str(other)

    again = json_body(api.post("/unload"))
    assert again == NOTHING_TO_UNLOAD
    assert list(again.keys()) == ["status", "message"]
    assert other_id in [d["id"] for d in directories(api)["directories"]]


def test_unload_with_nothing_loaded_is_info(api):
    body = json_body(api.post("/unload"))
    assert body == NOTHING_TO_UNLOAD
    assert list(body.keys()) == ["status", "message"]


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"", {"Content-Type": "application/json"}),
        (b"{}", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/x-www-form-urlencoded"}),
    ],
)
def test_unload_needs_no_body_whatever_the_content_type(api, frames, data, headers):
    api.load(frames)
    assert json_body(api.post("/unload", data=data, headers=headers)) == UNLOADED
    assert status(api) == NOTHING_LOADED


# --- A.5: GET /timeout and POST /timeout/<m> -----------------------------------------------


def test_get_timeout_reports_the_server_default(api):
    off = json_body(api.get("/timeout"))
    assert off == {"timeout_minutes": 0, "timeout_enabled": False}
    assert list(off.keys()) == ["timeout_minutes", "timeout_enabled"]

    json_body(api.post("/timeout/15"))
    on = json_body(api.get("/timeout"))
    assert on == {"timeout_minutes": 15, "timeout_enabled": True}
    assert list(on.keys()) == ["timeout_minutes", "timeout_enabled"]


def test_set_timeout_with_nothing_current_applies_to_next_load(api, frames):
    body = json_body(api.post("/timeout/7"))
    assert body == {
        "status": "success",
        "timeout_minutes": 7,
        "timeout_enabled": True,
        "message": "Timeout set to 7 minutes. Will apply to next loaded directory.",
    }
    assert_keys_start(body, TIMEOUT_SET_KEYS)
    assert status(api) == NOTHING_LOADED
    api.load(frames)
    assert status(api)["timeout_minutes"] == 7


def test_set_timeout_zero_with_nothing_current_says_it_applies_to_next_load(api):
    # The first version's wording for every `m` while nothing is current, 0 included (A.5).
    body = json_body(api.post("/timeout/0"))
    assert body == {
        "status": "success",
        "timeout_minutes": 0,
        "timeout_enabled": False,
        "message": "Timeout set to 0 minutes. Will apply to next loaded directory.",
    }
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 0, "timeout_enabled": False}


def test_set_timeout_parses_leading_zeros(api):
    body = json_body(api.post("/timeout/007"))
    assert body["timeout_minutes"] == 7
    assert body["timeout_enabled"] is True
    assert body["message"] == "Timeout set to 7 minutes. Will apply to next loaded directory."
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 7, "timeout_enabled": True}


@pytest.mark.parametrize("raw", ["abc", "1.5", "7m", "0x10", "%20"])
def test_set_timeout_with_non_integer_minutes_is_422_at_path_minutes(api, raw):
    items = assert_validation_list(api.post(f"/timeout/{raw}"))
    assert locs(items) == [["path", "minutes"]]
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 0, "timeout_enabled": False}


@pytest.mark.parametrize("raw", ["-5", "-1"])
def test_set_timeout_negative_is_400(api, raw):
    response = api.post(f"/timeout/{raw}")
    assert_detail(response, 400, "Timeout minutes must be >= 0 (0 = disabled)")
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 0, "timeout_enabled": False}


def test_set_timeout_rearms_only_the_current_directory(api, tmp_path):
    other, current = tmp_path / "other", tmp_path / "current"
    make_frames(other, 1)
    make_frames(current, 2)
    other_id = api.load(other)["id"]
    current_id = api.load(current, timeout_minutes=60)["id"]

    before = datetime.now()
    body = json_body(api.post("/timeout/3"))
    assert_keys_start(body, TIMEOUT_SET_KEYS)
    assert body["status"] == "success"
    assert body["timeout_minutes"] == 3
    assert body["timeout_enabled"] is True
    match = re.fullmatch(
        r"Timeout set to 3 minutes\. Directory will be unloaded at "
        r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})",
        body["message"],
    )
    assert match, body["message"]
    assert_around(match.group(1), before + timedelta(minutes=3))

    state = status(api)
    assert state["current_directory"] == str(current)
    assert state["timeout_minutes"] == 3
    assert state["auto_unload_at"] == match.group(1)
    assert 3 * 60 - 15 <= remaining_seconds(state["time_remaining"]) <= 3 * 60

    by_id = {d["id"]: d for d in directories(api)["directories"]}
    assert by_id[current_id]["timeout_minutes"] == 3
    assert by_id[other_id]["timeout_minutes"] is None
    assert by_id[other_id]["auto_unload_at"] is None
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 3, "timeout_enabled": True}


def test_set_timeout_arms_a_current_directory_that_had_none(api, frames):
    api.load(frames)
    assert status(api)["auto_unload_at"] is None
    before = datetime.now()
    json_body(api.post("/timeout/2"))
    state = status(api)
    assert state["timeout_minutes"] == 2
    assert_around(state["auto_unload_at"], before + timedelta(minutes=2))
    assert state["time_remaining"].startswith(("1m ", "2m "))


def test_set_timeout_zero_cancels_the_current_deadline(api, frames):
    api.load(frames, timeout_minutes=5)
    assert status(api)["auto_unload_at"] is not None

    body = json_body(api.post("/timeout/0"))
    assert body == {
        "status": "success",
        "timeout_minutes": 0,
        "timeout_enabled": False,
        "message": DISABLED,
    }
    assert_keys_start(body, TIMEOUT_SET_KEYS)

    state = status(api)
    assert state["current_directory"] == str(frames)
    assert state["timeout_minutes"] is None
    assert state["auto_unload_at"] is None
    assert state["time_remaining"] is None
    assert json_body(api.get("/timeout")) == {"timeout_minutes": 0, "timeout_enabled": False}

    # With the default off, a later load without timeout_minutes has no deadline.
    reloaded = api.load(frames)
    assert reloaded["timeout"] == NO_TIMEOUT


# --- B.4: bearer token ---------------------------------------------------------------------


def test_token_guards_every_control_route_but_not_healthz(server_factory, frames):
    server = server_factory(env={"IMAGE_SERVER_TOKEN": "s3cret"}, workers=1)
    session = requests.Session()
    good = {"Authorization": "Bearer s3cret"}
    bad_headers = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer s3cret-and-more"},
        {"Authorization": "Bearer "},
        {"Authorization": "s3cret"},
        {"Authorization": "Basic s3cret"},
    ]
    calls = [
        ("GET", "/", None),
        ("POST", "/load-directory", {"path": str(frames)}),
        ("POST", "/unload", None),
        ("GET", "/timeout", None),
        ("POST", "/timeout/5", None),
        ("GET", "/api/directories", None),
    ]

    def call(method, path, body, headers):
        return session.request(method, server.url(path), json=body, headers=headers, timeout=10)

    for method, path, body in calls:
        for headers in bad_headers:
            response = call(method, path, body, headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["Content-Type"].startswith("application/json")
            assert list(response.json().keys()) == ["detail"]

    # Nothing the refused calls asked for happened.
    state = json_body(call("GET", "/", None, good))
    assert state == NOTHING_LOADED
    assert json_body(call("GET", "/timeout", None, good)) == {
        "timeout_minutes": 0,
        "timeout_enabled": False,
    }

    loaded = json_body(call("POST", "/load-directory", {"path": str(frames)}, good))
    assert loaded["image_count"] == 5
    assert json_body(call("GET", "/", None, good))["current_directory"] == str(frames)
    assert json_body(call("POST", "/timeout/5", None, good))["timeout_minutes"] == 5
    assert json_body(call("GET", "/timeout", None, good))["timeout_minutes"] == 5
    listing = json_body(call("GET", "/api/directories", None, good))
    assert [d["id"] for d in listing["directories"]] == [loaded["id"]]
    dir_path = f"/api/directories/{loaded['id']}"
    assert call("GET", dir_path, None, {}).status_code == 401
    assert json_body(call("GET", dir_path, None, good))["id"] == loaded["id"]
    assert json_body(call("POST", "/unload", None, good)) == UNLOADED

    health = session.get(server.url("/healthz"), timeout=10)
    assert json_body(health) == {"status": "ok"}
    session.close()


# --- B.4: allowed roots --------------------------------------------------------------------


def test_allowed_roots_refuse_directories_outside_before_checking_existence(
    server_factory, tmp_path
):
    root_a, root_b = tmp_path / "root-a", tmp_path / "root-b"
    inside_a, inside_b = root_a / "rec", root_b / "rec"
    make_frames(inside_a, 2)
    make_frames(inside_b, 3)
    outside = tmp_path / "outside"
    make_frames(outside, 1)
    sibling = tmp_path / "root-a-evil"  # shares the root's name as a prefix
    make_frames(sibling, 1)
    link = root_a / "escape"
    link.symlink_to(outside, target_is_directory=True)
    inner_link = root_a / "alias"
    inner_link.symlink_to(inside_a, target_is_directory=True)
    outside_file = outside / "frame_000000.jpg"

    server = server_factory(
        env={"IMAGE_SERVER_ALLOWED_ROOTS": f"{root_a}:{root_b}"},
        workers=1,
    )
    session = requests.Session()

    def load(path):
        return session.post(server.url("/load-directory"), json={"path": str(path)}, timeout=10)

    for refused, shown in [
        (outside, outside),
        (tmp_path / "missing-outside", tmp_path / "missing-outside"),
        (sibling, sibling),
        (f"{root_a}/../outside", outside),
        (link, link),
        (outside_file, outside_file),
        ("/etc", "/etc"),
    ]:
        assert_detail(load(refused), 403, f"Directory not allowed: {shown}")

    assert json_body(session.get(server.url("/"), timeout=10)) == NOTHING_LOADED

    assert json_body(load(inside_a))["image_count"] == 2
    assert json_body(load(inside_b))["image_count"] == 3
    assert json_body(load(root_a))["directory"] == str(root_a)
    assert json_body(load(inner_link))["image_count"] == 2
    assert_detail(load(root_a / "missing"), 404, f"Directory not found: {root_a / 'missing'}")
    not_dir = inside_a / "frame_000000.jpg"
    assert_detail(load(not_dir), 400, f"Not a directory: {not_dir}")
    session.close()


def test_frame_base_dir_resolves_relative_paths_expands_home_and_bounds_loads(
    server_factory, tmp_path
):
    base = tmp_path / "frames-base"
    home = base / "home"
    make_frames(base / "rec1", 3)
    make_frames(home / "pics", 2, prefix="pic_", ext=".png")
    outside = tmp_path / "outside"
    make_frames(outside, 1)
    (base / "escape").symlink_to(outside, target_is_directory=True)

    server = server_factory(
        env={"FRAME_BASE_DIR": str(base), "HOME": str(home)},
        workers=1,
    )
    session = requests.Session()

    def load(path):
        return session.post(server.url("/load-directory"), json={"path": path}, timeout=10)

    # A relative path resolves against FRAME_BASE_DIR, then is normalised.
    first = json_body(load("rec1"))
    assert first["directory"] == str(base / "rec1")
    assert first["image_count"] == 3
    assert first["message"] == f"Loaded 3 images from {base / 'rec1'}"
    for variant in ["./rec1/", "home/../rec1", "rec1//"]:
        body = json_body(load(variant))
        assert body["directory"] == str(base / "rec1"), variant
        assert body["id"] == first["id"], variant
    state = json_body(session.get(server.url("/"), timeout=10))
    assert state["current_directory"] == str(base / "rec1")

    # `~` is the server's HOME.
    pics = json_body(load("~/pics"))
    assert pics["directory"] == str(home / "pics")
    assert pics["image_count"] == 2
    assert json_body(load("~"))["directory"] == str(home)

    # A relative path that does not exist is reported with its absolute path.
    assert_detail(load("nope"), 404, f"Directory not found: {base / 'nope'}")

    # FRAME_BASE_DIR alone is the allowed root.
    assert_detail(load(str(outside)), 403, f"Directory not allowed: {outside}")
    missing = tmp_path / "missing-outside"
    assert_detail(load(str(missing)), 403, f"Directory not allowed: {missing}")
    assert_detail(load("../outside"), 403, f"Directory not allowed: {outside}")
    assert_detail(load("escape"), 403, f"Directory not allowed: {base / 'escape'}")
    assert json_body(load(str(base)))["directory"] == str(base)
    session.close()


# --- B.5: health check and robots.txt ------------------------------------------------------


def test_healthz_answers_ok(api):
    response = api.get("/healthz")
    body = json_body(response)
    assert body == {"status": "ok"}
    assert response.content == b'{"status":"ok"}'


def test_robots_txt_allows_everything(api):
    response = api.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    lines = [line.strip() for line in response.text.splitlines()]
    assert "User-agent: *" in lines
    for line in lines:
        if line.lower().startswith("disallow:"):
            assert line.split(":", 1)[1].strip() == "", line
