"""The upload feature's pure parts: names, where each format ends, what validation refuses.

No server: these are the small predicates the HTTP tests rely on (tests/test_uploads.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imageserver.uploads import trailers
from imageserver.uploads.errors import UploadError
from imageserver.uploads.names import inbox_name
from imageserver.uploads.names import sanitised
from imageserver.uploads.names import with_format_extension
from imageserver.uploads.validate import validate
from tests.support.uploads import image_bytes

SHA = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("frame.png", "frame.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\shot 1.jpg", "shot_1.jpg"),
        (".hidden.png", "hidden.png"),
        ("a\x00b\nc.png", "a_b_c.png"),
        ("été.png", "_t_.png"),
        ("...", None),
        ("", None),
        (None, None),
        ("x" * 300 + ".png", "x" * 124 + ".png"),
    ],
)
def test_sanitised_names(raw, safe):
    assert sanitised(raw) == safe


@pytest.mark.parametrize(
    ("name", "fmt", "stored"),
    [
        ("a.png", "PNG", "a.png"),
        ("a.JPEG", "JPEG", "a.JPEG"),
        ("a", "PNG", "a.png"),
        ("a.txt", "GIF", "a.txt.gif"),
        (None, "WEBP", SHA[:16] + ".webp"),
    ],
)
def test_the_extension_follows_the_content(name, fmt, stored):
    assert with_format_extension(name, fmt, SHA) == stored


def test_an_image_extension_of_another_format_is_refused():
    with pytest.raises(UploadError) as refused:
        with_format_extension("a.png", "JPEG", SHA)
    assert refused.value.status == 422


@pytest.mark.parametrize("bad", ["", "a/b", "x" * 65, "dot.dot", "sp ace"])
def test_inbox_names_outside_the_pattern_are_refused(bad):
    with pytest.raises(UploadError):
        inbox_name(bad)


def test_the_default_inbox():
    assert inbox_name(None) == "uploads"


def animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), color) for color in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=40)
    return buffer.getvalue()


def jpeg_with_exif_thumbnail() -> bytes:
    # An EXIF block holding its own small JPEG, whose EOI must not be taken for the end.
    thumb = image_bytes("JPEG", (8, 8))
    exif = Image.Exif()
    exif[0x010E] = "described"
    raw = exif.tobytes() + thumb
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 9, 9)).save(buffer, "JPEG", exif=raw, progressive=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("PNG", image_bytes("PNG")),
        ("JPEG", image_bytes("JPEG")),
        ("JPEG", jpeg_with_exif_thumbnail()),
        ("GIF", animated_gif()),
        ("WEBP", image_bytes("WEBP")),
    ],
    ids=["png", "jpeg", "jpeg-exif-thumbnail", "gif-animated", "webp"],
)
def test_each_format_ends_where_the_file_ends_and_not_after_a_tail(fmt, data):
    assert trailers.ENDS[fmt](data) == len(data)
    assert trailers.ENDS[fmt](data + b"PK\x03\x04tail") == len(data)
    assert trailers.ENDS[fmt](data[:-3]) is None  # cut: the end marker is missing


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_validation_refuses_a_tail_after_any_format(tmp_path: Path, fmt: str):
    path = tmp_path / "polyglot"
    path.write_bytes(image_bytes(fmt) + b"<?php echo 1; ?>")
    with pytest.raises(UploadError) as refused:
        validate(str(path), 100_000_000)
    assert refused.value.status == 422


def test_validation_refuses_too_many_pixels(tmp_path: Path):
    path = tmp_path / "big.png"
    path.write_bytes(image_bytes("PNG", (100, 100)))
    with pytest.raises(UploadError) as refused:
        validate(str(path), 9_999)
    assert refused.value.status == 413


def test_validation_takes_padding_after_the_end(tmp_path: Path):
    path = tmp_path / "padded.jpg"
    path.write_bytes(image_bytes("JPEG") + b"\0" * 32)
    assert validate(str(path), 100_000_000).format == "JPEG"
