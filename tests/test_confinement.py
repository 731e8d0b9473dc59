"""SECURITY.md, first bullet: nothing outside a loaded directory is ever readable.

Requests go out RAW over a socket, so no client library normalises `..`, re-encodes `%2F` or
refuses odd bytes: the server sees exactly the request target written here. Every payload of
the corpus goes to both image routes (`/images/<name>` and `/d/<id>/<name>`), with GET and
HEAD, with the directory loaded flat and recursively. The secrets next to the loaded folder
are real images (so an extension check alone can't save us) carrying a unique marker, which
must never appear in any response. The pure predicates of `imageserver/security/confinement.py` are
checked directly with tables here, and with generated inputs in
`tests/test_confinement_property.py`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest

from imageserver.security.confinement import is_safe_segment
from imageserver.security.confinement import is_within
from imageserver.security.confinement import name_from_raw_path
from imageserver.security.confinement import resolve_image_file
from tests.conftest import Api
from tests.support.images import make_frames
from tests.support.images import make_image
from tests.support.parts import missing_part

PASSWD_MARKER = b"root:x:0:0"
LEGIT_FRAME = "frame_000000.jpg"
LEGIT_INNER = "sub/inner.png"
METHODS = (b"GET", b"HEAD")
# The corpus may grow, never silently shrink: distinct raw request targets per loaded mode.
MIN_DISTINCT_TARGETS = 2200
# The shared server runs 2 workers x 4 threads; as many requests in flight keeps it busy.
SWEEP_CONCURRENCY = 8


# --- the tree --------------------------------------------------------------------------------


@dataclass
class Tree:
    """The loaded folder (`public`), the secrets around it and what betrays them."""

    root: Path
    public: Path
    marker: bytes
    secret_images: tuple[bytes, ...]  # the secrets' image bytes, without the marker

    @property
    def secret_png(self) -> Path:
        """The secret PNG next to the loaded folder (a real image, plus the marker)."""
        return self.root / "secret.png"


def _secret_image(path: Path, marker: bytes, color: int) -> bytes:
    """Write a real image followed by `marker`; return the image bytes alone."""
    image = make_image(path, color=color).read_bytes()
    path.write_bytes(image + marker)
    return image


def build_tree(root: Path) -> Tree:
    """`root/public` is loaded; secrets with a unique marker sit next to it, outside it."""
    marker = f"CONFIDENTIAL-{uuid.uuid4().hex}".encode()
    public = root / "public"
    make_frames(public, 3)
    make_image(public / ".hidden.png", color=7)
    make_image(public / LEGIT_INNER, color=8)
    secret_images = (
        _secret_image(root / "secret.png", marker, 9),
        _secret_image(root / "secret.jpg", marker, 11),
        # A sibling whose name shares the loaded folder's prefix (`public` / `public-other`).
        _secret_image(root / "public-other" / "secret.png", marker, 10),
        _secret_image(root / "outside" / "secret3.png", marker, 12),
    )
    (root / "secret.txt").write_bytes(b"secret text " + marker + b"\n")
    (public / "escape.png").symlink_to("../secret.png")
    (public / "abs.png").symlink_to(root / "secret.png")
    (public / "escape.jpg").symlink_to("../secret.txt")
    (public / "leak.jpg").symlink_to("../secret.jpg")
    (public / "leak_abs.jpg").symlink_to(root / "secret.jpg")
    (public / "linkdir").symlink_to("..")
    (public / "linkout").symlink_to(root / "outside")
    (public / "sub" / "up.png").symlink_to("../../secret.png")
    return Tree(root=root, public=public, marker=marker, secret_images=secret_images)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """A fresh tree for each test (the hard-link test adds a file to it)."""
    return build_tree(tmp_path / "root")


# --- raw HTTP --------------------------------------------------------------------------------


@dataclass
class RawResponse:
    """One parsed response to a raw request."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def from_engine(self) -> bool:
        """The engine's own rejection of a malformed request (it never reached the app).

        docs/API.md#conventions allows a bodiless 400/414/431 there; every answer of the app
        has a body.
        """
        return self.status in (400, 414, 431) and not self.body


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
    "%252e%252e",  # double encoding: decoded once, it is the literal name `%2e%2e`
    "%25%32%65%25%32%65",  # `%2e%2e` with every character encoded
    ".%252e",
    "%c0%ae%c0%ae",  # overlong UTF-8 (2 bytes)
    "%e0%80%ae%e0%80%ae",  # overlong UTF-8 (3 bytes)
    "%ef%bc%8e%ef%bc%8e",  # fullwidth full stops (NFKC: `..`)
    "%e2%80%a5",  # two dot leader (NFKC: `..`)
    "%u002e%u002e",  # IIS-style %u escapes
    "..%00",
]
SEPARATORS = [
    "/",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "%252f",
    "%255c",
    "%c0%af",  # overlong `/`
    "%e0%80%af",  # overlong `/` (3 bytes)
    "%c1%9c",  # overlong `\`
    "%ef%bc%8f",  # fullwidth solidus (NFKC: `/`)
    "%ef%bc%bc",  # fullwidth reverse solidus
    "%e2%88%95",  # division slash
    "//",
    "/./",
]
TARGETS = ["secret.png", "secret.jpg", "secret.txt", "public-other{sep}secret.png"]


