"""CONTRACT B.4, first bullet: nothing outside a loaded directory is ever readable.

Requests go out RAW over a socket, so no client library normalises `..`, re-encodes `%2F` or
refuses odd bytes: the server sees exactly the request target written here. The pure
predicates of `imageserver/security.py` are checked directly with tables.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest

from imageserver.security import is_safe_segment
from imageserver.security import is_within
from imageserver.security import name_from_raw_path
from imageserver.security import resolve_image_file
from tests.support.images import make_frames
from tests.support.images import make_image

PASSWD_MARKER = b"root:x:0:0"
LEGIT_FRAME = "frame_000000.jpg"
LEGIT_INNER = "sub/inner.png"


# --- the tree --------------------------------------------------------------------------------


@dataclass
class Tree:
    root: Path
    public: Path
    marker: bytes

    @property
    def secret_png(self) -> Path:
        return self.root / "secret.png"


def build_tree(root: Path) -> Tree:
    """`root/public` is loaded; secrets with a unique marker sit next to it, outside it."""
    marker = f"CONFIDENTIAL-{uuid.uuid4().hex}".encode()
    public = root / "public"
    make_frames(public, 3)
    make_image(public / ".hidden.png", color=7)
    make_image(public / LEGIT_INNER, color=8)
    secret_png = make_image(root / "secret.png", color=9)
    secret_png.write_bytes(secret_png.read_bytes() + marker)
    (root / "secret.txt").write_bytes(b"secret text " + marker + b"\n")
    # A sibling whose name shares the loaded folder's prefix (`public` / `public-other`).
    sibling = make_image(root / "public-other" / "secret.png", color=10)
    sibling.write_bytes(sibling.read_bytes() + marker)
    (public / "escape.png").symlink_to("../secret.png")
    (public / "abs.png").symlink_to(secret_png)
    (public / "escape.jpg").symlink_to("../secret.txt")
    (public / "linkdir").symlink_to("..")
    (public / "sub" / "up.png").symlink_to("../../secret.png")
    return Tree(root=root, public=public, marker=marker)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return build_tree(tmp_path / "root")


# --- raw HTTP --------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def from_gunicorn(self) -> bool:
        """gunicorn's own rejection of a malformed request line (it never reached the app).

        gunicorn writes those answers itself, without the `Server` header it adds to every
        response of the app.
        """
        return self.status in (400, 414, 431) and "Server" not in self.headers


def raw_request(port: int, target: bytes, method: bytes = b"GET") -> RawResponse:
    """Send one request with `target` written verbatim in the request line."""
    request = (
        method
        + b" "
        + target
        + b" HTTP/1.1\r\nHost: 127.0.0.1:"
        + str(port).encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock, method=method.decode())
        response.begin()
        body = response.read()
        return RawResponse(response.status, response.headers, body)


# --- the payloads ----------------------------------------------------------------------------

UPS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%c0%ae%c0%ae",
    "%e0%80%ae%e0%80%ae",
    "..%00",
]
SEPARATORS = ["/", "%2F", "%2f", "%5C", "%5c", "\\", "%252f", "%c0%af"]
TARGETS = ["secret.png", "secret.txt", "public-other{sep}secret.png"]


def payload_templates(secret_abs: str) -> list[tuple[str, str | None]]:
    """Return (template, legit file) pairs; `{p}` is the image route prefix (ends with `/`).

    The legit file is the name under `public/` that the payload names, for the few payloads
    that rightly answer 200; None for every other one (which must never answer 200).
    """
    templates: list[tuple[str, str | None]] = []
    for up in UPS:
        for sep in SEPARATORS:
            for target in TARGETS:
                templates.append(("{p}" + up + sep + target.format(sep=sep), None))
            deep = (up + sep) * 10 + "etc" + sep + "passwd"
            templates.append(("{p}" + deep, None))
    specials = [
        # Symlinks whose target leaves the root.
        "{p}escape.png",
        "{p}abs.png",
        "{p}escape.jpg",
        "{p}sub/up.png",
        "{p}linkdir/secret.png",
        "{p}linkdir/secret.txt",
        "{p}linkdir/public-other/secret.png",
        "{p}linkdir/linkdir/secret.png",
        "{p}linkdir/public/frame_000000.jpg",
        "{p}linkdir%2Fsecret.png",
        "{p}linkdir%2fsecret.png",
        # Files outside, named directly.
        "{p}secret.png",
        "{p}secret.txt",
        # Absolute segments.
        "{p}/etc/passwd",
        "{p}//etc/passwd",
        "{p}%2Fetc%2Fpasswd",
        "{p}%2fetc%2fpasswd",
        "{p}%5Cetc%5Cpasswd",
        "{p}\\etc\\passwd",
        "{p}" + secret_abs.lstrip("/"),
        "{p}/" + secret_abs.lstrip("/"),
        "{p}" + quote(secret_abs, safe=""),
        "{p}" + quote(secret_abs, safe="").replace("%2F", "%5C"),
        "{p}C:%5Cwindows%5Cwin.ini",
        "{p}C:/etc/passwd",
        "{p}file:%2F%2F%2Fetc%2Fpasswd",
        # Encoded separators inside the loaded folder.
        "{p}sub%2Finner.png",
        "{p}sub%2finner.png",
        "{p}sub%5Cinner.png",
        "{p}sub%5cinner.png",
        "{p}sub\\inner.png",
        "{p}sub%252Finner.png",
        # Dot segments.
        "{p}..",
        "{p}%2e%2e",
        "{p}.",
        "{p}./secret.png",
        "{p}./../secret.png",
        "{p}sub/../../secret.png",
        "{p}sub/..%2F..%2Fsecret.png",
        "{p}sub/%2e%2e/%2e%2e/secret.png",
        "{p}sub/../frame_000000.jpg",
        "{p}..;/secret.png",
        "{p}.../secret.png",
        "{p}..../secret.png",
        "{p}....//secret.png",
        "{p}..././secret.png",
        "{p}%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.png",
        "{p}%25%32%65%25%32%65%25%32%66secret.png",
        "{p}%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.png",
        "{p}%uff0e%uff0e%u2215secret.png",
        # NUL bytes.
        "{p}%00",
        "{p}secret.png%00.png",
        "{p}frame_000000.jpg%00",
        "{p}frame_000000.jpg%00.png",
        "{p}..%00/secret.png",
        "{p}%00/../secret.png",
        # Very long names.
        "{p}" + "a" * 300 + ".png",
        "{p}" + "a" * 3000 + ".png",
        "{p}" + "a" * 5000 + ".png",
        "{p}" + "../" * 1000 + "secret.png",
        "{p}" + "..%2F" * 1000 + "secret.png",
        # Query strings and fragments that try to smuggle a path.
        "{p}..%2Fsecret.png?x=1",
        "{p}secret.png?",
        "{p}%3F/../secret.png",
        "{p}%23/../secret.png",
        # Odd bytes in the request line (gunicorn may reject these itself).
        "{p}.. /secret.png",
        "{p}\xc0\xae\xc0\xae/secret.png",
        "{p}\xc3\xa9t\xc3\xa9.png",
    ]
    templates.extend((special, None) for special in specials)
    templates.extend(
        [
            ("{p}" + LEGIT_FRAME, LEGIT_FRAME),
            ("{p}.hidden.png", ".hidden.png"),
            ("{p}" + LEGIT_INNER, LEGIT_INNER),  # legit only when loaded recursively
            ("{p}" + LEGIT_FRAME + "?../../secret.png", LEGIT_FRAME),
            ("{p}" + LEGIT_FRAME + "#/../../secret.png", LEGIT_FRAME),
        ]
    )
    return templates


# Payloads that do not start with an image route prefix.
ROUTE_LEVEL_PAYLOADS = [
    "//etc/passwd",
    "///etc/passwd",
    "/../secret.png",
    "/..%2Fsecret.png",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/images%2F..%2Fsecret.png",
    "/images%2f..%2fsecret.png",
    "/images/..",
    "/images/../secret.png",
    "/images%00/secret.png",
    "/images",
    "/images/",
    "/d/../secret.png",
    "/d/..%2F..%2Fsecret.png/x.png",
    "/d/%2e%2e/secret.png",
    "/d/%2e%2e/%2e%2e/secret.png",
    "/d/{id}%2F..%2F..%2Fsecret.png",
    "/d/{id}/",
    "/d/{id}",
    "/d/{id}/../secret.png",
    "/d/{id}/../{id}/frame_000000.jpg",
    "/d/%2Fetc/passwd",
    "/d//etc/passwd",
    "/d/{id}//etc/passwd",
    "/static/../secret.png",
    "/robots.txt/../secret.png",
    "/healthz/../secret.png",
    "/api/directories/{id}/images/../../../secret.png",
    "http://127.0.0.1/images/../secret.png",
    "http://127.0.0.1/images/..%2Fsecret.png",
    "http://evil.example/d/{id}/..%2F..%2Fsecret.png",
    "*",
]


@dataclass(frozen=True)
class Payload:
    target: str
    legit: str | None  # the file under public/ that it rightly names, else None


def build_payloads(tree: Tree, dir_path: str, dir_id: str, recursive: bool) -> list[Payload]:
    """Expand the templates under `/images/` and `/d/<id>/` for one loaded directory."""
    payloads: list[Payload] = []
    for prefix in ("/images/", dir_path):
        for template, legit in payload_templates(str(tree.secret_png)):
            if legit == LEGIT_INNER and not recursive:
                legit = None
            payloads.append(Payload(template.replace("{p}", prefix), legit))
    for target in ROUTE_LEVEL_PAYLOADS:
        payloads.append(Payload(target.replace("{id}", dir_id), None))
    return payloads


def violations(payload: Payload, response: RawResponse, tree: Tree) -> list[str]:
    """Return every way `response` breaks B.4 for `payload` (empty when it is fine)."""
    problems = []
    everything = response.body + str(response.headers).encode()
    if tree.marker in everything:
        problems.append("leaked the secret marker")
    if PASSWD_MARKER in everything:
        problems.append("leaked /etc/passwd")
    if b"Traceback" in everything:
        problems.append("leaked a traceback")
    if response.status >= 500:
        problems.append(f"status {response.status}")
    if payload.legit is not None:
        expected = (tree.public / payload.legit).read_bytes()
        if response.status != 200 or response.body != expected:
            problems.append(f"legit file not served (status {response.status})")
        return problems
    if response.status == 200:
        problems.append("answered 200 for a name outside the loaded directory")
    if response.from_gunicorn:
        return problems  # rejected before the app: allowed, as long as nothing leaked
    if response.status != 404:
        problems.append(f"status {response.status}, expected 404")
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        problems.append(f"non-JSON error body: {response.headers.get('Content-Type')}")
    else:
        try:
            body = json.loads(response.body)
        except ValueError:
            problems.append("error body is not valid JSON")
        else:
            if not (isinstance(body, dict) and isinstance(body.get("detail"), str)):
                problems.append(f"error body is not {{'detail': str}}: {body!r}")
    return problems


def sweep(api, tree: Tree, recursive: bool) -> tuple[int, list[str]]:
    body = api.load(tree.public, recursive=recursive)
    dir_path = urlsplit(body["url_prefix"]).path
    payloads = build_payloads(tree, dir_path, body["id"], recursive)
    port = api.server.port
    failures = []
    for payload in payloads:
        response = raw_request(port, payload.target.encode("latin-1"))
        problems = violations(payload, response, tree)
        if problems:
            shown = payload.target if len(payload.target) < 120 else payload.target[:117] + "..."
            failures.append(f"{shown!r} -> {response.status}: {', '.join(problems)}")
    return len(payloads), failures


@pytest.mark.parametrize("recursive", [True, False], ids=["recursive", "flat"])
def test_no_request_target_reads_outside_the_loaded_directory(api, tree, recursive):
    count, failures = sweep(api, tree, recursive)
    assert count >= 150
    assert not failures, f"{len(failures)} of {count} payloads misbehaved:\n" + "\n".join(failures)


@pytest.mark.parametrize("name", ["escape.png", "abs.png", "escape.jpg", "sub/up.png"])
def test_symlink_leaving_the_root_is_404_like_a_missing_file(api, tree, name):
    body = api.load(tree.public, recursive=True)
    dir_path = urlsplit(body["url_prefix"]).path
    for prefix in ("/images/", dir_path):
        response = raw_request(api.server.port, (prefix + name).encode())
        assert response.status == 404
        assert json.loads(response.body) == {"detail": f"Image not found: {name}"}


def test_symlinked_folder_pointing_above_the_root_is_not_followed(api, tree):
    api.load(tree.public, recursive=True)
    for target in ("linkdir/secret.png", "linkdir/public/frame_000000.jpg"):
        response = raw_request(api.server.port, f"/images/{target}".encode())
        assert response.status == 404
        assert tree.marker not in response.body


def test_sub_folder_images_are_served_only_when_loaded_recursively(api, tree):
    inner = (tree.public / LEGIT_INNER).read_bytes()
    api.load(tree.public, recursive=False)
    flat = raw_request(api.server.port, b"/images/sub/inner.png")
    assert flat.status == 404
    assert json.loads(flat.body) == {"detail": "Image not found: sub/inner.png"}
    api.load(tree.public, recursive=True)
    deep = raw_request(api.server.port, b"/images/sub/inner.png")
    assert deep.status == 200
    assert deep.body == inner


def test_head_never_reveals_files_outside_the_root(api, tree):
    body = api.load(tree.public, recursive=True)
    dir_path = urlsplit(body["url_prefix"]).path
    for prefix in ("/images/", dir_path):
        for rest in ("escape.png", "..%2Fsecret.png", "%2e%2e/secret.png", "linkdir/secret.png"):
            response = raw_request(api.server.port, (prefix + rest).encode(), method=b"HEAD")
            assert response.status == 404, (prefix + rest, response.status)
            assert response.body == b""


def test_unloaded_directory_is_no_longer_readable(api, tree):
    body = api.load(tree.public)
    dir_path = urlsplit(body["url_prefix"]).path
    assert raw_request(api.server.port, f"{dir_path}{LEGIT_FRAME}".encode()).status == 200
    api.post("/unload")
    for target in (f"{dir_path}{LEGIT_FRAME}", f"/images/{LEGIT_FRAME}", "/images/etc/passwd"):
        response = raw_request(api.server.port, target.encode())
        assert response.status in (400, 404), (target, response.status)
        assert response.body != (tree.public / LEGIT_FRAME).read_bytes()
        assert PASSWD_MARKER not in response.body


# --- pure predicates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "safe"),
    [
        ("frame.png", True),
        (".hidden.png", True),
        ("with space.png", True),
        ("été.png", True),
        ("...", True),
        ("..png", True),
        ("%2e%2e", True),  # a literal name: decoding happens once, before this check
        ("", False),
        (".", False),
        ("..", False),
        ("a/b.png", False),
        ("/", False),
        ("a\\b.png", False),
        ("..\\", False),
        ("a\x00.png", False),
        ("\x00", False),
    ],
)
def test_is_safe_segment(segment, safe):
    assert is_safe_segment(segment) is safe


@pytest.mark.parametrize(
    ("raw_path", "prefix_segments", "name"),
    [
        ("/images/a.png", 1, "a.png"),
        ("/images/with%20space.png", 1, "with space.png"),
        ("/images/%C3%A9t%C3%A9.png", 1, "été.png"),
        ("/images/.hidden.png", 1, ".hidden.png"),
        ("/images/sub/x.png", 1, "sub/x.png"),
        ("/d/abc/sub/x.png", 2, "sub/x.png"),
        ("/d/abc/x.png", 2, "x.png"),
        ("/images/%252e%252e/x.png", 1, "%2e%2e/x.png"),  # decoded once, never twice
        ("/images/../secret.png", 1, None),
        ("/images/%2e%2e/secret.png", 1, None),
        ("/images/%2E%2E/secret.png", 1, None),
        ("/images/.%2e/secret.png", 1, None),
        ("/images/..%2Fsecret.png", 1, None),
        ("/images/a%2Fb.png", 1, None),
        ("/images/a%2fb.png", 1, None),
        ("/images/a%5Cb.png", 1, None),
        ("/images/a%5cb.png", 1, None),
        ("/images/a\\b.png", 1, None),
        ("/images/..%5Csecret.png", 1, None),
        ("/images/a%00.png", 1, None),
        ("/images/%00", 1, None),
        ("/images//etc/passwd", 1, None),
        ("/images/%2Fetc%2Fpasswd", 1, None),
        ("/images/%c0%ae%c0%ae/secret.png", 1, None),
        ("/images/./a.png", 1, None),
        ("/images/sub/../a.png", 1, None),
        ("/images/a.png/", 1, None),
        ("/images/", 1, None),
        ("/images", 1, None),
        ("/d/abc/", 2, None),
        ("/d/abc/..", 2, None),
    ],
)
def test_name_from_raw_path(raw_path, prefix_segments, name):
    assert name_from_raw_path(raw_path, prefix_segments) == name


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/srv/frames", "/srv/frames", True),
        ("/srv/frames/a.png", "/srv/frames", True),
        ("/srv/frames/sub/a.png", "/srv/frames/", True),
        ("/srv/frames-other/a.png", "/srv/frames", False),
        ("/srv/framesa.png", "/srv/frames", False),
        ("/srv/a.png", "/srv/frames", False),
        ("/etc/passwd", "/srv/frames", False),
    ],
)
def test_is_within(path, root, inside):
    assert is_within(path, root) is inside


@pytest.fixture
def resolve_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_image(root / "a.png", color=1)
    make_image(root / ".hidden.png", color=2)
    make_image(root / "sub" / "inner.png", color=3)
    make_image(root / "dir.png" / "x.png", color=4)
    (root / "notes.txt").write_text("text")
    (root / "x.svg").write_text("<svg/>")
    (root / "alias.png").symlink_to("a.png")
    (root / "sub" / "alias.png").symlink_to("../a.png")
    (root / "escape.png").symlink_to("../secret.png")
    (root / "abs.png").symlink_to(tmp_path / "secret.png")
    (root / "linkdir").symlink_to("..")
    (root / "dangling.png").symlink_to("missing.png")
    (root / "loop.png").symlink_to("loop.png")
    (root / "dirlink.png").symlink_to("dir.png")
    make_image(tmp_path / "secret.png", color=5)
    make_image(tmp_path / "root-other" / "b.png", color=6)
    (root / "sibling.png").symlink_to("../root-other/b.png")
    return root


@pytest.mark.parametrize(
    ("name", "resolves_to"),
    [
        ("a.png", "a.png"),
        (".hidden.png", ".hidden.png"),
        ("sub/inner.png", "sub/inner.png"),
        ("alias.png", "a.png"),
        ("sub/alias.png", "a.png"),
        ("notes.txt", None),
        ("x.svg", None),
        ("dir.png", None),
        ("dirlink.png", None),
        ("missing.png", None),
        ("dangling.png", None),
        ("loop.png", None),
        ("escape.png", None),
        ("abs.png", None),
        ("sibling.png", None),
        ("linkdir/secret.png", None),
        ("linkdir/root-other/b.png", None),
        ("../secret.png", None),
        ("sub/../../secret.png", None),
        ("sub/../a.png", None),
        ("./a.png", None),
        ("/etc/passwd", None),
        ("//etc/passwd", None),
        ("sub\\inner.png", None),
        ("..\\secret.png", None),
        ("a.png\x00", None),
        ("a.png\x00.png", None),
        ("", None),
        ("a" * 5000 + ".png", None),
    ],
)
def test_resolve_image_file(resolve_root, name, resolves_to):
    root_real = os.path.realpath(resolve_root)
    result = resolve_image_file(root_real, name)
    if resolves_to is None:
        assert result is None
        return
    assert result is not None
    real, info = result
    assert real == os.path.realpath(resolve_root / resolves_to)
    assert info.st_size == (resolve_root / resolves_to).stat().st_size
