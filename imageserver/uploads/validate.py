"""Prove that an uploaded file is one whole image of a format we take, and nothing more.

Checks, in order: something is there; Pillow recognises it (else 415: text, SVG, HTML, an
unknown format); it is JPEG, PNG, GIF or WebP (the formats vision models take; else 415); no
HTML or script marker sits in its first KB (422: a browser sniffing it could run it); not over
`IMAGE_SERVER_MAX_PIXELS` (413); it decodes completely (`load()`, 422 when truncated); and the
file ends where the image ends (422: data after PNG's IEND, JPEG's EOI, GIF's trailer, or past
WebP's RIFF size makes a polyglot).
"""

from __future__ import annotations

import mmap
import re
import warnings
from dataclasses import dataclass

from PIL import Image
from PIL import UnidentifiedImageError

from imageserver.uploads.errors import broken
from imageserver.uploads.errors import not_an_image
from imageserver.uploads.errors import too_large
from imageserver.uploads.trailers import ENDS

MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
SNIFF_BYTES = 1024
# What makes a browser (or a careless viewer) treat bytes as a document or a script.
_MARKERS = re.compile(
    rb"<\s*(script|html|body|iframe|svg|object|embed)\b|<!doctype|<\?php|javascript:", re.I
)
# Bytes some cameras and encoders leave after the end marker; they hide nothing.
_PADDING = re.compile(rb"[\x00\xff]*")


@dataclass(frozen=True)
class ImageFacts:
    """What validation learnt about an image."""

    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP
    width: int
    height: int

    @property
    def media_type(self) -> str:
        """The Content-Type the image is served with."""
        return MEDIA_TYPES[self.format]


def validate(path: str, max_pixels: int) -> ImageFacts:
    """Check the file at `path` and return its facts.

    :raise UploadError 415: empty, not an image, or a format we do not take.
    :raise UploadError 422: truncated, corrupt, or a polyglot.
    :raise UploadError 413: more pixels than `max_pixels`.
    """
    with open(path, "rb") as file:
        head = file.read(SNIFF_BYTES)
        if not head:
            raise not_an_image("Not an image: the body is empty")
        facts = _decoded(file, max_pixels)
        if _MARKERS.search(head):
            raise broken(f"Refused: the {facts.format} file carries HTML or script markup")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _check_ends_with_image(data, facts.format)
    return facts


def _decoded(file, max_pixels: int) -> ImageFacts:
    """Open and fully decode the image (its first frame) from the start of `file`."""
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            image = Image.open(file, formats=None)
    except UnidentifiedImageError:
        raise not_an_image(
            "Not an image: the content is not JPEG, PNG, GIF or WebP (SVG and text are refused)"
        ) from None
    except Image.DecompressionBombError:
        raise too_large(f"The image has more than {max_pixels} pixels") from None
    except Exception as exc:  # Pillow's plugins raise many types for one cause: bad bytes
        raise broken(f"Broken image: cannot read its header ({type(exc).__name__})") from None
    with image:
        if image.format not in MEDIA_TYPES:
            raise not_an_image(
                f"Unsupported image format {image.format}: upload JPEG, PNG, GIF or WebP"
            )
        if image.width * image.height > max_pixels:
            raise too_large(
                f"The image has {image.width * image.height} pixels, more than {max_pixels}"
            )
        try:
            image.load()
        except Exception as exc:  # truncated data, a bad chunk, a decoder error
            raise broken(f"Broken or truncated {image.format} image: {exc}") from None
        return ImageFacts(image.format, image.width, image.height)


def _check_ends_with_image(data: mmap.mmap, image_format: str) -> None:
    end = ENDS[image_format](data)  # type: ignore[arg-type] - mmap slices like bytes
    if end is None:
        raise broken(f"Broken or truncated {image_format} image: its structure does not end")
    if end < len(data) and not _PADDING.fullmatch(data[end:]):
        raise broken(
            f"Refused: {len(data) - end} bytes follow the end of the {image_format} image "
            "(a polyglot file)"
        )