def traversal_templates() -> list[str]:
    """Every way up (`UPS`) with every separator, towards every secret and /etc/passwd."""
    templates = []
    for up in UPS:
        for sep in SEPARATORS:
            for target in TARGETS:
                templates.append("{p}" + up + sep + target.format(sep=sep))
            templates.append("{p}" + (up + sep) * 10 + "etc" + sep + "passwd")
    return templates


def special_templates(secret_abs: str) -> list[str]:
    """Hand-written payloads, by family; `{p}` is the image route prefix (ends with `/`)."""
    secret_enc = quote(secret_abs, safe="")
    return [
        # Symlinks whose target leaves the root, and symlinked folders that lead out.
        "{p}escape.png",
        "{p}abs.png",
        "{p}escape.jpg",
        "{p}leak.jpg",
        "{p}leak_abs.jpg",
        "{p}sub/up.png",
        "{p}linkdir/secret.png",
        "{p}linkdir/secret.jpg",
        "{p}linkdir/secret.txt",
        "{p}linkdir/public-other/secret.png",
        "{p}linkdir/linkdir/secret.png",
        "{p}linkdir/public/frame_000000.jpg",
        "{p}linkdir%2Fsecret.png",
        "{p}linkdir%2fsecret.png",
        "{p}linkout/secret3.png",
        "{p}linkout%2Fsecret3.png",
        "{p}sub/..%2Flinkout/secret3.png",
        # Files outside, named directly.
        "{p}secret.png",
        "{p}secret.jpg",
        "{p}secret.txt",
        "{p}secret3.png",
        # Absolute paths and `file:` forms.
        "{p}/etc/passwd",
        "{p}//etc/passwd",
        "{p}///etc/passwd",
        "{p}%2Fetc%2Fpasswd",
        "{p}%2fetc%2fpasswd",
        "{p}%2F%2Fetc%2Fpasswd",
        "{p}%5Cetc%5Cpasswd",
        "{p}\\etc\\passwd",
        "{p}" + secret_abs.lstrip("/"),
        "{p}/" + secret_abs.lstrip("/"),
        "{p}" + secret_enc,
        "{p}" + secret_enc.replace("%2F", "%5C"),
        "{p}" + secret_enc.replace("%2F", "%c0%af"),
        "{p}C:%5Cwindows%5Cwin.ini",
        "{p}C:/etc/passwd",
        "{p}file:%2F%2F%2Fetc%2Fpasswd",
        "{p}file:///etc/passwd",
        "{p}file://localhost/etc/passwd",
        "{p}file:" + secret_abs,
        "{p}file:%2F%2F" + secret_enc,
        "{p}~/secret.png",
        "{p}~root/.ssh/id_rsa.png",
        # Encoded separators inside the loaded folder.
        "{p}sub%2Finner.png",
        "{p}sub%2finner.png",
        "{p}sub%5Cinner.png",
        "{p}sub%5cinner.png",
        "{p}sub\\inner.png",
        "{p}sub%252Finner.png",
        "{p}sub%c0%afinner.png",
        "{p}sub%ef%bc%8finner.png",
        # Dot segments, `/./` and friends.
        "{p}..",
        "{p}%2e%2e",
        "{p}.",
        "{p}%2e",
        "{p}./secret.png",
        "{p}.//secret.png",
        "{p}./../secret.png",
        "{p}./././../secret.png",
        "{p}%2e/secret.png",
        "{p}%2e%2fsecret.png",
        "{p}./frame_000000.jpg",
        "{p}sub/./inner.png",
        "{p}sub/%2e/inner.png",
        "{p}sub/.%2F../../secret.png",
        "{p}sub/../../secret.png",
        "{p}sub/..%2F..%2Fsecret.png",
        "{p}sub/%2e%2e/%2e%2e/secret.png",
        "{p}sub/../frame_000000.jpg",
        "{p}.../secret.png",
        "{p}..../secret.png",
        "{p}....//secret.png",
        "{p}..././secret.png",
        "{p}%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.png",
        "{p}%25%32%65%25%32%65%25%32%66secret.png",
        # Trailing dots, spaces and Windows-isms.
        "{p}secret.png.",
        "{p}frame_000000.jpg.",
        "{p}frame_000000.jpg..",
        "{p}frame_000000.jpg%2e",
        "{p}frame_000000.jpg/",
        "{p}frame_000000.jpg/.",
        "{p}frame_000000.jpg%20",
        "{p}frame_000000.jpg::$DATA",
        "{p}..%2Fsecret.png.",
        "{p}..%2Fsecret.png%20",
        "{p}sub./inner.png",
        "{p}sub../inner.png",
        "{p}..%2F..%2F..%2Fsecret.png%2e%2e",
        # `;` parameters.
        "{p}..;/secret.png",
        "{p}..;/..;/secret.png",
        "{p};/../secret.png",
        "{p}%3b/../secret.png",
        "{p}..%3b/secret.png",
        "{p}secret.png;",
        "{p}secret.png;.png",
        "{p}frame_000000.jpg;.png",
        "{p}frame_000000.jpg;x=1",
        "{p}sub;/inner.png",
        "{p}..;%2Fsecret.png",
        # `?` and `#` that try to smuggle or hide a path.
        "{p}..%2Fsecret.png?x=1",
        "{p}secret.png?",
        "{p}secret.png#",
        "{p}%3F/../secret.png",
        "{p}%23/../secret.png",
        "{p}?/../secret.png",
        "{p}#/../secret.png",
        "{p}..%3F/secret.png",
        "{p}..%23/secret.png",
        "{p}%3f../secret.png",
        "{p}?x=/../../secret.png",
        "{p}frame_000000.jpg%3F",
        "{p}frame_000000.jpg%23",
        "{p}frame_000000.jpg%3F../../secret.png",
        # Unicode tricks: fullwidth and other look-alike dots and solidi, NFKC confusables.
        "{p}%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.png",
        "{p}%ef%bc%8e%ef%bc%8e/secret.png",
        "{p}..%ef%bc%8fsecret.png",
        "{p}%ef%b9%92%ef%b9%92/secret.png",  # small full stops
        "{p}%e2%80%a4%e2%80%a4/secret.png",  # one dot leaders
        "{p}%e2%80%a5/secret.png",  # two dot leader
        "{p}..%e2%88%95secret.png",  # division slash
        "{p}..%e2%81%84secret.png",  # fraction slash
        "{p}..%ef%bc%bcsecret.png",  # fullwidth reverse solidus
        "{p}..%ef%b9%a8secret.png",  # small reverse solidus
        "{p}%uff0e%uff0e%u2215secret.png",
        "{p}s%ef%bd%85cret.png",  # fullwidth `e`: NFKC gives `secret.png`
        "{p}%ef%bd%86rame_000000.jpg",  # fullwidth `f`: NFKC gives the legit frame
        "{p}frame_000000%ef%bc%8ejpg",  # fullwidth full stop before the extension
        "{p}%ef%ac%81le.png",  # the `fi` ligature
        "{p}.%cc%b8./secret.png",  # combining mark between the dots
        "{p}%e2%80%ae..%2Fsecret.png",  # right-to-left override
        # Overlong UTF-8, alone.
        "{p}%c0%ae%c0%ae%c0%afsecret.png",
        "{p}%e0%80%ae%e0%80%ae%e0%80%afsecret.png",
        "{p}..%c1%9csecret.png",
        "{p}%c1%9c",
        "{p}%c0%ae",
        "{p}%f0%80%80%ae%f0%80%80%ae/secret.png",
        "{p}%ed%a0%80.png",  # an encoded surrogate: invalid UTF-8
        "{p}%ff%fe.png",
        # NUL bytes, encoded and raw (the engine refuses the raw ones itself).
        "{p}%00",
        "{p}secret.png%00.png",
        "{p}frame_000000.jpg%00",
        "{p}frame_000000.jpg%00.png",
        "{p}..%00/secret.png",
        "{p}%00/../secret.png",
        "{p}%2500",
        "{p}\x00",
        "{p}secret.png\x00.png",
        "{p}frame_000000.jpg\x00",
        "{p}..\x00/secret.png",
        # Very long names: 4 KB+ segments (the longest may get the engine's own 414).
        "{p}" + "a" * 251 + ".png",  # 255 bytes: NAME_MAX exactly
        "{p}" + "a" * 300 + ".png",
        "{p}" + "a" * 3000 + ".png",
        "{p}" + "a" * 4000 + ".png",
        "{p}" + "a" * 4096 + ".png",
        "{p}" + "a" * 5000 + ".png",
        "{p}" + "a" * 9000 + ".png",
        "{p}" + "%61" * 1300 + ".png",
        "{p}" + "sub/" * 950 + "inner.png",
        "{p}" + "../" * 1000 + "secret.png",
        "{p}" + "..%2F" * 1000 + "secret.png",
        "{p}" + "a" * 4000 + "/../secret.png",
        # Odd bytes in the request line (the engine refuses these itself).
        "{p}.. /secret.png",
        "{p}..\t/secret.png",
        "{p}\xc0\xae\xc0\xae/secret.png",
        "{p}\xc3\xa9t\xc3\xa9.png",
        "{p}\xef\xbc\x8e\xef\xbc\x8e/secret.png",
        "{p}\x7f../secret.png",
    ]


