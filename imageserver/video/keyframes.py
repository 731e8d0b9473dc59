"""Which packets start an independent stretch: nothing after them refers to anything before.

An H.264 IDR or HEVC IDR picture, or a VP8/VP9 keyframe, resets every reference, so frames
before it in decode order that no chosen frame needs can be left undecoded. A keyframe flag
alone is not enough for H.264/HEVC: an open-GOP I-frame is flagged too, and the B-frames after
it still refer to frames before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IdrTest = Callable[[Any], bool]
H264_IDR = 5
H264_SLICE = 1
HEVC_IDR = (19, 20)  # IDR_W_RADL, IDR_N_LP
HEVC_LAST_VCL = 31


def idr_test(stream: Any) -> IdrTest | None:
    """A test ``packet -> bool`` for the stream's codec, or None when we cannot tell."""
    name = stream.codec_context.name
    if name in ("vp8", "vp9"):
        return lambda packet: bool(packet.is_keyframe)
    extradata = stream.codec_context.extradata or b""
    if name == "h264" and len(extradata) > 4 and extradata[0] == 1:  # avcC, not Annex B
        width = (extradata[4] & 3) + 1
        return lambda packet: bool(packet.is_keyframe) and _h264_idr(bytes(packet), width)
    if name == "hevc" and len(extradata) > 22 and extradata[0] == 1:  # hvcC
        width = (extradata[21] & 3) + 1
        return lambda packet: bool(packet.is_keyframe) and _hevc_idr(bytes(packet), width)
    return None


def _nal_headers(data: bytes, width: int) -> list[int]:
    """The first header byte of each length-prefixed NAL unit."""
    out, pos = [], 0
    while pos + width < len(data):
        size = int.from_bytes(data[pos : pos + width], "big")
        out.append(data[pos + width])
        pos += width + size
    return out


def _h264_idr(data: bytes, width: int) -> bool:
    for header in _nal_headers(data, width):
        kind = header & 0x1F
        if kind in (H264_IDR, H264_SLICE):
            return kind == H264_IDR
    return False


def _hevc_idr(data: bytes, width: int) -> bool:
    for header in _nal_headers(data, width):
        kind = (header >> 1) & 0x3F
        if kind <= HEVC_LAST_VCL:
            return kind in HEVC_IDR
    return False
