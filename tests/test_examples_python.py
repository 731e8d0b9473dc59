"""The vendor examples in examples/python/, run as users run them, against a local stand-in.

Each script runs as a subprocess against the real server (the shared one) and the stand-in
of the vendor's API (tests/support/vendor_stub.py), which checks every request body against
the vendor's documented shape and every image against the vendor's limits. Frames are
2400x1350, larger than every preset, so each test also shows the preset at work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.environment import clean_env
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.server import PROJECT_ROOT
from tests.support.vendor_stub import VendorStub

EXAMPLES = PROJECT_ROOT / "examples" / "python"
FRAME_SIZE = (2400, 1350)
FRAME_COUNT = 2

# Script, vendor, the env var of its base URL, the path under the stand-in, its key.
VENDORS = {
    "voyage": ("voyage_embed.py", "VOYAGE_BASE_URL", "/v1", "VOYAGE_API_KEY"),
    "openai": ("openai_vision.py", "OPENAI_BASE_URL", "/v1", "OPENAI_API_KEY"),
    "anthropic": ("anthropic_vision.py", "ANTHROPIC_BASE_URL", "", "ANTHROPIC_API_KEY"),
    "cohere": ("cohere_embed.py", "COHERE_BASE_URL", "", "COHERE_API_KEY"),
}


@pytest.fixture
def stub() -> Iterator[VendorStub]:
    """A vendor stand-in for one test."""
    with VendorStub() as running:
        yield running


@pytest.fixture
def big_frames(tmp_path: Path) -> Path:
    """Two JPEG frames larger than every preset."""
    folder = tmp_path / "big"
    for name in make_frames(folder, FRAME_COUNT):
        make_image(folder / name, size=FRAME_SIZE)
    return folder


def run_example(vendor: str, args: list[str], api, stub: VendorStub, key: bool = True):
    """Run one vendor script; return the finished process (text output)."""
    script, base_var, prefix, key_var = VENDORS[vendor]
    env = clean_env(IMAGE_SERVER_URL=api.base_url, **{base_var: stub.base_url + prefix})
    env.pop(key_var, None)
    if key:
        env[key_var] = "test-key"
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def assert_clean_run(result, stub: VendorStub, vendor: str) -> list[dict]:
    assert result.returncode == 0, result.stderr
    assert stub.problems() == []
    assert len(stub.calls_to(vendor)) >= 1
    rows = records(result.stdout)
    assert [row["name"] for row in rows] == ["frame_000000.jpg", "frame_000001.jpg"]
    return rows


def test_voyage_embeds_each_frame_by_its_stable_url(api, stub, big_frames: Path) -> None:
    result = run_example("voyage", ["--dir", str(big_frames)], api, stub)
    rows = assert_clean_run(result, stub, "voyage")
    assert all(row["embedding"] and "/d/" in row["url"] for row in rows)
    assert {image.source for image in stub.images} == {"url"}
    # The voyage preset keeps the frame whole (under 16 MP): the model sees every pixel.
    assert {(image.width, image.height) for image in stub.images} == {FRAME_SIZE}
    body = stub.calls_to("voyage")[0].body
    assert body["input_type"] == "document"
    assert all("preset=voyage" in i["content"][0]["image_url"] for i in body["inputs"])


def test_voyage_inline_sends_base64_data_uris(api, stub, big_frames: Path) -> None:
    result = run_example("voyage", ["--dir", str(big_frames), "--inline"], api, stub)
    assert_clean_run(result, stub, "voyage")
    parts = [i["content"][0] for i in stub.calls_to("voyage")[0].body["inputs"]]
    assert {part["type"] for part in parts} == {"image_base64"}
    assert {image.source for image in stub.images} == {"data"}


@pytest.mark.parametrize(("detail", "long_side"), [("low", 512), ("high", 1365)])
def test_openai_gets_the_size_its_detail_level_looks_at(
    api, stub, big_frames: Path, detail: str, long_side: int
) -> None:
    result = run_example("openai", ["--dir", str(big_frames), "--detail", detail], api, stub)
    rows = assert_clean_run(result, stub, "openai")
    assert all(row["text"] for row in rows)
    assert {max(image.width, image.height) for image in stub.images} == {long_side}
    part = stub.calls_to("openai")[0].body["messages"][0]["content"][1]
    assert part["image_url"]["detail"] == detail


def test_anthropic_gets_claude_sized_url_sources(api, stub, big_frames: Path) -> None:
    result = run_example("anthropic", ["--dir", str(big_frames)], api, stub)
    assert_clean_run(result, stub, "anthropic")
    for image in stub.images:
        assert max(image.width, image.height) <= 1568
        assert image.width * image.height <= 1092 * 1092
    block = stub.calls_to("anthropic")[0].body["messages"][0]["content"][0]
    assert block["source"]["type"] == "url" and "preset=claude" in block["source"]["url"]


def test_anthropic_inline_sends_base64_sources(api, stub, big_frames: Path) -> None:
    result = run_example("anthropic", ["--dir", str(big_frames), "--inline"], api, stub)
    assert_clean_run(result, stub, "anthropic")
    source = stub.calls_to("anthropic")[0].body["messages"][0]["content"][0]["source"]
    assert source["type"] == "base64" and source["media_type"] == "image/jpeg"


def test_cohere_embeds_data_uris_one_per_call(api, stub, big_frames: Path) -> None:
    result = run_example("cohere", ["--dir", str(big_frames)], api, stub)
    rows = assert_clean_run(result, stub, "cohere")
    assert len(stub.calls_to("cohere")) == FRAME_COUNT
    assert all(row["embedding"] for row in rows)
    # The cohere preset brings a 3.2 MP frame under the 2,458,624 pixels Cohere keeps.
    assert all(image.width * image.height <= 2_458_624 for image in stub.images)
    assert {image.source for image in stub.images} == {"data"}


def test_an_already_loaded_folder_is_named_by_id(api, stub, big_frames: Path) -> None:
    dir_id = api.load(big_frames)["id"]
    result = run_example("cohere", ["--id", dir_id, "--limit", "1"], api, stub)
    assert result.returncode == 0, result.stderr
    assert [row["name"] for row in records(result.stdout)] == ["frame_000000.jpg"]


def test_dry_run_prints_the_bodies_and_sends_nothing(api, stub, big_frames: Path) -> None:
    result = run_example("openai", ["--dir", str(big_frames), "--dry-run"], api, stub, key=False)
    assert result.returncode == 0, result.stderr
    printed = records(result.stdout)
    assert [row["url"] for row in printed] == [stub.base_url + "/v1/chat/completions"] * 2
    assert stub.calls == []


def test_missing_key_is_one_clear_line(api, stub, big_frames: Path) -> None:
    result = run_example("voyage", ["--dir", str(big_frames)], api, stub, key=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: set VOYAGE_API_KEY (or pass --dry-run to print the request bodies)"
    ]


def test_server_errors_surface_with_their_detail(api, stub, tmp_path: Path) -> None:
    result = run_example("cohere", ["--dir", str(tmp_path / "missing")], api, stub)
    assert result.returncode == 1
    assert "404" in result.stderr and "Directory not found" in result.stderr


def test_a_locked_down_server_hands_out_signed_urls_the_vendor_can_fetch(
    server_factory, stub, big_frames: Path
) -> None:
    """The recommended public setup (token + signing key): the script sends the token and
    passes the signed variant URLs through untouched, and the vendor's fetch succeeds."""
    env = {"IMAGE_SERVER_TOKEN": "locked", "IMAGE_SERVER_SIGNING_KEY": "sign-me"}
    server = server_factory(env=env)
    script, base_var, prefix, key_var = VENDORS["anthropic"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--dir", str(big_frames)],
        env=clean_env(
            IMAGE_SERVER_URL=server.base_url,
            IMAGE_SERVER_TOKEN="locked",
            **{base_var: stub.base_url + prefix, key_var: "test-key"},
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clean_run(result, stub, "anthropic")
    urls = [image.url for image in stub.images]
    assert len(urls) == FRAME_COUNT and all("sig=" in url and "exp=" in url for url in urls)