def payload_templates(secret_abs: str) -> list[tuple[str, str | None]]:
    """Return (template, legit file) pairs; `{p}` is the image route prefix (ends with `/`).

    The legit file is the name under `public/` that the payload names, for the few payloads
    that rightly answer 200; None for every other one (which must never answer 200).
    """
    templates: list[tuple[str, str | None]] = [
        (template, None) for template in traversal_templates() + special_templates(secret_abs)
    ]
    templates.extend(
        [
            ("{p}" + LEGIT_FRAME, LEGIT_FRAME),
            ("{p}.hidden.png", ".hidden.png"),
            ("{p}%2Ehidden.png", ".hidden.png"),
            ("{p}%66rame_000000.jpg", LEGIT_FRAME),
            ("{p}frame_000000%2Ejpg", LEGIT_FRAME),
            ("{p}" + LEGIT_FRAME + "?", LEGIT_FRAME),
            ("{p}" + LEGIT_FRAME + "#", LEGIT_FRAME),
            ("{p}" + LEGIT_FRAME + "?../../secret.png", LEGIT_FRAME),
            ("{p}" + LEGIT_FRAME + "#/../../secret.png", LEGIT_FRAME),
            ("{p}" + LEGIT_INNER, LEGIT_INNER),  # legit only when loaded recursively
            ("{p}sub/%69nner.png", LEGIT_INNER),
        ]
    )
    return templates


