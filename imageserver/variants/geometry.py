"""Where the output pixels come from and how many there are: pure arithmetic, no Pillow.

Images are only ever scaled down: a variant is for sending less, and an upscaled frame would
cost more bytes and show nothing new. `contain` fits the whole image inside every limit;
`cover` fills the `w` x `h` box and crops the overflow around the centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imageserver.variants.params import VariantSpec

# Floating-point slack so that 1920 * (1568 / 1920) is 1568, not 1567.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Plan:
    """Take `region` (x0, y0, x1, y1) of the oriented source and scale it to `size`."""

    size: tuple[int, int]
    region: tuple[float, float, float, float]
    scale: float


def plan(width: int, height: int, spec: VariantSpec) -> Plan:
    """Plan the resize of an oriented `width` x `height` source for `spec`."""
    if spec.fit == "cover" and spec.width and spec.height:
        return _cover(width, height, spec)
    return _contain(width, height, spec)


def _floor(value: float) -> int:
    return max(1, math.floor(value + _EPSILON))


def _limit_scale(width: int, height: int, spec: VariantSpec) -> float:
    """Return the largest scale (at most 1) that honours every limit but the box."""
    scale = 1.0
    if spec.max_side:
        scale = min(scale, spec.max_side / max(width, height))
    if spec.max_short_side:
        scale = min(scale, spec.max_short_side / min(width, height))
    if spec.max_pixels:
        scale = min(scale, math.sqrt(spec.max_pixels / (width * height)))
    return scale


def _contain(width: int, height: int, spec: VariantSpec) -> Plan:
    scale = _limit_scale(width, height, spec)
    if spec.width:
        scale = min(scale, spec.width / width)
    if spec.height:
        scale = min(scale, spec.height / height)
    size = (_floor(width * scale), _floor(height * scale))
    if spec.max_pixels:
        # Rounding must never push the area over the limit an API measures.
        while size[0] * size[1] > spec.max_pixels and min(size) > 1:
            size = (size[0] - 1, _floor(size[1] * (size[0] - 1) / size[0]))
    return Plan(size, (0.0, 0.0, float(width), float(height)), scale)


def _cover(width: int, height: int, spec: VariantSpec) -> Plan:
    assert spec.width and spec.height
    box_w, box_h = float(spec.width), float(spec.height)
    # The other limits shrink the box itself, keeping its shape.
    box_scale = _limit_scale(spec.width, spec.height, spec)
    box_w, box_h = box_w * box_scale, box_h * box_scale
    aspect = box_w / box_h
    if width / height > aspect:
        region_w, region_h = height * aspect, float(height)
    else:
        region_w, region_h = float(width), width / aspect
    scale = min(1.0, box_w / region_w)
    x0, y0 = (width - region_w) / 2, (height - region_h) / 2
    size = (_floor(region_w * scale), _floor(region_h * scale))
    return Plan(size, (x0, y0, x0 + region_w, y0 + region_h), scale)
