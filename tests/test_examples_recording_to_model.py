"""examples/pipeline/recording_to_model.py, run as a subprocess against the real server (#23).

A synthetic screen recording (tests/support/recording.py: screens that change at known
points, a moving cursor and a ticking clock that are not changes) is cut by the server, the
unique frames are grouped into contact sheets, and each sheet URL goes to the OpenAI
stand-in (tests/support/vendor_stub.py), which fetches it like the vendor would.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.conftest import Api
from tests.support import recording
from tests.support.environment import clean_env
from tests.support.server import PROJECT_ROOT
from tests.support.vendor_stub import VendorStub

SCRIPT = PROJECT_ROOT / "examples" / "pipeline" / "recording_to_model.py"
SECONDS = 24.0


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> recording.Recording:
    """24 s at 5 fps: a few screen changes, full and partial."""
    folder = tmp_path_factory.mktemp("recording-to-model")
    rec = recording.make_recording(
        folder / "talk.mp4", seconds=SECONDS, fps=5, size=(640, 360), seed=21
    )
    assert len(rec.change_points) >= 3 and "partial" in rec.kinds
    return rec


@pytest.fixture
def stub() -> Iterator[VendorStub]:
    with VendorStub() as running:
        yield running


def run_script(
    api, stub: VendorStub, out: Path, *args: str, key: bool = True, token: str | None = None
):
    env = clean_env(IMAGE_SERVER_URL=api.base_url, OPENAI_BASE_URL=stub.base_url + "/v1")
    if token:
        env["IMAGE_SERVER_TOKEN"] = token
    env.pop("OPENAI_API_KEY", None)
    if key:
        env["OPENAI_API_KEY"] = "test-key"
    command = [sys.executable, str(SCRIPT), *args, "--out", str(out)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def read_result(result, out: Path) -> dict:
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    return json.loads(out.read_text(encoding="utf-8"))


def all_frames(api, dir_id: str) -> list[dict]:
    response = api.get(f"/api/directories/{dir_id}/images", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["images"]


def assert_sheets_decode(api, sheets: list[dict]) -> None:
    for sheet in sheets:
        response = api.session.get(sheet["sheet_url"], timeout=30)
        assert response.status_code == 200, response.text
        with Image.open(io.BytesIO(response.content)) as image:
            image.load()
            assert image.format == "JPEG" and max(image.size) <= 1568  # the claude preset


@pytest.mark.parametrize("per_sheet", [2, 9])
def test_unique_frames_go_to_the_model_one_sheet_per_n(
    api, stub, video, tmp_path: Path, per_sheet: int
) -> None:
    out = tmp_path / "model.json"
    args = [str(video.path), "--fps", "1"]
    if per_sheet != 9:
        args += ["--per-sheet", str(per_sheet)]  # 9 is the default
    result = read_result(run_script(api, stub, out, *args), out)

    everything = all_frames(api, result["id"])
    assert result["frames_total"] == len(everything) == int(SECONDS)
    kept = [frame for sheet in result["sheets"] for frame in sheet["frames"]]
    assert len(kept) == result["frames_kept"] < len(everything)
    # Every screen of the recording is kept, once: the cursor and the clock are not changes.
    scenes = [video.scene_at(frame["t"]) for frame in kept]
    assert scenes == list(range(len(video.change_points) + 1))
    assert [frame["t"] for frame in kept] == [0.0, *(math.ceil(c) for c in video.change_points)]
    assert all(frame["width"] == 640 and frame["height"] == 360 for frame in kept)

    sheets = result["sheets"]
    assert len(sheets) == math.ceil(len(kept) / per_sheet)  # 5 screens: 3 sheets of 2, or 1
    assert all(len(sheet["frames"]) == per_sheet for sheet in sheets[:-1])
    for sheet in sheets:
        names = ",".join(frame["name"] for frame in sheet["frames"])
        assert sheet["sheet_url"] == (
            f"{api.base_url}/d/{result['id']}/sheet?names={names}&preset=claude"
        )
        assert sheet["answer"] == "A frame of a screen recording."
    assert_sheets_decode(api, sheets)

    # The stand-in received exactly those sheet URLs, one request each, in order.
    assert stub.problems() == []
    calls = stub.calls_to("openai")
    sent = [call.body["messages"][0]["content"][1]["image_url"]["url"] for call in calls]
    assert sent == [sheet["sheet_url"] for sheet in sheets]
    assert [image.url for image in stub.images] == sent


def test_scene_mode_and_dry_run_ask_no_model(api, stub, video, tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    result = run_script(api, stub, out, str(video.path), "--scene", "0.3", "--dry-run", key=False)
    result = read_result(result, out)
    assert result["id"].startswith("talk-scene")
    kept = [frame for sheet in result["sheets"] for frame in sheet["frames"]]
    assert {video.scene_at(frame["t"]) for frame in kept} == set(
        range(len(video.change_points) + 1)
    )
    assert len(result["sheets"]) == math.ceil(len(kept) / 9)
    assert all(sheet["answer"] is None for sheet in result["sheets"])
    assert stub.calls == []
    assert_sheets_decode(api, result["sheets"])


def test_a_missing_key_or_video_is_one_clear_error(api, stub, video, tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    result = run_script(api, stub, out, str(video.path), key=False)
    assert result.returncode == 1
    assert result.stderr == "error: set OPENAI_API_KEY (or pass --dry-run)\n"
    missing = tmp_path / "gone.mp4"
    result = run_script(api, stub, out, str(missing), "--dry-run")
    assert result.returncode == 1
    assert result.stderr.startswith("error: POST ") and "404" in result.stderr
    assert not out.exists()


def test_a_server_that_signs_urls_gets_signed_sheet_urls(
    server_factory, stub, video, tmp_path: Path
) -> None:
    """With IMAGE_SERVER_SIGNING_KEY the script's sheet URLs are signed by the server."""
    env = {"IMAGE_SERVER_SIGNING_KEY": "pipeline-key", "IMAGE_SERVER_TOKEN": "pipeline-token"}
    api = Api(server_factory(env=env))
    out = tmp_path / "model.json"
    ran = run_script(api, stub, out, str(video.path), "--per-sheet", "2", token="pipeline-token")
    result = read_result(ran, out)
    sheets = result["sheets"]
    assert len(sheets) >= 2
    for sheet in sheets:
        url = urlsplit(sheet["sheet_url"])
        query = parse_qs(url.query)
        assert url.path == f"/d/{result['id']}/sheet"
        assert query["names"] == [",".join(frame["name"] for frame in sheet["frames"])]
        assert query["preset"] == ["claude"] and "exp" in query and "sig" in query
        assert all("sig=" in frame["url"] for frame in sheet["frames"])
        unsigned = f"{url.scheme}://{url.netloc}{url.path}?" + urlencode(
            {"names": query["names"][0], "preset": "claude"}
        )
        assert api.session.get(unsigned, timeout=30).status_code == 403  # signing is on
    assert_sheets_decode(api, sheets)
    # The model's stand-in fetched each signed sheet itself, as the vendor would.
    assert stub.problems() == []
    sent = [
        call.body["messages"][0]["content"][1]["image_url"]["url"]
        for call in stub.calls_to("openai")
    ]
    assert sent == [sheet["sheet_url"] for sheet in sheets]
    assert [image.url for image in stub.images] == sent