# Payloads that do not start with an image route prefix.
ROUTE_LEVEL_PAYLOADS = [
    "//etc/passwd",
    "///etc/passwd",
    "/../secret.png",
    "/..%2Fsecret.png",
    "/%2e%2e/secret.png",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/images%2F..%2Fsecret.png",
    "/images%2f..%2fsecret.png",
    "/images%5c..%5csecret.png",
    "/images\\..\\secret.png",
    "/images;/../secret.png",
    "/images/;/../secret.png",
    "/images/..",
    "/images/.",
    "/images/%2e",
    "/images/../secret.png",
    "/images/../../../../etc/passwd",
    "/images/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/images/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.png",
    "/images%00/secret.png",
    "/images\x00/secret.png",
    "/images/frame_000000.jpg\x00",
    "/images/\x00../secret.png",
    "/images/\t../secret.png",
    "/images/\xff..%2Fsecret.png",
    "/images",
    "/images/",
    "/%69mages/..%2Fsecret.png",
    "/images/file:///etc/passwd",
    "/images/http://127.0.0.1/images/..%2Fsecret.png",
    "/d/../secret.png",
    "/d/..%2F..%2Fsecret.png/x.png",
    "/d/%2e%2e/secret.png",
    "/d/.%2e/secret.png",
    "/d/%2e%2e/%2e%2e/secret.png",
    "/d/{id}%2F..%2F..%2Fsecret.png",
    "/d/{id}%2f..%2fsecret.png",
    "/d/{id}/",
    "/d/{id}",
    "/d/{id}/..",
    "/d/{id}/%2e%2e",
    "/d/{id}/../secret.png",
    "/d/{id}/../{id}/frame_000000.jpg",
    "/d/{id}/%2e%2e%2f{id}%2fframe_000000.jpg",
    "/d/{id}/..%5c..%5csecret.png",
    "/d/{id};/../secret.png",
    "/d/{id}/./frame_000000.jpg",
    "/d/{id}%00/frame_000000.jpg",
    "/d/{id}\x00/frame_000000.jpg",
    "/d/%7Bid%7D/..%2Fsecret.png",
    "/d/%2Fetc/passwd",
    "/d//etc/passwd",
    "/d/{id}//etc/passwd",
    "/static/../secret.png",
    "/robots.txt/../secret.png",
    "/healthz/../secret.png",
    "/api/directories/{id}/images/../../../secret.png",
    # Absolute-form request targets (RFC 9112 3.2.2) and other schemes.
    "http://127.0.0.1/images/../secret.png",
    "http://127.0.0.1/images/..%2Fsecret.png",
    "http://127.0.0.1/images/%2e%2e/secret.png",
    "http://127.0.0.1/images/%2e%2e%2fsecret.png",
    "http://127.0.0.1/images//etc/passwd",
    "http://127.0.0.1/images/%2e%2e?/secret.png",
    "http://127.0.0.1:1/images/..%2Fsecret.png",
    "https://127.0.0.1/images/..%2f..%2fsecret.png",
    "HTTP://127.0.0.1/images/../secret.png",
    "http://user:pw@127.0.0.1/images/..%2Fsecret.png",
    "http:///images/..%2Fsecret.png",
    "http://evil.example/d/{id}/..%2F..%2Fsecret.png",
    "http://127.0.0.1/d/{id}/%2e%2e%2fsecret.png",
    "http://127.0.0.1/d/{id}/..%5csecret.png",
    "//127.0.0.1/images/../secret.png",
    "//127.0.0.1/images/..%2Fsecret.png",
    "file:///etc/passwd",
    "file://localhost/etc/passwd",
    "*",
]


