"""The image server's HTTP control API, as the MCP tools need it (async, one call per method).

Every tool goes through the server's own HTTP API rather than its Python internals, so the
same checks apply to an agent as to curl: the bearer token, the allowed roots, the path
confinement, URL signing. An HTTP error becomes `ApiError` carrying the answer's `detail`
unchanged, which the tools hand to the agent verbatim.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2

# A load indexes the folder before it answers; a large folder takes a while.
DEFAULT_TIMEOUT_SECONDS = 120.0
HEALTH_TIMEOUT_SECONDS = 5.0
JOB_POLL_SECONDS = 0.25
FINISHED_JOB_STATES = ("done", "failed")


class ApiError(Exception):
    """The server refused a request (or could not be reached): `detail` says why, as sent."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(self.text)

    @property
    def text(self) -> str:
        """The detail as text: a string as is, a validation error list as JSON."""
        return self.detail if isinstance(self.detail, str) else json.dumps(self.detail)


@dataclass(frozen=True)
class FetchedImage:
    """Image bytes fetched through the server, and the stable URL they came from."""

    data: bytes
    media_type: str
    url: str


def path_segment(value: str) -> str:
    """Percent-encode one path segment; `.`/`..` too, which HTTP clients would collapse."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def image_path(name: str) -> str:
    """Percent-encode an image name (`sub/frame.jpg`) segment by segment.

    Encoding `..` keeps the HTTP client from resolving it away, so a traversal attempt
    reaches the server as sent and gets the server's own refusal.
    """
    return "/".join(path_segment(part) for part in name.split("/"))


class ImageServerApi:
    """Async client of one image server's control API.

    :param base_url: where the server answers, e.g. `http://127.0.0.1:7779`.
    :param headers: sent with every request (the `Authorization` header, a forwarded `Host`).
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout

    async def healthy(self) -> bool:
        """Return True when `/healthz` answers 200, False when nothing answers.

        :raise ApiError: something answers, but not like the image server.
        """
        url = f"{self.base_url}/healthz"
        async with httpx2.AsyncClient(timeout=HEALTH_TIMEOUT_SECONDS) as client:
            try:
                response = await client.get(url)
            except httpx2.HTTPError:
                return False
        if response.status_code != 200:
            raise ApiError(
                response.status_code,
                f"{url} answered {response.status_code}; is this the image server?",
            )
        return True

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        # One client per call: a tool call is a handful of requests, and nothing (an event
        # loop, a connection pool) outlives the request that an HTTP-mounted server serves.
        async with httpx2.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            try:
                response = await client.request(method, self.base_url + path, **kwargs)
            except httpx2.HTTPError as exc:
                raise ApiError(
                    0, f"Cannot reach the image server at {self.base_url}: {exc}"
                ) from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._send(method, path, **kwargs)).json()

    async def list_directories(self) -> dict[str, Any]:
        """`GET /api/directories`."""
        return await self._json("GET", "/api/directories")

    async def directory(self, dir_id: str) -> dict[str, Any]:
        """`GET /api/directories/<id>`."""
        return await self._json("GET", f"/api/directories/{path_segment(dir_id)}")

    async def load_directory(self, path: str, **options: Any) -> dict[str, Any]:
        """`POST /load-directory` with the options that were given (None = not sent)."""
        body = {"path": path, **{k: v for k, v in options.items() if v is not None}}
        return await self._json("POST", "/load-directory", json=body)

    async def list_images(self, dir_id: str, **query: Any) -> dict[str, Any]:
        """`GET /api/directories/<id>/images` with the given query (None = not sent)."""
        params = {k: _query_value(v) for k, v in query.items() if v is not None}
        path = f"/api/directories/{path_segment(dir_id)}/images"
        return await self._json("GET", path, params=params)

    async def unload_directory(self, dir_id: str) -> dict[str, Any]:
        """`DELETE /api/directories/<id>`."""
        return await self._json("DELETE", f"/api/directories/{path_segment(dir_id)}")

    async def publish(
        self, dir_id: str, body: dict[str, Any], wait_seconds: float = 0
    ) -> dict[str, Any]:
        """`POST /api/directories/<id>/publish`, then `GET /api/jobs/<job>`.

        With `wait_seconds` the job is polled until it is done or failed, or the time is up.
        """
        path = f"/api/directories/{path_segment(dir_id)}/publish"
        started = await self._json("POST", path, json=body)
        job_path = f"/api/jobs/{path_segment(started['job'])}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, wait_seconds)
        job = await self._json("GET", job_path)
        while job.get("state") not in FINISHED_JOB_STATES and loop.time() < deadline:
            await asyncio.sleep(JOB_POLL_SECONDS)
            job = await self._json("GET", job_path)
        return job

    async def image_entry(self, dir_id: str, name: str, **query: Any) -> dict[str, Any]:
        """`GET /api/directories/<id>/images?name=`: one listing entry, URL signed if on.

        :raise ApiError: unknown directory, or a name the listing lacks (the server's 404).
        """
        page = await self.list_images(dir_id, name=name, **query)
        return page["images"][0]

    async def image_url(self, dir_id: str, name: str, preset: str | None = None) -> str:
        """Return the URL the server's own listing hands out for one image (one request)."""
        return (await self.image_entry(dir_id, name, preset=preset))["url"]

    async def sheet(self, dir_id: str, **query: Any) -> dict[str, Any]:
        """`GET /api/directories/<id>/sheet-url`: a sheet's URL (signed if on), its frames."""
        params = {k: _query_value(v) for k, v in query.items() if v is not None}
        return await self._json(
            "GET", f"/api/directories/{path_segment(dir_id)}/sheet-url", params=params
        )

    async def fetch(self, dir_id: str, url: str) -> FetchedImage:
        """GET an image URL the server handed out for directory `dir_id`: bytes and type.

        The URL may name the public host (a tunnel); the bytes are fetched from `base_url`
        with the same path and query, which is what the signature covers.
        """
        prefix = (await self.directory(dir_id))["url_prefix"]
        public_base = prefix[: -len(f"/d/{path_segment(dir_id)}/")]
        if not url.startswith(prefix):  # never expected; fetching elsewhere would be wrong
            raise ApiError(502, f"Unexpected image URL from the server: {url}")
        response = await self._send("GET", url[len(public_base) :])
        media_type = response.headers.get("content-type", "application/octet-stream")
        return FetchedImage(response.content, media_type.split(";")[0].strip(), url)

    async def fetch_image(self, dir_id: str, name: str, preset: str | None = None) -> FetchedImage:
        """GET one image (at a preset) through its stable URL; the bytes and the URL."""
        return await self.fetch(dir_id, await self.image_url(dir_id, name, preset))


def _detail(response: httpx2.Response) -> Any:
    """The `detail` of an error answer; the status line when the body has none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _query_value(value: Any) -> str:
    """Query parameters as the server parses them (`true`, not Python's `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
