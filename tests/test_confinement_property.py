"""SECURITY.md, property-based: no name and no raw path resolves outside the loaded root.

`tests/test_confinement.py` replays a fixed corpus against the real server; this module lets
hypothesis generate the names instead, from a grammar of dangerous fragments (`..`, `.`, `/`,
`\\`, NUL, `%` escapes single and double, overlong UTF-8, fullwidth and other confusable dots
and solidi, lone surrogates, absolute paths) mixed with the real names of a real tree. The tree
holds real images, sub-folders, symlinks that stay inside, symlinks that leave (to a file, to a
folder, relative and absolute), a sibling folder sharing the root's name as a prefix, and
secrets next to the root: real images and a text file, all carrying a unique marker.

Each property runs its examples inside one test (`_run`) so that the test can also assert the
generator really reached files: a confinement property that only ever sees refusals proves
nothing. Runs are deterministic (`derandomize=True`, no example database).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from imageserver.security.confinement import decode_segments
from imageserver.security.confinement import is_safe_relative_name
from imageserver.security.confinement import name_from_raw_path
from imageserver.security.confinement import raw_request_path
from imageserver.security.confinement import resolve_image_file
from imageserver.settings.media_types import is_image_name
from tests.support.images import make_image

EXAMPLES = 2000
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# --- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyTree:
    """The loaded root, what lies outside it, and the marker every secret carries."""

    base: Path
    root_real: str
    marker: bytes
    secrets: frozenset[str]  # real paths of every file outside the root

    def is_secret(self, real: str) -> bool:
        """Tell whether a real path is one of the files planted outside the root."""
        return real in self.secrets


def _secret_image(path: Path, marker: bytes, color: int) -> Path:
    """Write a real image that also carries `marker` (a valid image: extensions can't save us)."""
    make_image(path, color=color)
    path.write_bytes(path.read_bytes() + marker)
    return path


def build_property_tree(base: Path) -> PropertyTree:
    """Build `base/root` (the loaded directory) and the secrets around it."""
    marker = f"PROPERTY-SECRET-{uuid.uuid4().hex}".encode()
    root = base / "root"
    secrets = [
        _secret_image(base / "secret.jpg", marker, 1),
        _secret_image(base / "secret.png", marker, 2),
        _secret_image(base / "outside" / "secret2.png", marker, 3),
        # Shares the root's name as a prefix: `root` vs `root-sibling`.
        _secret_image(base / "root-sibling" / "b.png", marker, 4),
    ]
    (base / "secret.txt").write_bytes(b"not an image " + marker)
    secrets.append(base / "secret.txt")
    for color, name in enumerate(
        ["a.png", "b.jpg", "c.gif", "d.webp", ".hidden.png", "with space.png", "été.png"]
    ):
        make_image(root / name, color=10 + color)
    for name in ["%2e%2e.png", "..png", "...png", "sub/inner.png", "sub/deeper/x.png"]:
        make_image(root / name, color=20)
    (root / "notes.txt").write_text("text")
    (root / "x.svg").write_text("<svg/>")
    (root / "dir.png").mkdir()
    os.mkfifo(root / "pipe.png")
    links = {
        "in_link.png": "a.png",
        "sub/in_up.png": "../a.png",
        "indir": "sub",
        "out_rel.jpg": "../secret.jpg",
        "out_abs.png": str(base / "secret.png"),
        "out_txt.png": "../secret.txt",
        "sibling.png": "../root-sibling/b.png",
        "sub/out_up.png": "../../secret.png",
        "outdir": "..",
        "outdir_abs": str(base / "outside"),
        "dangling.png": "missing.png",
        "loop.png": "loop.png",
    }
    for link, target in links.items():
        (root / link).symlink_to(target)
    return PropertyTree(
        base=base,
        root_real=os.path.realpath(root),
        marker=marker,
        secrets=frozenset(os.path.realpath(p) for p in secrets),
    )


@pytest.fixture(scope="module")
def ptree(tmp_path_factory: pytest.TempPathFactory) -> PropertyTree:
    return build_property_tree(tmp_path_factory.mktemp("confinement-property"))


# --- oracles ---------------------------------------------------------------------------------


def assert_confined(ptree: PropertyTree, name: str, result: tuple[str, os.stat_result]) -> None:
    """Assert that a resolution is a regular image file strictly inside the root.

    Checked independently of `security.confinement.is_within`: `commonpath` over the real
    paths, a fresh `lstat` of the real path, and the file's bytes against the secrets' marker.
    """
    real, info = result
    assert os.path.isabs(real) and real == os.path.realpath(real), real
    assert real != ptree.root_real
    assert os.path.commonpath([real, ptree.root_real]) == ptree.root_real, (name, real)
    assert not ptree.is_secret(real), (name, real)
    assert stat.S_ISREG(os.lstat(real).st_mode), (name, real)
    assert stat.S_ISREG(info.st_mode)
    assert is_image_name(name), name
    # The answer is the file the name denotes, not some other file that happens to be inside.
    assert real == os.path.realpath(os.path.join(ptree.root_real, name)), (name, real)
    assert ptree.marker not in Path(real).read_bytes(), (name, real)


def assert_safe_name(name: str) -> None:
    """Assert the shape every extracted name must have: plain `/`-joined safe segments."""
    assert name, "empty name"
    assert "\\" not in name and "\x00" not in name, repr(name)
    for segment in name.split("/"):
        assert segment not in ("", ".", ".."), repr(name)


def assert_reached_files(seen: Counter[object]) -> None:
    """Assert that a confinement property was not vacuous: it reached many real files.

    hypothesis never repeats an example, so the hits are bounded by the few distinct names
    that do resolve; what matters is that most of the tree's 12 images were reached.
    """
    reached = set(seen) - {None}
    hits = sum(seen.values()) - seen[None]
    assert hits >= 20 and len(reached) >= 10, f"{hits} hits on {len(reached)} files: {reached}"


def _run(check: Callable[..., object], *strategies: st.SearchStrategy) -> Counter[object]:
    """Run `check` over the examples of `strategies`; count the values it returned."""
    seen: Counter[object] = Counter()

    @PROPERTY_SETTINGS
    @given(st.tuples(*strategies))
    def run(args: tuple[object, ...]) -> None:
        seen[check(*args)] += 1

    run()
    return seen


# --- strategies ------------------------------------------------------------------------------

# Decoded-name fragments: what a name may hold once percent-decoding is done.
NAME_FRAGMENTS = [
    "/",
    "//",
    "\\",
    ".",
    "..",
    "...",
    "\x00",
    "%2e",
    "%2f",
    "%5c",
    "%00",
    "%",
    "~",
    ";",
    "?",
    "#",
    " ",
    ":",
    "\uff0e",  # fullwidth full stop (NFKC: `.`)
    "\uff0f",  # fullwidth solidus (NFKC: `/`)
    "\uff3c",  # fullwidth reverse solidus
    "\u2024",  # one dot leader (NFKC: `.`)
    "\u2025",  # two dot leader (NFKC: `..`)
    "\u2215",  # division slash
    "\u2044",  # fraction slash
    "\ufe52",  # small full stop
    "\xc0\xae",  # an overlong `.` left undecoded, seen as latin-1
    "\xc0\xaf",
    "\ud800",  # lone surrogates: not encodable for the file system
    "\udc80",
    "\udfff",
    ".png",
    ".jpg",
    ".PNG",
    "a.png",
    "b.jpg",
    ".hidden.png",
    "été.png",
    "with space.png",
    "%2e%2e.png",
    "..png",
    "sub",
    "inner.png",
    "deeper",
    "x.png",
    "indir",
    "in_link.png",
    "in_up.png",
    "out_rel.jpg",
    "out_abs.png",
    "out_txt.png",
    "out_up.png",
    "sibling.png",
    "outdir",
    "outdir_abs",
    "outside",
    "secret.jpg",
    "secret.png",
    "secret2.png",
    "secret.txt",
    "root",
    "root-sibling",
    "b.png",
    "notes.txt",
    "x.svg",
    "dir.png",
    "pipe.png",
    "dangling.png",
    "loop.png",
    "/etc/passwd",
    "etc",
    "passwd",
]

# Raw (still percent-encoded) fragments, as they appear in a request target.
RAW_FRAGMENTS = [
    "/",
    "//",
    "\\",
    ".",
    "..",
    "%2e",
    "%2E",
    "%2e%2e",
    ".%2e",
    "%2e.",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "%00",
    "%252e",
    "%252f",
    "%252F",
    "%25",
    "%",
    "%2",
    "%zz",
    "%c0%ae",
    "%c0%af",
    "%c1%9c",
    "%c1%8s",
    "%e0%80%ae",
    "%e0%80%af",
    "%f0%80%80%ae",
    "%ef%bc%8e",  # fullwidth full stop
    "%ef%bc%8f",  # fullwidth solidus
    "%ef%bc%bc",  # fullwidth reverse solidus
    "%e2%80%a5",  # two dot leader
    "%e2%88%95",  # division slash
    "%ed%a0%80",  # an encoded surrogate: invalid UTF-8
    "%ff",
    "%80",
    "\xc3\xa9",  # raw non-ASCII bytes, as the engine hands them over (latin-1)
    ";",
    ";x=1",
    "?",
    "?x=../",
    "#",
    "#/../",
    "%3f",
    "%23",
    "%3b",
    "%20",
    "a.png",
    "%61.png",
    "b.jpg",
    ".hidden.png",
    "%C3%A9t%C3%A9.png",
    "with%20space.png",
    "%252e%252e.png",
    "sub",
    "s%75b",
    "inner.png",
    "indir",
    "in_link.png",
    "out_rel.jpg",
    "out_abs.png",
    "sibling.png",
    "outdir",
    "outdir_abs",
    "secret.jpg",
    "secret2.png",
    "secret.txt",
    "root-sibling",
    "etc",
    "passwd",
    "http://h",
    "file:",
]

# Segments that name something in (or next to) the tree, so that generated paths really
# reach files: without them, almost every example would be refused for being missing.
TREE_SEGMENTS = [
    "a.png",
    "b.jpg",
    ".hidden.png",
    "été.png",
    "with space.png",
    "%2e%2e.png",
    "..png",
    "sub",
    "deeper",
    "inner.png",
    "x.png",
    "indir",
    "in_link.png",
    "in_up.png",
    "out_rel.jpg",
    "out_up.png",
    "sibling.png",
    "outdir",
    "outdir_abs",
    "root",
    "root-sibling",
    "b.png",
    "secret.jpg",
    "secret2.png",
    "pipe.png",
]
DOT_SEGMENTS = ["", ".", "..", "...", "\uff0e\uff0e", "..\\..", ".\x00"]
RAW_TREE_SEGMENTS = [quote(segment) for segment in TREE_SEGMENTS] + [
    "%61.png",
    "s%75b",
    "%C3%A9t%C3%A9.png",
    "%252e%252e.png",
]
RAW_PREFIXES = ["./", "../", "sub/../", "/", "%2e%2e/", ".%2e/", "%2e%2e%2f", "%2f"]
RAW_PREFIXES += ["%5c", "..%5c", "%c0%ae%c0%ae/", "%ef%bc%8e%ef%bc%8e/", "%00/", "s%75b/%2e%2e/"]
RAW_SUFFIXES = [".", "/", "/.", "%00", "%5c", "%2f", ";x", "?x=../", "#/../", "%20"]
RAW_SUFFIXES += ["%2e", "%ef%b9%92", "%ff"]
RAW_DOT_SEGMENTS = ["", ".", "..", "%2e", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e"]

# Whole paths of the tree (inside, and leaving through `..` or a symlink), to be mutated.
TREE_PATHS = [
    "a.png",
    "b.jpg",
    "c.gif",
    "d.webp",
    ".hidden.png",
    "été.png",
    "with space.png",
    "%2e%2e.png",
    "..png",
    "...png",
    "sub/inner.png",
    "sub/deeper/x.png",
    "in_link.png",
    "sub/in_up.png",
    "indir/inner.png",
    "indir/deeper/x.png",
    "out_rel.jpg",
    "out_abs.png",
    "out_txt.png",
    "sibling.png",
    "sub/out_up.png",
    "outdir/secret.jpg",
    "outdir/secret.png",
    "outdir/root-sibling/b.png",
    "outdir/outside/secret2.png",
    "outdir/root/a.png",
    "outdir_abs/secret2.png",
    "../secret.jpg",
    "sub/../a.png",
    "sub/../../secret.png",
    "pipe.png",
    "dir.png",
]
PATH_PREFIXES = ["./", "../", "sub/../", "/", "//", "outdir/root/", "indir/../"]
PATH_PREFIXES += ["\\", "..\\", ".\x00/", "\uff0e\uff0e/", "%2e%2e/", "\ud800/"]
PATH_SUFFIXES = [".", "/", "/.", "\x00", "%00", "\\", " ", ";x", "?", "#"]
PATH_SUFFIXES += ["\ufe52", "\udc80"]

_free_text = st.text(max_size=4)
_full_text = st.text(st.characters(codec=None), max_size=6)  # surrogates included


def _joined(segments: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Paths of 1 to 5 segments joined by literal `/`."""
    return st.lists(segments, min_size=1, max_size=5).map("/".join)


def _mutations(
    prefixes: list[str], suffixes: list[str], encode: Callable[[str], str]
) -> st.SearchStrategy[str]:
    """Paths of the tree (encoded by `encode`), often bare, else with a dangerous affix."""
    return st.tuples(
        st.one_of(st.just(""), st.sampled_from(prefixes)),
        st.sampled_from(TREE_PATHS).map(encode),
        st.one_of(st.just(""), st.sampled_from(suffixes)),
    ).map("".join)


tree_path_mutations = _mutations(PATH_PREFIXES, PATH_SUFFIXES, str)
raw_tree_path_mutations = _mutations(RAW_PREFIXES, RAW_SUFFIXES, quote)
dangerous_names = st.one_of(
    tree_path_mutations,
    _joined(
        st.one_of(
            st.sampled_from(TREE_SEGMENTS),
            st.sampled_from(DOT_SEGMENTS),
            st.lists(st.sampled_from(NAME_FRAGMENTS), min_size=1, max_size=3).map("".join),
        )
    ),
    st.lists(st.one_of(st.sampled_from(NAME_FRAGMENTS), _free_text), min_size=1, max_size=10).map(
        "".join
    ),
    _full_text,
)
raw_tails = st.one_of(
    raw_tree_path_mutations,
    _joined(
        st.one_of(
            st.sampled_from(RAW_TREE_SEGMENTS),
            st.sampled_from(RAW_DOT_SEGMENTS),
            st.lists(st.sampled_from(RAW_FRAGMENTS), min_size=1, max_size=3).map("".join),
        )
    ),
    st.lists(st.one_of(st.sampled_from(RAW_FRAGMENTS), st.text(max_size=3)), max_size=12).map(
        "".join
    ),
)
route_prefixes = st.sampled_from(
    [
        ("/images/", 1),
        ("/d/abc123/", 2),
        ("http://127.0.0.1/images/", 1),
        ("HTTP://evil.example/d/abc123/", 2),
        ("/images/sub/", 1),  # the name starts deeper: the prefix count still rules
    ]
)


def _absolute_fragments(ptree: PropertyTree) -> st.SearchStrategy[str]:
    """Absolute names of the root and its secrets, bare or repeated, to prefix a name with."""
    paths = [ptree.root_real, str(ptree.base), *sorted(ptree.secrets)]
    return st.sampled_from(paths + [p.lstrip("/") for p in paths] + ["/" + p for p in paths])


# --- properties ------------------------------------------------------------------------------


def test_resolve_image_file_only_answers_with_images_inside_the_root(ptree):
    """Any decoded name either is refused (None) or resolves to a real image inside the root."""
    names = st.one_of(
        tree_path_mutations,
        dangerous_names,
        st.tuples(_absolute_fragments(ptree), dangerous_names).map("".join),
    )

    def check(name: str) -> str | None:
        result = resolve_image_file(ptree.root_real, name)
        if result is None:
            return None
        assert_confined(ptree, name, result)
        return result[0]

    assert_reached_files(_run(check, names))


def test_raw_request_target_never_resolves_outside_the_root(ptree):
    """The route's whole chain: raw target -> path -> name -> file, confined for any input."""

    def check(prefix_and_count: tuple[str, int], tail: str) -> str | None:
        prefix, prefix_segments = prefix_and_count
        raw_path = raw_request_path({"RAW_URI": prefix + tail})
        name = name_from_raw_path(raw_path, prefix_segments)
        if name is None:
            return None
        assert_safe_name(name)
        result = resolve_image_file(ptree.root_real, name)
        if result is None:
            return None
        assert_confined(ptree, name, result)
        return result[0]

    assert_reached_files(_run(check, route_prefixes, raw_tails))


def test_name_from_raw_path_never_yields_an_unsafe_name():
    """No empty, `.` or `..` segment, no `\\`, no NUL; separators are the literal `/` only.

    The count of `/` in the name equals the count of literal `/` after the prefix, so no
    encoded `%2F` (or `%252F`, overlong `%c0%af`, fullwidth `%ef%bc%8f`) ever became one.
    """
    raw_paths = st.tuples(
        st.sampled_from(["/images", "/d/abc123", "", "/d"]),
        st.integers(min_value=0, max_value=3),
        raw_tails,
    )

    def check(parts: tuple[str, int, str]) -> bool:
        prefix, prefix_segments, tail = parts
        raw_path = f"{prefix}/{tail}"
        name = name_from_raw_path(raw_path, prefix_segments)
        if name is None:
            return False
        assert_safe_name(name)
        assert is_safe_relative_name(name)
        literal_separators = raw_path.count("/") - 1 - prefix_segments
        assert name.count("/") == literal_separators, (raw_path, name)
        return True

    seen = _run(check, raw_paths)
    assert seen[True] >= 100, seen


def _encode(segment: str, lower_hex: bool) -> str:
    """Percent-encode every reserved byte of one segment (`/` too), hex in either case."""
    encoded = quote(segment, safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded) if lower_hex else encoded


def test_encoded_separator_stays_inside_its_segment():
    """Segments encoded on their own decode back to exactly themselves, never split further.

    So a segment holding `/` (sent as `%2F` or `%2f`) makes the whole name unsafe (None),
    rather than becoming a path separator; every other name comes back unchanged.
    """
    segment = st.one_of(
        st.sampled_from(["/", "..", ".", "", "\\", "\x00", "a/b.png", "../x", "%2F", "a.png"]),
        st.text(max_size=6),
    )

    def check(segments: list[str], lower_hex: bool) -> bool:
        raw_path = "/images/" + "/".join(_encode(s, lower_hex) for s in segments)
        assert decode_segments(raw_path) == ["", "images", *segments]
        name = name_from_raw_path(raw_path, 1)
        safe = all(s not in ("", ".", "..") and not set(s) & {"/", "\\", "\x00"} for s in segments)
        assert name == ("/".join(segments) if safe else None), (raw_path, name)
        return safe

    seen = _run(check, st.lists(segment, min_size=1, max_size=4), st.booleans())
    assert seen[True] >= 100 and seen[False] >= 100, seen


def test_decode_segments_splits_on_literal_slashes_only():
    """One segment per literal `/` (plus one), or None for undecodable input; never more."""

    def check(raw_path: str) -> bool:
        segments = decode_segments(raw_path)
        if segments is None:
            return False
        assert len(segments) == raw_path.count("/") + 1, (raw_path, segments)
        for segment in segments:
            segment.encode("utf-8")  # strict: no lone surrogate can come out of decoding
        return True

    raw_paths = st.one_of(raw_tails, st.text(st.characters(codec=None), max_size=12))
    seen = _run(check, raw_paths)
    assert seen[True] >= 100 and seen[False] >= 10, seen


def test_is_safe_relative_name_means_lexically_below_the_root():
    """A name is safe exactly when no segment is empty, `.`, `..` or holds `\\`/NUL; then
    joining it under a root (lexically, as `safe_join` does) stays strictly below that root.
    """
    root = "/srv/root"

    def check(name: str) -> bool:
        segments = name.split("/")
        expected = bool(name) and all(
            s not in ("", ".", "..") and "\\" not in s and "\x00" not in s for s in segments
        )
        safe = is_safe_relative_name(name)
        assert safe is expected, repr(name)
        if safe:
            joined = posixpath.normpath(posixpath.join(root, name))
            assert joined == f"{root}/{name}", repr(name)
            assert posixpath.commonpath([joined, root]) == root
            assert not posixpath.isabs(name)
        return safe

    seen = _run(check, dangerous_names)
    assert seen[True] >= 100 and seen[False] >= 100, seen


# --- the tree itself (so the properties above are not vacuous) ---------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a.png",
        "b.jpg",
        ".hidden.png",
        "été.png",
        "with space.png",
        "%2e%2e.png",
        "..png",
        "...png",
        "sub/inner.png",
        "sub/deeper/x.png",
        "in_link.png",
        "sub/in_up.png",
        "indir/inner.png",
    ],
)
def test_tree_names_inside_the_root_resolve(ptree, name):
    result = resolve_image_file(ptree.root_real, name)
    assert result is not None, name
    assert_confined(ptree, name, result)


@pytest.mark.parametrize(
    "name",
    [
        "out_rel.jpg",
        "out_abs.png",
        "out_txt.png",
        "sibling.png",
        "sub/out_up.png",
        "outdir/secret.jpg",
        "outdir/secret.png",
        "outdir/root-sibling/b.png",
        "outdir_abs/secret2.png",
        "../secret.jpg",
        "notes.txt",
        "x.svg",
        "dir.png",
        "pipe.png",
        "dangling.png",
        "loop.png",
        "\ud800.png",
        "sub/\ud800/x.png",
    ],
)
def test_tree_names_leaving_the_root_are_refused(ptree, name):
    assert resolve_image_file(ptree.root_real, name) is None