def route_level_templates(secret_abs: str) -> list[str]:
    """Route-level payloads that name the secret by its absolute path."""
    secret_enc = quote(secret_abs, safe="")
    return [
        *ROUTE_LEVEL_PAYLOADS,
        secret_abs,
        "/" + secret_abs,
        "/images" + secret_abs,
        "/images/" + secret_enc,
        "/images/file:" + quote(secret_abs),
        "/d/{id}" + secret_abs,
        "/d/{id}/" + secret_enc,
        "http://127.0.0.1" + secret_abs,
        "http://127.0.0.1/images/" + secret_abs,
        "http://127.0.0.1/d/{id}/" + secret_enc,
        "file://" + secret_abs,
        "file:" + secret_abs,
    ]


@dataclass(frozen=True)
class Payload:
    """One raw request target and the legit file it names, if any."""

    target: str
    legit: str | None  # the file under public/ that it rightly names, else None


def build_payloads(tree: Tree, dir_path: str, dir_id: str, recursive: bool) -> list[Payload]:
    """Expand the templates under `/images/` and `/d/<id>/` for one loaded directory.

    Families overlap (a hand-written payload may also come out of the cross product), so the
    result holds each distinct request target once.
    """
    payloads: dict[str, Payload] = {}
    for prefix in ("/images/", dir_path):
        for template, legit in payload_templates(str(tree.secret_png)):
            if legit == LEGIT_INNER and not recursive:
                legit = None
            target = template.replace("{p}", prefix)
            payloads.setdefault(target, Payload(target, legit))
    for template in route_level_templates(str(tree.secret_png)):
        target = template.replace("{id}", dir_id)
        payloads.setdefault(target, Payload(target, None))
    return list(payloads.values())


