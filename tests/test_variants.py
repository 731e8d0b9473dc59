"""Image variants over real HTTP (issue: variants for model APIs).

One real server (2 workers) for the module, with its variant cache in a temporary folder
and `IMAGE_SERVER_MAX_PIXELS=30000000`; real images made with Pillow: a 6000x4000 JPEG, a
1920x1080 frame, EXIF-rotated photos, PNG with alpha, an animated GIF, HEIC and AVIF when the
plugins are here, and decompression bombs.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from PIL import Image
from PIL import features

from tests.conftest import assert_detail
from tests.support.images import make_frame
from tests.support.images import make_noise
from tests.support.parts import missing_part
from tests.support.server import ServerProcess

MAX_PIXELS = 30_000_000
ORIENTATION = 0x0112
RED, BLUE = (220, 20, 20), (20, 20, 220)


# --- images --------------------------------------------------------------------------------


def make_rotated(path: Path, orientation: int = 6) -> Path:
    """A 200x100 JPEG, left half red and right half blue, tagged to be shown rotated."""
    image = Image.new("RGB", (200, 100), RED)
    image.paste(BLUE, (100, 0, 200, 100))
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"  # Make: metadata that must not survive
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95, exif=exif.tobytes())
    return path


def make_animated_gif(path: Path) -> Path:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (64, 48), colour) for colour in colours]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def make_png_bomb(path: Path, width: int, height: int) -> Path:
    """A real 1-bit PNG of zeros: a few KB on disk, width x height pixels once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    block = row * 500
    data = b"".join(compressor.compress(block) for _ in range(height // 500))
    data += compressor.compress(row * (height % 500)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


def decoded(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# --- server --------------------------------------------------------------------------------


class VariantServer:
    """The module's server and a few helpers around it."""

    def __init__(self, process: ServerProcess, cache_dir: Path) -> None:
        self.process = process
        self.cache_dir = cache_dir
        self.session = requests.Session()

    def load(self, folder: Path) -> str:
        response = self.session.post(
            self.process.url("/load-directory"), json={"path": str(folder)}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def get(self, dir_id: str, name: str, query: str = "", **kwargs) -> requests.Response:
        url = self.process.url(f"/d/{dir_id}/{quote(name)}") + (f"?{query}" if query else "")
        return self.session.get(url, timeout=60, **kwargs)

    def cached_files(self) -> list[Path]:
        return [p for p in self.cache_dir.glob("??/*") if p.is_file()]


@pytest.fixture(scope="module")
def vs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VariantServer]:
    root = tmp_path_factory.mktemp("variant-server")
    cache_dir = root / "cache"
    env = {
        "IMAGE_SERVER_VARIANT_CACHE_DIR": str(cache_dir),
        "IMAGE_SERVER_MAX_PIXELS": str(MAX_PIXELS),
    }
    process = ServerProcess(root / "state", env=env).start()
    yield VariantServer(process, cache_dir)
    process.stop()


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_frame(tmp_path_factory.mktemp("big") / "big.jpg", (6000, 4000))


# --- the original stays the original ---------------------------------------------------------


def test_without_transform_parameters_the_original_is_sent_byte_for_byte(vs, tmp_path):
    folder = tmp_path / "f"
    source = make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    cached_before = len(vs.cached_files())
    for query in ("", "v=3", "cachebuster=x&another=1"):
        response = vs.get(dir_id, "frame.jpg", query)
        assert response.status_code == 200
        assert response.content == source.read_bytes()
        assert response.headers["Content-Type"] == "image/jpeg"
        assert "X-Variant-Cache" not in response.headers
    assert len(vs.cached_files()) == cached_before


# --- sizes and formats ----------------------------------------------------------------------


def test_max_bounds_the_long_side_of_a_6000x4000_jpeg(vs, big_jpeg):
    dir_id = vs.load(big_jpeg.parent)
    image = decoded(vs.get(dir_id, "big.jpg", "max=1024"))
    assert image.size == (1024, 682)
    assert image.format == "JPEG"
    tall = decoded(vs.get(dir_id, "big.jpg", "h=512"))
    assert tall.size == (768, 512)


def test_images_are_never_upscaled(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "small.jpg", (320, 200))
    dir_id = vs.load(folder)
    assert decoded(vs.get(dir_id, "small.jpg", "max=4096")).size == (320, 200)
    assert decoded(vs.get(dir_id, "small.jpg", "w=1024&h=1024&fit=cover")).size == (200, 200)


def test_contain_fits_inside_the_box_and_cover_fills_it(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    assert decoded(vs.get(dir_id, "frame.jpg", "w=512&h=512")).size == (512, 288)
    assert decoded(vs.get(dir_id, "frame.jpg", "w=512&h=512&fit=contain")).size == (512, 288)
    assert decoded(vs.get(dir_id, "frame.jpg", "w=512&h=512&fit=cover")).size == (512, 512)
    assert decoded(vs.get(dir_id, "frame.jpg", "w=256")).size == (256, 144)


@pytest.mark.parametrize(
    ("fmt", "pil_format", "media_type"),
    [("jpeg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp")],
)
def test_format_sets_the_encoding_and_the_content_type(vs, tmp_path, fmt, pil_format, media_type):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "frame.jpg", f"max=512&format={fmt}")
    assert response.headers["Content-Type"] == media_type
    assert decoded(response).format == pil_format
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_exif_orientation_is_applied_and_metadata_stripped(vs, tmp_path):
    folder = tmp_path / "f"
    source = make_rotated(folder / "photo.jpg", orientation=6)
    with Image.open(source) as original:
        assert original.size == (200, 100)
        assert original.getexif()[0x010F] == "TestCam"
    dir_id = vs.load(folder)
    image = decoded(vs.get(dir_id, "photo.jpg", "max=256"))
    # Orientation 6: shown rotated 90 degrees clockwise, so the left (red) half is on top.
    assert image.size == (100, 200)
    top, bottom = image.getpixel((50, 40)), image.getpixel((50, 160))
    assert top[0] > 150 and top[2] < 100, top
    assert bottom[2] > 150 and bottom[0] < 100, bottom
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info


def test_png_with_alpha_becomes_jpeg_on_white(vs, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    image = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 150, 200))
    image.save(folder / "logo.png")
    dir_id = vs.load(folder)
    same_format = decoded(vs.get(dir_id, "logo.png", "max=256"))
    assert same_format.format == "PNG" and same_format.mode == "RGBA"
    jpeg = decoded(vs.get(dir_id, "logo.png", "max=256&format=jpeg"))
    assert jpeg.format == "JPEG" and jpeg.size == (256, 170)
    assert jpeg.getpixel((200, 85)) >= (245, 245, 245)  # transparent: white, not black
    red = jpeg.getpixel((40, 85))
    assert red[0] > 230 and red[1] < 30


def test_avif_is_decoded_and_converted_to_jpeg(vs, tmp_path):
    if not features.check("avif"):
        missing_part("no AVIF codec in this Pillow (Pillow's wheels have one since 11.2)")
    folder = tmp_path / "f"
    folder.mkdir()
    Image.new("RGB", (640, 480), (30, 160, 60)).save(folder / "shot.avif")
    dir_id = vs.load(folder)
    image = decoded(vs.get(dir_id, "shot.avif", "max=320"))
    assert image.format == "JPEG" and image.size == (320, 240)
    assert abs(image.getpixel((160, 120))[1] - 160) < 12


def test_heic_is_decoded_and_converted_to_jpeg(vs, tmp_path):
    import pillow_heif  # a runtime dependency: missing, this test fails

    pillow_heif.register_heif_opener()
    folder = tmp_path / "f"
    folder.mkdir()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(folder / "IMG_0001.HEIC", format="HEIF")
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "IMG_0001.HEIC", "max=320")
    image = decoded(response)
    assert response.headers["Content-Type"] == "image/jpeg"
    assert image.format == "JPEG" and image.size == (320, 240)
    assert abs(image.getpixel((160, 120))[0] - 200) < 12
    as_png = decoded(vs.get(dir_id, "IMG_0001.HEIC", "format=png"))
    assert as_png.format == "PNG" and as_png.size == (640, 480)


def test_animated_gif_keeps_the_first_frame_unless_format_gif(vs, tmp_path):
    folder = tmp_path / "f"
    make_animated_gif(folder / "anim.gif")
    dir_id = vs.load(folder)
    still = decoded(vs.get(dir_id, "anim.gif", "max=32"))
    assert still.format == "PNG" and still.size == (32, 24)
    assert not getattr(still, "is_animated", False)
    assert still.convert("RGB").getpixel((16, 12)) == (255, 0, 0)
    animated = decoded(vs.get(dir_id, "anim.gif", "max=32&format=gif"))
    assert animated.format == "GIF" and animated.size == (32, 24)
    assert animated.n_frames == 3
    animated.seek(2)
    assert animated.convert("RGB").getpixel((16, 12)) == (0, 0, 255)


# --- byte caps and presets ------------------------------------------------------------------


def test_max_bytes_steps_the_quality_down_until_the_output_fits(vs, tmp_path):
    folder = tmp_path / "f"
    make_noise(folder / "noise.jpg", (1024, 768), quality=95)
    dir_id = vs.load(folder)
    plain = vs.get(dir_id, "noise.jpg", "max=1024")
    assert len(plain.content) > 300_000
    capped = vs.get(dir_id, "noise.jpg", "max=1024&max_bytes=300000")
    assert len(capped.content) <= 300_000
    assert decoded(capped).size == (1024, 768)  # quality gave way first, not the size
    tiny = vs.get(dir_id, "noise.jpg", "max_bytes=20000")
    assert len(tiny.content) <= 20_000
    assert decoded(tiny).width < 1024  # noise at quality 20 is still too big: shrunk


@pytest.mark.parametrize(
    ("preset", "size"),
    [
        ("claude", (1456, 819)),  # long side <= 1568 and <= 1092*1092 pixels
        ("openai-low", (512, 288)),
        ("openai-high", (1365, 768)),  # short side 768
        ("thumb", (256, 144)),
        ("voyage", (1920, 1080)),  # under 16 MP: only re-encoded
        ("gemini", (1920, 1080)),  # under 3072 px
    ],
)
def test_presets_size_a_1920x1080_frame_for_each_api(vs, tmp_path, preset, size):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "frame.jpg", f"preset={preset}")
    image = decoded(response)
    assert image.size == size
    assert image.format == "JPEG"
    assert image.width * image.height <= 1092 * 1092 or preset != "claude"


def test_explicit_parameters_override_the_preset(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    image = decoded(vs.get(dir_id, "frame.jpg", "preset=claude&format=png&max=512"))
    assert image.format == "PNG" and image.size == (512, 288)


def test_datauri_decodes_back_to_the_same_image(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    image_bytes = vs.get(dir_id, "frame.jpg", "max=512&format=webp").content
    response = vs.get(dir_id, "frame.jpg", "max=512&format=webp&as=datauri")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith("data:image/webp;base64,")
    payload = base64.b64decode(response.text.split(",", 1)[1], validate=True)
    assert payload == image_bytes
    assert Image.open(io.BytesIO(payload)).size == (512, 288)
    cohere = vs.get(dir_id, "frame.jpg", "preset=cohere")  # Cohere takes data URIs only
    assert cohere.text.startswith("data:image/jpeg;base64,")
    assert vs.get(dir_id, "frame.jpg", "preset=cohere&as=image").headers["Content-Type"] == (
        "image/jpeg"
    )


# --- HTTP on variants -----------------------------------------------------------------------


def test_a_cached_variant_is_a_hit_with_its_own_etag_304_range_head_and_cors(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg")
    dir_id = vs.load(folder)
    original = vs.get(dir_id, "frame.jpg")
    first = vs.get(dir_id, "frame.jpg", "preset=claude")
    second = vs.get(dir_id, "frame.jpg", "preset=claude")
    assert (first.headers["X-Variant-Cache"], second.headers["X-Variant-Cache"]) == ("miss", "hit")
    assert first.content == second.content
    etag = first.headers["ETag"]
    assert etag == second.headers["ETag"] != original.headers["ETag"]
    assert first.headers["Cache-Control"] == original.headers["Cache-Control"]
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    assert first.headers["Last-Modified"] == original.headers["Last-Modified"]

    not_modified = vs.get(dir_id, "frame.jpg", "preset=claude", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    ranged = vs.get(dir_id, "frame.jpg", "preset=claude", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.content == first.content[:100]
    url = vs.process.url(f"/d/{dir_id}/frame.jpg?preset=claude")
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(first.content))
    current = requests.get(vs.process.url("/images/frame.jpg?preset=claude"), timeout=10)
    assert current.content == first.content  # /images/<name> takes the same parameters


def test_a_changed_source_gets_a_new_variant(vs, tmp_path):
    folder = tmp_path / "f"
    source = make_frame(folder / "frame.jpg", seed=1)
    dir_id = vs.load(folder)
    before = vs.get(dir_id, "frame.jpg", "max=256")
    make_frame(source, seed=2)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    after = vs.get(dir_id, "frame.jpg", "max=256")
    assert after.headers["X-Variant-Cache"] == "miss"
    assert after.headers["ETag"] != before.headers["ETag"]


def test_concurrent_requests_compute_a_variant_once(vs, tmp_path):
    folder = tmp_path / "f"
    make_noise(folder / "slow.png", (2400, 1600), "PNG")  # ~100 ms to decode: requests overlap
    dir_id = vs.load(folder)
    url = vs.process.url(f"/d/{dir_id}/slow.png?max=640&format=jpeg")
    count = 12
    barrier = threading.Barrier(count)
    results: list[requests.Response] = []

    def fetch() -> None:
        with requests.Session() as session:  # one connection each: both workers take some
            barrier.wait()
            results.append(session.get(url, timeout=60))

    threads = [threading.Thread(target=fetch) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * count
    assert sorted(r.headers["X-Variant-Cache"] for r in results) == ["hit"] * (count - 1) + ["miss"]
    assert len({r.content for r in results}) == 1


# --- refusals --------------------------------------------------------------------------------


def test_invalid_parameters_get_a_422_list(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg", (64, 64))
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "frame.jpg", "w=abc&fit=stretch&format=bmp&preset=nope&quality=101")
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert {tuple(e["loc"]) for e in errors} == {
        ("query", "w"),
        ("query", "fit"),
        ("query", "format"),
        ("query", "preset"),
        ("query", "quality"),
    }
    assert all(set(e) >= {"type", "loc", "msg", "input"} for e in errors)
    for query, key in [
        ("w=", "w"),
        ("max=0", "max"),
        ("max_bytes=5", "max_bytes"),
        ("as=json", "as"),
        ("fit=cover&w=256", "fit"),
    ]:
        bad = vs.get(dir_id, "frame.jpg", query)
        assert bad.status_code == 422, query
        assert bad.json()["detail"][0]["loc"] == ["query", key]


def test_unsigned_urls_take_only_listed_sizes(vs, tmp_path):
    folder = tmp_path / "f"
    make_frame(folder / "frame.jpg", (640, 480))
    dir_id = vs.load(folder)
    for query, key in [
        ("w=513", "w"),
        ("quality=81", "quality"),
        ("max_bytes=123456", "max_bytes"),
    ]:
        response = vs.get(dir_id, "frame.jpg", query)
        assert response.status_code == 422, query
        error = response.json()["detail"][0]
        assert error["loc"] == ["query", key]
        assert error["type"].endswith("_not_allowed")
    assert vs.get(dir_id, "frame.jpg", "w=512&quality=80&max_bytes=100000").status_code == 200


def test_undecodable_source_is_422_not_500(vs, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "broken.jpg", "max=64")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "image_undecodable"
    assert vs.get(dir_id, "broken.jpg").status_code == 200  # the original is still served


def test_too_many_pixels_is_413_before_decoding(vs, tmp_path):
    folder = tmp_path / "f"
    make_png_bomb(folder / "wide.png", 6000, 6000)  # 36 MP > this server's 30 MP
    dir_id = vs.load(folder)
    assert (folder / "wide.png").stat().st_size < 100_000
    assert_detail(
        vs.get(dir_id, "wide.png", "max=256"),
        413,
        f"Image too large to transform: 36000000 pixels (limit {MAX_PIXELS})",
    )


def test_a_decompression_bomb_is_413_not_500(vs, tmp_path):
    folder = tmp_path / "f"
    make_png_bomb(folder / "bomb.png", 20000, 20000)  # 400 MP: Pillow's own bomb check fires
    dir_id = vs.load(folder)
    response = vs.get(dir_id, "bomb.png", "preset=thumb")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Image too large to transform")
    assert vs.get(dir_id, "bomb.png", "as=datauri").status_code == 413
