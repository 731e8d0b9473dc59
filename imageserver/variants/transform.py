"""The Pillow pipeline: open, check the pixel count, decode small, orient, resize, encode.

- The pixel count is read from the header and checked against `IMAGE_SERVER_MAX_PIXELS`
  before anything is decoded; Pillow's own `DecompressionBombError` is caught too. Either is
  `ImageTooLarge` (413), never a 500. Pillow's global limit is left alone.
- JPEG sources are decoded with `draft()`: libjpeg then decodes at 1/2, 1/4 or 1/8 scale,
  which is most of the speed of a large downscale.
- EXIF orientation is applied, then every piece of metadata (EXIF, XMP, comments, text
  chunks) is dropped; the ICC profile is kept because it is colour, not metadata.
- HEIC/HEIF (pillow-heif) and AVIF (Pillow >= 11.2, or pillow-avif-plugin) are decoded when
  available, and every format a browser may not show becomes JPEG unless asked otherwise.
- An animated GIF keeps its first frame, unless `format=gif` asks for the animation.
- `max_bytes`: the quality steps down (binary search) until the output fits, then the size.

Nothing here imports Flask.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from dataclasses import replace
from typing import BinaryIO

from PIL import Image
from PIL import ImageOps
from PIL import ImageSequence

from imageserver.settings.media_types import media_type_for
from imageserver.variants.geometry import Plan
from imageserver.variants.geometry import plan
from imageserver.variants.params import LOSSY_FORMATS
from imageserver.variants.params import VariantSpec

try:  # HEIC/HEIF input; optional so a machine without the wheel still serves everything else
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - depends on the machine
    HEIF_AVAILABLE = False
else:
    register_heif_opener()
    HEIF_AVAILABLE = True

with contextlib.suppress(ImportError):  # AVIF on Pillow older than 11.2 (built in since)
    import pillow_avif  # noqa: F401

PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}
# Sources a browser and every model API read as they are; anything else becomes JPEG.
_KEPT_FORMATS = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
RESAMPLE = Image.Resampling.BICUBIC
MIN_QUALITY = 20  # below this JPEG and WebP turn to mush; shrink the image instead
MIN_SIDE = 16  # max_bytes never shrinks an image below this
_SHRINK_MARGIN = 0.9
_WHITE = (255, 255, 255)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class TransformError(Exception):
    """A source that cannot be turned into the requested variant."""


class ImageTooLarge(TransformError):
    """More pixels than the server agrees to decode (a decompression bomb, or just huge)."""

    def __init__(self, pixels: int | None, limit: int) -> None:
        self.pixels = pixels
        self.limit = limit
        shown = f"{pixels} pixels" if pixels else "too many pixels"
        super().__init__(f"Image too large to transform: {shown} (limit {limit})")


class SourceMissing(TransformError):
    """The source file went away between the lookup and the decode."""


class UndecodableImage(TransformError):
    """The file is not an image Pillow (with its plugins) can decode."""


class CannotFit(TransformError):
    """`max_bytes` cannot be met even at the lowest quality and smallest size."""


@dataclass(frozen=True)
class Rendered:
    """An encoded variant."""

    data: bytes
    format: str
    size: tuple[int, int]


def output_format(requested: str | None, source_name: str) -> str:
    """Return the output format: the requested one, else the source's when it travels well.

    Decided from the name alone, so a cached variant is found without opening the source.
    GIF sources give PNG (their first frame, losslessly) unless `format=gif` is asked for.
    """
    if requested:
        return requested
    media_type = media_type_for(source_name) or ""
    if media_type == "image/gif":
        return "png"
    return _KEPT_FORMATS.get(media_type, "jpeg")


def render(path: str | BinaryIO, spec: VariantSpec, max_pixels: int) -> Rendered:
    """Produce the variant of the image at `path` (or in a file object, e.g. a drawn contact
    sheet); `spec.format` must be resolved.

    :raise ImageTooLarge: over `max_pixels` (frames count for an animated output).
    :raise UndecodableImage: not an image, truncated, or a format without a decoder here.
    :raise CannotFit: `spec.max_bytes` is out of reach.
    """
    assert spec.format in PIL_FORMATS, "resolve the output format first"
    with _open(path, max_pixels) as image:
        try:
            frames, icc, timing = _decode(image, spec, max_pixels)
            frames = [_encodable(frame, spec.format) for frame in frames]
        except Image.DecompressionBombError:
            raise ImageTooLarge(None, max_pixels) from None
        except (TransformError, MemoryError):
            raise
        except Exception as exc:  # truncated data, corrupt chunks, a missing codec...
            raise UndecodableImage(f"cannot decode the image ({type(exc).__name__})") from None
        # Inside `with`: an untouched frame is still the opened image, unusable once closed.
        return _encode_within(frames, spec, icc, timing)


def _open(path: str | BinaryIO, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(path)
    except FileNotFoundError:
        raise SourceMissing(path) from None
    except Image.DecompressionBombError:
        raise ImageTooLarge(None, max_pixels) from None
    except Exception as exc:  # Pillow's plugins raise many types for one cause: bad bytes
        raise UndecodableImage(f"cannot decode the image ({type(exc).__name__})") from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        image.close()
        raise ImageTooLarge(pixels, max_pixels)
    return image


def _decode(
    image: Image.Image, spec: VariantSpec, max_pixels: int
) -> tuple[list[Image.Image], bytes | None, dict]:
    """Return the oriented, resized frames, the ICC profile and the GIF timing to keep."""
    icc = image.info.get("icc_profile")
    orientation = image.getexif().get(0x0112, 1)  # read before the data: it is in the header
    swapped = orientation in (5, 6, 7, 8)
    oriented = (image.height, image.width) if swapped else image.size
    layout = plan(*oriented, spec)
    animated = spec.format == "gif" and getattr(image, "is_animated", False)
    if not animated:
        return [_one_frame(image, layout, oriented)], icc, {}
    count = image.n_frames
    if count * image.width * image.height > max_pixels:
        raise ImageTooLarge(count * image.width * image.height, max_pixels)
    frames = []
    for frame in ImageSequence.Iterator(image):
        frames.append(_resized(_oriented(frame.copy()), layout, oriented))
    timing = {key: image.info[key] for key in ("duration", "loop") if key in image.info}
    return frames, icc, timing


def _one_frame(image: Image.Image, layout: Plan, oriented: tuple[int, int]) -> Image.Image:
    if image.format == "JPEG" and layout.scale < 1:
        # libjpeg decodes straight to the smallest 1/2^n scale still at least this size.
        wanted = (math.ceil(image.width * layout.scale), math.ceil(image.height * layout.scale))
        image.draft(None, wanted)
    image.load()  # the first frame only: an animated GIF keeps its first
    return _resized(_oriented(image), layout, oriented)


def _oriented(image: Image.Image) -> Image.Image:
    ImageOps.exif_transpose(image, in_place=True)  # in place: no copy when already upright
    return image


def _resizable(image: Image.Image) -> Image.Image:
    """Bring palette, bilevel and exotic modes to one Pillow resizes well."""
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if image.mode == "1":
        return image.convert("L")
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit grey (PNG, TIFF): scale to 8 bits; a plain convert would clip it to white.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in _ALPHA_MODES:
        return image.convert("RGBA")
    return image.convert("RGB")  # CMYK, YCbCr, I;16, LAB...


def _resized(image: Image.Image, layout: Plan, oriented: tuple[int, int]) -> Image.Image:
    image = _resizable(image)
    # After draft() the decoded image is smaller than the header said: map the plan onto it.
    fx, fy = image.width / oriented[0], image.height / oriented[1]
    x0, y0, x1, y1 = layout.region
    box = (x0 * fx, y0 * fy, x1 * fx, y1 * fy)
    if layout.size == image.size and box == (0.0, 0.0, *map(float, image.size)):
        return image
    # Bicubic, as Pillow's own thumbnails: Lanczos costs a third more time for a difference no
    # model sees. reducing_gap: a cheap integer reduction first, then bicubic over the last 3x.
    return image.resize(layout.size, RESAMPLE, box=box, reducing_gap=3.0)


def _encodable(image: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the output format stores; JPEG gets transparency on white."""
    if fmt == "jpeg":
        if image.mode in _ALPHA_MODES:
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, _WHITE)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if fmt == "webp" and image.mode in ("L", "LA"):
        return image.convert("RGBA" if image.mode == "LA" else "RGB")
    return image if image.mode in ("RGB", "RGBA", "L", "LA", "P") else image.convert("RGB")