def leaks(response: RawResponse, tree: Tree) -> list[str]:
    """Return what a response reveals that it must not: a secret, /etc/passwd, a traceback."""
    problems = []
    everything = response.body + str(response.headers).encode()
    if tree.marker in everything:
        problems.append("leaked the secret marker")
    if any(image in response.body for image in tree.secret_images):
        problems.append("leaked a secret image")
    if PASSWD_MARKER in everything:
        problems.append("leaked /etc/passwd")
    if b"Traceback" in everything:
        problems.append("leaked a traceback")
    if response.status >= 500:
        problems.append(f"status {response.status}")
    return problems


def legit_problems(payload: Payload, method: bytes, response: RawResponse, tree: Tree) -> list[str]:
    """Return how a response fails to serve the file inside the root that `payload` names."""
    expected = (tree.public / payload.legit).read_bytes()
    if response.status != 200:
        return [f"legit file not served (status {response.status})"]
    if method == b"HEAD":
        length = response.headers.get("Content-Length")
        return [] if response.body == b"" and length == str(len(expected)) else ["bad HEAD"]
    return [] if response.body == expected else ["served the wrong bytes"]


def refusal_problems(method: bytes, response: RawResponse) -> list[str]:
    """Return how a response differs from the contract's one refusal: `404 {"detail": str}`."""
    if response.status == 200:
        return ["answered 200 for a name outside the loaded directory"]
    if response.from_engine:
        return []  # rejected before the app: allowed, as long as nothing leaked
    problems = []
    if response.status != 404:
        problems.append(f"status {response.status}, expected 404")
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        problems.append(f"non-JSON error body: {response.headers.get('Content-Type')}")
    elif method == b"HEAD":
        if response.body:
            problems.append("HEAD answered with a body")
    else:
        try:
            body = json.loads(response.body)
        except ValueError:
            problems.append("error body is not valid JSON")
        else:
            if not (isinstance(body, dict) and isinstance(body.get("detail"), str)):
                problems.append(f"error body is not {{'detail': str}}: {body!r}")
    return problems


def violations(payload: Payload, method: bytes, response: RawResponse, tree: Tree) -> list[str]:
    """Return every way `response` breaks B.4 for `payload` (empty when it is fine)."""
    problems = leaks(response, tree)
    if payload.legit is not None:
        return problems + legit_problems(payload, method, response, tree)
    return problems + refusal_problems(method, response)


@dataclass
class SweepResult:
    """What one sweep sent and what went wrong."""

    targets: int  # distinct raw request targets
    requests: int
    failures: list[str]


