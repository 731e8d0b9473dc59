"""The loader's HTTP client: one aiohttp session per run, the control API as typed calls.

Every control call goes to `--server` with the bearer token; a failure becomes a
`ServerError` carrying the server's `detail`, and a server that does not answer becomes
`ServerUnavailable`. Image URLs are checked elsewhere (`verify`), without the token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

import aiohttp

from imageserver.loader.errors import LoaderError
from imageserver.loader.errors import ServerError
from imageserver.loader.errors import ServerUnavailable

log = logging.getLogger(__name__)

# Indexing 100,000 files takes seconds, so a read may wait long; a connect never should.
SESSION_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
HEALTH_TIMEOUT = aiohttp.ClientTimeout(total=5)
PAGE_LIMIT = 10000  # the server's maximum page size (docs/API.md#several-directories)


@asynccontextmanager
async def open_session(workers: int) -> AsyncIterator[aiohttp.ClientSession]:
    """Open the run's one session; its connector allows at most `workers` connections."""
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=SESSION_TIMEOUT) as session:
        yield session


class ServerClient:
    """The control API of one server.

    :param base_url: `--server`, without a trailing `/`.
    :param token: sent as `Authorization: Bearer <token>` on control calls when given.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str | None) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def healthy(self) -> bool:
        """Return True when `/healthz` answers 200, False when nothing answers.

        :raise ServerUnavailable: something answers, but not like the image server.
        """
        url = f"{self.base_url}/healthz"
        log.debug("GET %s", url)
        try:
            async with self.session.get(url, timeout=HEALTH_TIMEOUT) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientConnectionError):
            return False
        if status != HTTPStatus.OK:
            raise ServerUnavailable(f"{url} answered {status}; is this the image server?")
        return True

    async def status(self) -> dict[str, Any]:
        """`GET /`: the current directory and its timer (docs/API.md#get-)."""
        return await self._call("GET", "/", "status check")

    async def set_timeout(self, minutes: int) -> dict[str, Any]:
        """`POST /timeout/{minutes}`: set the default and re-arm the current deadline."""
        return await self._call("POST", f"/timeout/{minutes}", f"set timeout to {minutes}")

    async def load(
        self,
        path: str,
        timeout: int | None,
        recursive: bool,
        watch: bool = False,
        frames: dict[str, float] | None = None,
        wait: bool | None = None,
    ) -> dict[str, Any]:
        """`POST /load-directory`; return the load response (with `id` and `url_prefix`).

        `frames` (`{"fps": 2}`) chooses a video file's frames; `wait=False` asks the server
        to answer as soon as the video is known to be usable (the loader then polls).
        """
        body: dict[str, Any] = {"path": path}
        if frames:
            body["frames"] = frames
        if wait is not None:
            body["wait"] = wait
        if timeout is not None:
            body["timeout_minutes"] = timeout
        if recursive:
            body["recursive"] = True
        if watch:
            body["watch"] = True
        return await self._call("POST", "/load-directory", f"load {path}", json=body)

    async def unload(self) -> dict[str, Any]:
        """`POST /unload`: unload the current directory, whichever it is."""
        return await self._call("POST", "/unload", "unload")

    async def directories(self) -> dict[str, Any]:
        """`GET /api/directories`: every loaded directory and the current id."""
        return await self._call("GET", "/api/directories", "list directories")

    async def directory(self, dir_id: str) -> dict[str, Any]:
        """`GET /api/directories/<id>`: one directory with its timer."""
        return await self._call("GET", _directory_path(dir_id), f"describe {dir_id}")

    async def delete_directory(self, dir_id: str) -> dict[str, Any]:
        """`DELETE /api/directories/<id>`: unload one directory by id."""
        return await self._call("DELETE", _directory_path(dir_id), f"unload {dir_id}")

    async def images(
        self,
        dir_id: str,
        variant: dict[str, str] | None = None,
        listing: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Return every image of a directory, page by page, following each page's `next`.

        `next` is absolute with the server's *public* base (maybe a tunnel); only its query is
        used, against `--server`, so the listing and the token never leave that address.
        `variant` parameters (`preset=claude`...) go on every page's query, so a server that
        knows them lists variant URLs, signed when it signs (see `variant_urls`). `listing`
        options (`unique=true`) go on the first query; each `next` carries them on.
        """
        path = f"{_directory_path(dir_id)}/images"
        variant = variant or {}
        first = {"offset": 0, "limit": PAGE_LIMIT, **(listing or {}), **variant}
        query: str | None = urlencode(first)
        images: list[dict[str, Any]] = []
        while query is not None:
            page = await self._call("GET", f"{path}?{query}", f"list images of {dir_id}")
            images.extend(page["images"])
            following = urlsplit(page["next"]).query if page.get("next") else None
            if following is not None:
                query = urlencode({**dict(parse_qsl(following)), **variant})
            else:
                query = None
            log.debug("Listed %d of %d images", len(images), page.get("total", 0))
        return images

    async def _call(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        url = self.base_url + path
        log.debug("%s %s", method, url)
        try:
            async with self.session.request(method, url, headers=self.headers, **kwargs) as resp:
                body = await _json_or_none(resp)
                status = resp.status
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            reason = str(exc) or type(exc).__name__
            message = f"{action} failed: no answer from {self.base_url} ({reason})"
            raise ServerUnavailable(message) from None
        if status >= HTTPStatus.BAD_REQUEST:
            detail = body.get("detail", body) if isinstance(body, dict) else _phrase(status)
            raise ServerError(action, status, detail)
        if not isinstance(body, dict):
            raise ServerError(action, status, "the answer is not a JSON object")
        return body


def variant_urls(images: list[dict[str, Any]], variant: dict[str, str]) -> list[dict[str, Any]]:
    """Make every listed URL a variant URL, as `--preset`/`--variant` ask.

    A server whose listing knows the parameters has put them in the URLs already (and signed
    them). An older listing leaves them out: the loader then appends them itself, which is
    only possible while the server does not sign its URLs, since a signature covers every
    parameter and only the server can sign.

    :raise LoaderError: the URLs are signed but lack the variant parameters.
    """
    if not variant:
        return images
    result = []
    for image in images:
        parts = urlsplit(image["url"])
        present = dict(parse_qsl(parts.query, keep_blank_values=True))
        if all(present.get(key) == value for key, value in variant.items()):
            result.append(image)
            continue
        if "sig" in present:
            raise LoaderError(
                "the server signs its URLs but its listing ignores variant parameters "
                "(--preset/--variant), and only the server can sign them: update the server, "
                "or run it without IMAGE_SERVER_SIGNING_KEY"
            )
        query = urlencode({**present, **variant})
        result.append({**image, "url": parts._replace(query=query).geturl()})
    return result


async def _json_or_none(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no JSON detail"


def _directory_path(dir_id: str) -> str:
    return f"/api/directories/{quote(dir_id, safe='')}"
