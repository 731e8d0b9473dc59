"""Where an image file really ends: walk its structure to the end marker, nothing decoded.

A polyglot is one file that is two things at once: a PNG with a ZIP after its IEND chunk, a
JPEG with a script after its EOI. Decoders stop at the end marker and never see the rest, so
the only reliable test is to find where the image ends and demand that the file ends there.
Each walker returns the offset just past the image's last byte, or None when the structure
is broken (then the image is truncated or not what its signature claims).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers that stand alone, with no length after them (TEM, RSTn, SOI).
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_JPEG_SOI, _JPEG_EOI, _JPEG_SOS = 0xD8, 0xD9, 0xDA


def png_end(data: bytes) -> int | None:
    """Return the offset just past the IEND chunk's CRC, or None."""
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        offset += 12 + length  # length, type, data, CRC
        if offset > len(data):
            return None
        if kind == b"IEND":
            return offset
    return None


def jpeg_end(data: bytes) -> int | None:
    """Return the offset just past the EOI marker that ends the image, or None.

    Segments are skipped by their length (so an EXIF thumbnail's own EOI is never taken for
    the end); after a start of scan, the entropy-coded data runs to the next marker that is
    not a byte stuffing (`FF 00`) or a restart (`FF D0`..`FF D7`).
    """
    if data[:2] != b"\xff\xd8":
        return None
    offset = 2
    while offset + 2 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill bytes before a marker
            offset += 1
            continue
        if marker == _JPEG_EOI:
            return offset + 2
        if marker in _JPEG_STANDALONE or marker == _JPEG_SOI:
            offset += 2
            continue
        if offset + 4 > len(data):
            return None
        (length,) = struct.unpack_from(">H", data, offset + 2)
        offset += 2 + length
        if marker == _JPEG_SOS:
            offset = _after_scan(data, offset)
            if offset is None:
                return None
    return None


def _after_scan(data: bytes, offset: int) -> int | None:
    """Return the offset of the marker that ends a scan's entropy-coded data."""
    while True:
        offset = data.find(b"\xff", offset)
        if offset < 0 or offset + 1 >= len(data):
            return None
        following = data[offset + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            offset += 1 if following == 0xFF else 2
            continue
        return offset


def gif_end(data: bytes) -> int | None:
    """Return the offset just past the GIF trailer (`;`), or None."""
    if len(data) < 13:
        return None
    flags = data[10]
    offset = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while offset < len(data):
        block = data[offset]
        if block == 0x3B:
            return offset + 1
        if block == 0x21:  # extension: label, then sub-blocks
            offset = _after_sub_blocks(data, offset + 2)
        elif block == 0x2C:  # image: descriptor, optional local colour table, LZW data
            if offset + 10 > len(data):
                return None
            local = data[offset + 9]
            offset += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0)
            offset = _after_sub_blocks(data, offset + 1)  # + the LZW minimum code size
        else:
            return None
        if offset is None:
            return None
    return None


def _after_sub_blocks(data: bytes, offset: int) -> int | None:
    while offset < len(data):
        size = data[offset]
        offset += 1 + size
        if size == 0:
            return offset
    return None


def webp_end(data: bytes) -> int | None:
    """Return the end of the RIFF container (8 + its declared size), or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    (size,) = struct.unpack_from("<I", data, 4)
    end = 8 + size + (size & 1)  # RIFF pads an odd chunk to an even length
    return end if end <= len(data) else None


ENDS: dict[str, Callable[[bytes], int | None]] = {
    "PNG": png_end,
    "JPEG": jpeg_end,
    "GIF": gif_end,
    "WEBP": webp_end,
}