def sweep(api: Api, tree: Tree, recursive: bool) -> SweepResult:
    """Load `tree.public`, send every payload with GET and HEAD, collect the violations."""
    body = api.load(tree.public, recursive=recursive)
    dir_path = urlsplit(body["url_prefix"]).path
    payloads = build_payloads(tree, dir_path, body["id"], recursive)
    port = api.server.port
    jobs = [(payload, method) for payload in payloads for method in METHODS]

    def send(job: tuple[Payload, bytes]) -> RawResponse:
        """Send one payload with one method (runs in the pool)."""
        payload, method = job
        return raw_request(port, payload.target.encode("latin-1"), method)

    with ThreadPoolExecutor(SWEEP_CONCURRENCY) as pool:
        responses = list(pool.map(send, jobs))
    failures = []
    for (payload, method), response in zip(jobs, responses, strict=True):
        problems = violations(payload, method, response, tree)
        if problems:
            shown = payload.target if len(payload.target) < 120 else payload.target[:117] + "..."
            failures.append(
                f"{method.decode()} {shown!r} -> {response.status}: {', '.join(problems)}"
            )
    return SweepResult(len(payloads), len(jobs), failures)


def test_corpus_has_not_shrunk(tree):
    payloads = build_payloads(tree, "/d/public-0123abcd/", "public-0123abcd", recursive=True)
    assert len({payload.target for payload in payloads}) == len(payloads)
    assert len(payloads) >= MIN_DISTINCT_TARGETS
    assert sum(payload.legit is not None for payload in payloads) == 22


@pytest.mark.parametrize("recursive", [True, False], ids=["recursive", "flat"])
def test_no_request_target_reads_outside_the_loaded_directory(api, tree, recursive):
    result = sweep(api, tree, recursive)
    assert result.targets >= MIN_DISTINCT_TARGETS
    assert result.requests == 2 * result.targets
    assert not result.failures, (
        f"{len(result.failures)} of {result.requests} requests misbehaved:\n"
        + "\n".join(result.failures)
    )


@pytest.mark.parametrize("method", METHODS, ids=["GET", "HEAD"])
@pytest.mark.parametrize(
    "name", ["escape.png", "abs.png", "escape.jpg", "leak.jpg", "leak_abs.jpg", "sub/up.png"]
)
def test_symlink_leaving_the_root_is_404_like_a_missing_file(api, tree, name, method):
    body = api.load(tree.public, recursive=True)
    dir_path = urlsplit(body["url_prefix"]).path
    for prefix in ("/images/", dir_path):
        response = raw_request(api.server.port, (prefix + name).encode(), method)
        assert response.status == 404
        assert tree.marker not in response.body
        if method == b"GET":
            assert json.loads(response.body) == {"detail": f"Image not found: {name}"}
        else:
            assert response.body == b""


def test_symlinked_folder_pointing_outside_the_root_is_not_followed(api, tree):
    api.load(tree.public, recursive=True)
    for target in ("linkdir/secret.png", "linkdir/public/frame_000000.jpg", "linkout/secret3.png"):
        response = raw_request(api.server.port, f"/images/{target}".encode())
        assert response.status == 404
        assert tree.marker not in response.body


def test_hard_link_inside_the_root_is_served_by_design(api, tree):
    """A hard link to an outside file IS a file of the loaded directory, so it is served.

    A hard link is a second name for the same inode, not a pointer: no path, `realpath` or
    `lstat` check can tell it from a file that was written there. So confinement is about
    names, and a directory's contents are what the server shows. This is out of scope by
    design (SECURITY.md, "Out of scope"): only load directories whose contents you trust, and
    don't let untrusted users write into them (they could equally copy the file in).
    This test pins the behaviour so that nobody mistakes it for a confinement leak.
    """
    link = tree.public / "hardlink.png"
    try:
        os.link(tree.secret_png, link)
    except OSError as error:  # a file system without hard links
        missing_part(f"hard links unavailable here: {error}")
    body = api.load(tree.public)
    assert "hardlink.png" in api.get("/").json()["image_list"]
    for prefix in ("/images/", urlsplit(body["url_prefix"]).path):
        response = raw_request(api.server.port, f"{prefix}hardlink.png".encode())
        assert response.status == 200
        assert response.body == tree.secret_png.read_bytes()


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
