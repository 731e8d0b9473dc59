"""`load_folder_v2.py --preset/--variant` against the real server, run as a subprocess."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from tests.support.cli import run_cli
from tests.support.images import make_frame


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "frames"
    for i in range(3):
        make_frame(path / f"frame_{i:06d}.jpg", (800, 450), seed=i)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def start(server_factory, tmp_path: Path, **env: str):
    return server_factory(env={"IMAGE_SERVER_VARIANT_CACHE_DIR": str(tmp_path / "cache"), **env})


def cli(server, folder: Path, home: Path, *args: str):
    return run_cli(
        "--dir", folder, "--server", server.base_url, "--output", home / "out", "--quiet", *args,
        cwd=home,
    )  # fmt: skip


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_preset_and_variant_list_variant_urls_that_answer(server_factory, tmp_path, folder, home):
    server = start(server_factory, tmp_path)
    result = cli(server, folder, home, "--preset", "openai-low", "--variant", "format=webp")
    assert result.returncode == 0, result.stderr
    document = result.document()
    assert document["count"] == 3
    assert document["variant"] == {"preset": "openai-low", "format": "webp"}
    for url in document["image_urls"]:
        assert query_of(url) == {"preset": "openai-low", "format": "webp"}
        response = requests.get(url, timeout=30)
        assert response.headers["Content-Type"] == "image/webp"
        assert Image.open(io.BytesIO(response.content)).size == (512, 288)
        # The HEAD checks already made the variant: this GET is a cache hit.
        assert response.headers["X-Variant-Cache"] == "hit"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--variant", "size=3"), "unknown parameter 'size'"),
        (("--variant", "fit=cover"), "fit=cover needs both w and h"),
        (("--preset", "claude", "--variant", "preset=thumb"), "give the preset once"),
        (("--preset", "nope"), "invalid choice"),
    ],
)
def test_bad_variant_options_are_usage_errors(tmp_path, folder, home, args, message):
    result = run_cli("--dir", folder, "--server", "http://127.0.0.1:9", *args, cwd=home)
    assert result.returncode == 2
    assert message in result.stderr


def test_signed_servers_list_signed_variants_or_the_cli_says_why(
    server_factory, tmp_path, folder, home
):
    server = start(server_factory, tmp_path, IMAGE_SERVER_SIGNING_KEY="k" * 32)
    loaded = requests.post(server.url("/load-directory"), json={"path": str(folder)}, timeout=30)
    listing = requests.get(
        server.url(f"/api/directories/{loaded.json()['id']}/images?preset=thumb"), timeout=30
    )
    listing_signs_variants = "preset" in query_of(listing.json()["images"][0]["url"])

    result = cli(server, folder, home, "--preset", "thumb")
    if listing_signs_variants:
        assert result.returncode == 0, result.stderr
        for url in result.document()["image_urls"]:
            assert {"preset", "exp", "sig"} <= set(query_of(url))
            response = requests.get(url, timeout=30)
            assert Image.open(io.BytesIO(response.content)).size == (256, 144)
    else:
        # Only the server can sign; a listing that ignores the parameters cannot give them.
        assert result.returncode == 1
        assert "only the server can sign" in result.stderr
