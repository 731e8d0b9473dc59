"""The variant modules on their own: geometry, parameters, the disk cache and the pipeline.

The cache tests prove compute-once with real threads and real processes: the waiters are
observed blocked on the per-key lock (threads: the lock's user count; processes: the
kernel's `/proc/locks`) before the first producer is allowed to finish.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
import time

import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile
from pydantic import ValidationError

from imageserver.variants import transform
from imageserver.variants.cache import VariantCache
from imageserver.variants.geometry import plan
from imageserver.variants.params import VariantQuery
from imageserver.variants.params import VariantSpec
from imageserver.variants.params import checked_params
from imageserver.variants.params import has_transform
from imageserver.variants.params import parse_variant_option
from imageserver.variants.presets import PRESETS
from imageserver.variants.service import variant_key
from tests.support.images import make_frame
from tests.support.parts import missing_part
from tests.support.waiting import wait_until

DEADLINE_SECONDS = 20


# --- geometry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "spec", "size"),
    [
        ((1920, 1080), VariantSpec(max_side=1568), (1568, 882)),
        ((1080, 1920), VariantSpec(max_side=1568), (882, 1568)),
        ((1920, 1080), VariantSpec(max_side=1568, max_pixels=1092 * 1092), (1456, 819)),
        ((1000, 1000), VariantSpec(max_pixels=1092 * 1092), (1000, 1000)),
        ((4000, 3000), VariantSpec(max_side=2048, max_short_side=768), (1024, 768)),
        ((1920, 1080), VariantSpec(width=512, height=512), (512, 288)),
        ((1920, 1080), VariantSpec(width=512, height=512, fit="cover"), (512, 512)),
        ((300, 200), VariantSpec(width=512, height=512, fit="cover"), (200, 200)),
        ((300, 200), VariantSpec(max_side=4096), (300, 200)),
        ((7, 3000), VariantSpec(max_side=64), (1, 64)),
    ],
)
def test_plan_sizes(source, spec, size):
    assert plan(*source, spec).size == size


def test_cover_crops_around_the_centre():
    layout = plan(1920, 1080, VariantSpec(width=100, height=100, fit="cover"))
    assert layout.region == (420.0, 0.0, 1500.0, 1080.0)


def test_every_preset_has_a_reason_and_a_bound():
    for name, preset in PRESETS.items():
        assert len(preset.reason) > 40, name
        assert preset.max_side or preset.max_pixels, name


# --- parameters -----------------------------------------------------------------------------


def test_only_transform_keys_make_a_variant():
    assert not has_transform({})
    assert not has_transform({"exp": "1", "sig": "x", "v": "2"})
    assert has_transform({"w": ""})
    assert has_transform({"as": "datauri"})


def test_preset_fills_in_and_explicit_parameters_win():
    spec = VariantQuery.model_validate({"preset": "claude", "format": "PNG"}).spec()
    assert (spec.max_side, spec.max_pixels, spec.format) == (1568, 1092 * 1092, "png")
    assert VariantQuery.model_validate({"preset": "cohere"}).spec().datauri
    assert not VariantQuery.model_validate({"preset": "cohere", "as": "image"}).spec().datauri
    assert VariantQuery.model_validate({"format": "jpg"}).format == "jpeg"


def test_bounds_apply_without_a_signature_and_by_default():
    for context in (None, {"bounded": True}):
        with pytest.raises(ValidationError):
            VariantQuery.model_validate({"w": "1000"}, context=context)
    wide = VariantQuery.model_validate({"w": "1000", "quality": "83"}, context={"bounded": False})
    assert (wide.w, wide.quality) == (1000, 83)
    with pytest.raises(ValidationError):
        VariantQuery.model_validate({"w": "9000"}, context={"bounded": False})


def test_the_cache_token_ignores_the_answer_form_and_names_every_pixel_setting():
    one = VariantSpec(max_side=512, format="jpeg", quality=85)
    assert (
        one.cache_token()
        == VariantSpec(max_side=512, format="jpeg", quality=85, datauri=True).cache_token()
    )
    assert one.cache_token() != VariantSpec(max_side=512, format="jpeg", quality=80).cache_token()
    png = VariantSpec(format="png", quality=85).for_format("png")
    assert png.quality is None  # lossless: quality would only split the cache
    assert VariantSpec().for_format("webp").quality == 80


def test_cli_variant_option_parsing():
    assert parse_variant_option("max=1024, format=webp") == {"max": "1024", "format": "webp"}
    for bad in ("", "max", "max=", "size=3", "w=1,w=2"):
        with pytest.raises(ValueError):
            parse_variant_option(bad)
    assert list(checked_params({"format": "webp", "preset": "claude"}, bounded=False)) == [
        "preset",
        "format",
    ]
    with pytest.raises(ValueError, match="fit"):
        checked_params({"fit": "cover"})


# --- the pipeline ---------------------------------------------------------------------------


def test_output_format_follows_the_source_when_it_travels_well():
    assert transform.output_format(None, "a.JPG") == "jpeg"
    assert transform.output_format(None, "a.png") == "png"
    assert transform.output_format(None, "a.webp") == "webp"
    assert transform.output_format(None, "a.gif") == "png"
    for name in ("a.heic", "a.heif", "a.avif", "a.bmp", "a.tiff"):
        assert transform.output_format(None, name) == "jpeg"
    assert transform.output_format("webp", "a.heic") == "webp"


def test_large_jpegs_are_decoded_small_with_draft(tmp_path, monkeypatch):
    source = make_frame(tmp_path / "big.jpg", (6000, 4000))
    calls: list[tuple] = []
    original_draft = JpegImageFile.draft

    def spy(self, mode, size):
        calls.append(size)
        return original_draft(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    spec = VariantSpec(max_side=512).for_format("jpeg")
    rendered = transform.render(str(source), spec, max_pixels=100_000_000)
    assert calls == [(512, 342)]
    assert Image.open(io.BytesIO(rendered.data)).size == rendered.size == (512, 341)


def test_an_unreachable_byte_cap_is_refused(tmp_path):
    source = tmp_path / "noise.png"
    Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3)).save(source)
    spec = VariantSpec(max_bytes=100).for_format("png")
    with pytest.raises(transform.CannotFit):
        transform.render(str(source), spec, max_pixels=10**8)


# --- the cache ------------------------------------------------------------------------------


def test_threads_compute_a_key_once(tmp_path):
    cache = VariantCache(tmp_path, max_bytes=10**9)
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def produce() -> bytes:
        calls.append(1)
        entered.set()
        assert release.wait(DEADLINE_SECONDS)
        return b"variant bytes"

    results: list = []
    threads = [
        threading.Thread(
            target=lambda: results.append(cache.get_or_create("k" * 64, ".jpg", produce))
        )
        for _ in range(8)
    ]
    threads[0].start()
    assert entered.wait(DEADLINE_SECONDS)
    for thread in threads[1:]:
        thread.start()
    wait_until(
        lambda: cache.users("k" * 64) == 8,
        DEADLINE_SECONDS,
        interval=0.002,
        message="all threads to wait on the key",
    )
    release.set()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(entry.hit for entry in results) == [False] + [True] * 7
    assert {entry.path.read_bytes() for entry in results} == {b"variant bytes"}
    assert cache.users("k" * 64) == 0


def _produce_in_child(root: str, key: str, entered, release, produced) -> None:
    def produce() -> bytes:
        produced.value += 1
        entered.set()
        release.wait(DEADLINE_SECONDS)
        return b"from " + str(os.getpid()).encode()

    VariantCache(root, max_bytes=10**9).get_or_create(key, ".png", produce)


def _blocked_on_flock(pid: int) -> bool:
    # A waiter shows up as "N: -> FLOCK  ADVISORY  WRITE <pid> ..." in /proc/locks.
    with open("/proc/locks") as locks:
        return any("->" in line and f" {pid} " in line for line in locks)


def test_processes_compute_a_key_once(tmp_path):
    if not os.path.exists("/proc/locks"):
        missing_part("needs Linux /proc/locks")
    context = multiprocessing.get_context("spawn")
    entered, release = context.Event(), context.Event()
    produced = context.Value("i", 0)
    key = "p" * 64
    args = (str(tmp_path), key, entered, release, produced)
    first = context.Process(target=_produce_in_child, args=args)
    second = context.Process(target=_produce_in_child, args=args)
    first.start()
    try:
        assert entered.wait(DEADLINE_SECONDS)
        second.start()
        wait_until(
            lambda: _blocked_on_flock(second.pid),
            DEADLINE_SECONDS,
            interval=0.002,
            message="the second process to wait",
        )
    finally:
        release.set()
        for process in (first, second):
            if process.pid is not None:
                process.join(DEADLINE_SECONDS)
    assert (first.exitcode, second.exitcode) == (0, 0)
    assert produced.value == 1
    stored = VariantCache(tmp_path, 10**9).path_for(key, ".png").read_bytes()
    assert stored == f"from {first.pid}".encode()
    assert not list((tmp_path / ".locks").iterdir())  # lock files are removed after use


def test_eviction_removes_the_least_recently_used(tmp_path):
    # Over the bound at the fourth write; back under 90% of it once one file is gone.
    cache = VariantCache(tmp_path, max_bytes=2700)
    now = time.time()
    for age, name in ((300, "a"), (200, "b"), (100, "c")):
        entry = cache.get_or_create(name * 64, ".jpg", lambda: b"x" * 800)
        os.utime(entry.path, (now - age, now - age))
    # "a" is the oldest write, but a hit makes it the most recently used.
    assert cache.lookup("a" * 64, ".jpg") is not None
    cache.get_or_create("d" * 64, ".jpg", lambda: b"x" * 800)
    assert cache.lookup("b" * 64, ".jpg") is None  # evicted: least recently used
    for kept in ("a", "c", "d"):
        assert cache.lookup(kept * 64, ".jpg") is not None
    assert cache.usage() == 2400


def test_a_failed_production_leaves_nothing_and_an_empty_file_is_a_miss(tmp_path):
    cache = VariantCache(tmp_path, max_bytes=10**6)

    def fail() -> bytes:
        raise transform.UndecodableImage("bad bytes")

    with pytest.raises(transform.UndecodableImage):
        cache.get_or_create("e" * 64, ".jpg", fail)
    assert cache.lookup("e" * 64, ".jpg") is None
    assert not list(tmp_path.rglob("*.jpg"))
    path = cache.path_for("f" * 64, ".jpg")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # what a crash between write and rename could leave
    assert cache.get_or_create("f" * 64, ".jpg", lambda: b"fresh").hit is False
    assert path.read_bytes() == b"fresh"


def test_the_key_changes_with_the_source_and_the_spec(tmp_path):
    source = tmp_path / "a.jpg"
    source.write_bytes(b"one")
    info = source.stat()
    spec = VariantSpec(max_side=512, format="jpeg", quality=85)
    key = variant_key(str(source), info, spec)
    assert key == variant_key(str(source), info, spec)
    assert key != variant_key(str(source), info, VariantSpec(max_side=256, format="jpeg"))
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1))
    assert key != variant_key(str(source), source.stat(), spec)
    assert key != variant_key(str(tmp_path / "b.jpg"), info, spec)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    source = tmp_path / "depth.png"
    Image.new("I;16", (64, 48), 40000).save(source)  # 61% grey in 16 bits
    rendered = transform.render(str(source), VariantSpec().for_format("jpeg"), 10**8)
    assert abs(Image.open(io.BytesIO(rendered.data)).getpixel((10, 10)) - 156) <= 2