def _encode(frames: list[Image.Image], spec: VariantSpec, icc: bytes | None, extra: dict) -> bytes:
    """Encode without any of the source's metadata: only the options given here are written."""
    options: dict = {"icc_profile": icc} if icc else {}
    if spec.format in LOSSY_FORMATS:
        options["quality"] = spec.quality
    if spec.format == "png":
        options["compress_level"] = 6
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], disposal=2, **extra)
    first = frames[0]
    first.info = {}  # Pillow falls back to `info` for some chunks (ICC, EXIF) when saving
    buffer = io.BytesIO()
    first.save(buffer, PIL_FORMATS[spec.format], **options)
    return buffer.getvalue()


def _encode_within(
    frames: list[Image.Image], spec: VariantSpec, icc: bytes | None, extra: dict
) -> Rendered:
    data = _encode(frames, spec, icc, extra)
    limit = spec.max_bytes
    while limit is not None and len(data) > limit:
        if spec.format in LOSSY_FORMATS and spec.quality and spec.quality > MIN_QUALITY:
            fitted = _best_quality(frames, spec, icc, extra)
            if fitted is not None:
                return Rendered(fitted, spec.format, frames[0].size)
        # Even the lowest quality is too big: scale down by the byte ratio, then try again.
        ratio = min(_SHRINK_MARGIN, math.sqrt(limit / len(data)) * _SHRINK_MARGIN)
        size = (math.floor(frames[0].width * ratio), math.floor(frames[0].height * ratio))
        if min(size) < MIN_SIDE:
            raise CannotFit(f"cannot fit the image in {limit} bytes")
        frames = [frame.resize(size, RESAMPLE) for frame in frames]
        data = _encode(frames, spec, icc, extra)
    return Rendered(data, spec.format, frames[0].size)


def _best_quality(
    frames: list[Image.Image], spec: VariantSpec, icc: bytes | None, extra: dict
) -> bytes | None:
    """Return the encoding at the highest quality below `spec.quality` that fits, or None.

    A binary search: about six encodes between quality 20 and 85, where stepping down by 5
    could take thirteen.
    """
    assert spec.quality is not None and spec.max_bytes is not None
    best = _encode(frames, replace(spec, quality=MIN_QUALITY), icc, extra)
    if len(best) > spec.max_bytes:
        return None
    low, high = MIN_QUALITY + 1, spec.quality - 1
    while low <= high:
        middle = (low + high) // 2
        data = _encode(frames, replace(spec, quality=middle), icc, extra)
        if len(data) <= spec.max_bytes:
            best, low = data, middle + 1
        else:
            high = middle - 1
    return best
