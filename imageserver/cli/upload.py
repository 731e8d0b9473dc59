"""`imageserver upload FILE...`: send images to a server's upload inbox, print their URLs.

Each file goes in its own `PUT /api/uploads/<name>?inbox=...` (docs/API.md#uploads), streamed
from disk, so there is no limit on how many files one run sends. Prints one stable URL per
line in the order given (or, with `--json`, the server's answer with every image), and exits
with `ExitStatus`: 0 all stored; 1 the server cannot be reached or refused the run (no token,
wrong token); 2 a usage error (a missing file); 3 some files were refused (their reasons on
stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode

from imageserver.cli.common import ExitStatus
from imageserver.cli.common import http_url
from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError

UPLOAD_TIMEOUT_SECONDS = 120
# Answers that refuse every file alike: stop at the first rather than repeat them.
FATAL = {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}


class Refused(Exception):
    """The server refused one file; `fatal` when it would refuse every file the same way."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def upload_parser(prog: str) -> argparse.ArgumentParser:
    """Return the parser of `upload`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Upload images to the server's inbox and print one stable URL per line.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files to upload")
    parser.add_argument("--inbox", default="uploads", help="the inbox (default: uploads)")
    parser.add_argument("--json", action="store_true", help="print the JSON answer instead")
    parser.add_argument("--server", type=http_url, help="the server (default localhost:PORT)")
    parser.add_argument("--token", help="bearer token (default IMAGE_SERVER_TOKEN)")
    return parser


def put_file(server: str, inbox: str, path: str, token: str) -> dict[str, Any]:
    """Upload one file and return the server's answer.

    :raise Refused: the server answered an error. :raise OSError: it cannot be reached.
    """
    name = quote(os.path.basename(path), safe="")
    url = f"{server}/api/uploads/{name}?{urlencode({'inbox': inbox})}"
    with open(path, "rb") as body:
        request = urllib.request.Request(url, data=body, method="PUT")
        request.add_header("Content-Length", str(os.fstat(body.fileno()).st_size))
        request.add_header("Content-Type", "application/octet-stream")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=UPLOAD_TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise Refused(
                f"{path}: HTTP {exc.code}: {_detail(exc.read())}", fatal=exc.code in FATAL
            ) from None


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body)["detail"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()


def upload(argv: Sequence[str], prog: str = "imageserver upload") -> int:
    """Run `upload`; print the URLs (or the JSON) and return the exit status."""
    try:
        args = upload_parser(prog).parse_args(argv)
        config = Config.from_env()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE
    missing = [path for path in args.files if not os.path.isfile(path)]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return ExitStatus.USAGE
    server = args.server or f"http://localhost:{config.port}"
    token = args.token if args.token is not None else (config.tokens[0] if config.tokens else "")
    return _run(args, server, token)


def _run(args: argparse.Namespace, server: str, token: str) -> int:
    answer: dict[str, Any] = {"id": None, "images": []}
    refused = 0
    for path in args.files:
        try:
            stored = put_file(server, args.inbox, path, token)
        except Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            if exc.fatal:
                return ExitStatus.SERVER_OR_LOAD_FAILED
            refused += 1
            continue
        except OSError as exc:
            print(f"error: could not reach the image server at {server}: {exc}", file=sys.stderr)
            return ExitStatus.SERVER_OR_LOAD_FAILED
        answer["id"] = stored["id"]
        answer["images"] += stored["images"]
        if not args.json:
            for image in stored["images"]:
                print(image["url"], flush=True)
    if args.json:
        print(json.dumps(answer, indent=2))
    return ExitStatus.CHECKS_FAILED if refused else ExitStatus.OK
