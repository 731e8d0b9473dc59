"""A tiny client of the image server for the examples: load a folder, list URLs, data URIs.

Standard library only (urllib), so the examples run with any Python 3.11 and no install.
The server is `IMAGE_SERVER_URL` (default http://localhost:7779); a locked server needs
`IMAGE_SERVER_TOKEN`. Every failure raises `ExampleError` with the server's `detail`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_SERVER = "http://localhost:7779"
# Model APIs answer in seconds; a cold variant of a large frame takes a few hundred ms.
TIMEOUT_SECONDS = 120


class ExampleError(RuntimeError):
    """A request failed; the message says which and why."""


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """POST `body` as JSON and return the decoded JSON answer.

    :raise ExampleError: the server answered with an error status or not at all.
    """
    data = json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return _send(request)


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """GET `url` and return the decoded JSON answer. :raise ExampleError: as `post_json`."""
    request = urllib.request.Request(url, method="GET")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return _send(request)


def _send(request: urllib.request.Request) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise ExampleError(f"{request.method} {request.full_url}: {exc.code} {detail}") from None
    except urllib.error.URLError as exc:
        raise ExampleError(f"{request.method} {request.full_url}: {exc.reason}") from None


@dataclass(frozen=True)
class ImageServer:
    """Where the image server is and how to authenticate to its control API."""

    base_url: str = DEFAULT_SERVER
    token: str | None = None

    @classmethod
    def from_env(cls, server: str | None = None) -> ImageServer:
        """Build from `--server` (when given) or `IMAGE_SERVER_URL`, and `IMAGE_SERVER_TOKEN`."""
        base = server or os.environ.get("IMAGE_SERVER_URL") or DEFAULT_SERVER
        return cls(base.rstrip("/"), os.environ.get("IMAGE_SERVER_TOKEN") or None)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def load(self, folder: str, timeout_minutes: int | None = None) -> dict[str, Any]:
        """Load `folder` (a path on the server's machine) and return the load answer."""
        body = {"path": folder, "timeout_minutes": timeout_minutes}
        return post_json(f"{self.base_url}/load-directory", body, self._headers())

    def image_urls(
        self, dir_id: str, preset: str | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Yield every listing item (`name`, `url`, `size`, `mtime`), following `next`.

        With `preset`, each `url` asks for that variant (signed when the server signs).
        """
        url: str | None = f"{self.base_url}/api/directories/{dir_id}/images?limit={page_size}"
        if preset:
            url += f"&preset={preset}"
        while url:
            page = get_json(url, self._headers())
            yield from page["images"]
            url = page["next"]

    def data_uris(self, dir_id: str, names: list[str], preset: str) -> list[dict[str, Any]]:
        """Return one batch item per name (`status`, and `data_uri` when 200); at most 100."""
        url = f"{self.base_url}/api/directories/{dir_id}/datauris"
        answer = post_json(url, {"names": names, "preset": preset}, self._headers())
        return answer["items"]


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def api_key(variable: str) -> str:
    """Return the vendor key from the environment. :raise ExampleError: it is not set."""
    value = os.environ.get(variable)
    if not value:
        raise ExampleError(f"set {variable} (or pass --dry-run to print the request bodies)")
    return value
