"""One loader run, without error handling (`cli.load.main` is the boundary).

Sequence (docs/CLI.md): `/healthz` (starting a local server when nothing answers), then
`POST /unload` with `--unload-first`, `GET /` (already current? skip the load unless
`--force-reload`), `POST /timeout/{t}` with `--timeout`, `POST /load-directory`, for a video
`GET /api/directories/<id>` until its extraction ends (`extraction.py`), the paged listing,
`GET /api/directories/<id>` and `GET /` for the timer, the HEAD checks, the JSON file, and
finally the unload with `--unload`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

import aiohttp

from imageserver.loader import dimensions
from imageserver.loader import extraction
from imageserver.loader import launcher
from imageserver.loader import output
from imageserver.loader import verify
from imageserver.loader.client import ServerClient
from imageserver.loader.client import open_session
from imageserver.loader.client import variant_urls
from imageserver.loader.options import Options
from imageserver.loader.options import RunResult
from imageserver.settings.media_types import is_video_name

log = logging.getLogger(__name__)
T = TypeVar("T")


def resolve_directory(given: str, frame_base_dir: str | None) -> str:
    """Return the absolute path to send: a relative `given` is tried under FRAME_BASE_DIR first.

    The first candidate that is a local directory (or a video file) wins; when none is, the
    first candidate is sent anyway and the server's answer (404 with its detail) decides.
    """
    expanded = os.path.expanduser(given)
    if os.path.isabs(expanded):
        return os.path.normpath(expanded)
    bases = [frame_base_dir] if frame_base_dir else []
    candidates = [os.path.join(base, expanded) for base in (*bases, os.getcwd())]
    found = next((path for path in candidates if os.path.exists(path)), candidates[0])
    return os.path.normpath(os.path.abspath(found))


async def run(options: Options) -> RunResult:
    """Load the directory, list and check its URLs, write the JSON; return the outcome.

    :raise LoaderError: the server is unavailable, a control call fails or the file cannot
        be written.
    """
    pool_size = min(options.workers, 8) if options.dimensions else 2
    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="loader-files") as files:
        directory = await _in_thread(
            files, resolve_directory, options.directory, options.frame_base_dir
        )
        async with open_session(options.workers) as session:
            client = ServerClient(session, options.server, options.token)
            await ensure_server(client, options)
            answer = await load_or_reuse(client, directory, options)
            dir_id = answer["id"]
            await extraction.wait_for_frames(client, answer, directory, options.progress)
            variant = dict(options.variant)
            listing = {"unique": "true"} if options.unique else {}
            listed = await client.images(dir_id, variant, listing)
            images = variant_urls(sorted(listed, key=lambda image: image["name"]), variant)
            summary = await client.directory(dir_id)
            summary = {**summary, **await _timer(client, directory, summary)}
            failures, sizes = await asyncio.gather(
                _verify(session, images, options), _dimensions(files, directory, images, options)
            )
            if sizes is not None:
                images = [_with_size(image, sizes.get(image["name"])) for image in images]
            written = await _write(files, directory, images, summary, failures, options)
            verify.report_failures(failures, len(images))
            if options.unload_after:
                await unload_directory(client, dir_id)
    return RunResult(written, len(images), len(failures))


async def ensure_server(client: ServerClient, options: Options) -> None:
    """Make sure a server answers at `--server`, starting a local one when none does.

    :raise ServerUnavailable: nothing answers and the server is remote or does not start.
    """
    if await launcher.ensure_server(options.server, client.healthy, options.start_command):
        log.info("Server started at %s", options.server)


async def load_or_reuse(client: ServerClient, directory: str, options: Options) -> dict[str, Any]:
    """Load `directory` (or keep it when already current); return the load answer or the
    directory's entry (both carry `id`, and `extraction` for a video)."""
    if options.unload_first:
        answer = await client.unload()
        log.info("Unloaded first: %s", answer.get("message"))
    status = await client.status()
    reusable = None
    # Frame options always load: the server reuses its extracted frames when they match.
    wanted = not options.force_reload and options.frames is None
    if wanted and status.get("current_directory") == directory:
        reusable = await _current_entry(client, directory, options)
    if options.timeout is not None:
        await client.set_timeout(options.timeout)
    if reusable is not None:
        log.info("%s is already loaded; not reloading (use --force-reload)", directory)
        return reusable
    frames = dict([options.frames]) if options.frames else None
    # A video answers at once (`"wait": false`) and the run follows its extraction with a bar.
    wait = False if frames or is_video_name(directory) else None
    loaded = await client.load(
        directory, options.timeout, options.recursive, options.watch, frames=frames, wait=wait
    )
    log.info("%s", loaded.get("message"))
    return loaded


async def _current_entry(
    client: ServerClient, directory: str, options: Options
) -> dict[str, Any] | None:
    listing = await client.directories()
    for entry in listing.get("directories", []):
        # Reused only when loaded the same way; `--watch` on an unwatched load re-loads it.
        same_mode = bool(entry.get("recursive", False)) == options.recursive and (
            bool(entry.get("watch", False)) or not options.watch
        )
        if entry.get("id") == listing.get("current") and entry.get("directory") == directory:
            return entry if same_mode else None
    return None


async def _timer(client: ServerClient, directory: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Return the directory's `timeout_minutes`, `auto_unload_at` and `time_remaining`.

    Taken from `GET /` (docs/API.md#get-), as the first version did, while the directory is
    current; if another client made another one current meanwhile, from its own entry.
    """
    status = await client.status()
    if status.get("current_directory") == directory:
        return {key: status.get(key) for key in output.TIMER_KEYS}
    timer = {key: summary.get(key) for key in output.TIMER_KEYS}
    if timer["auto_unload_at"] and not timer["time_remaining"]:
        timer["time_remaining"] = output.time_remaining(timer["auto_unload_at"], time.time())
    return timer


async def unload_directory(client: ServerClient, dir_id: str) -> None:
    """Unload our directory: `POST /unload` while it is current, else by id.

    Another client may have loaded a directory meanwhile; `POST /unload` alone would unload
    theirs.
    """
    listing = await client.directories()
    if listing.get("current") == dir_id:
        answer = await client.unload()
    elif any(entry.get("id") == dir_id for entry in listing.get("directories", [])):
        answer = await client.delete_directory(dir_id)
    else:
        answer = {"message": "already unloaded"}
    log.info("Unload: %s", answer.get("message"))


async def _write(
    files: ThreadPoolExecutor,
    directory: str,
    images: list[dict[str, Any]],
    summary: dict[str, Any],
    failures: list[verify.CheckFailure],
    options: Options,
) -> Path:
    now = datetime.now()
    document = _document(directory, images, summary, failures, options.verify, now)
    if options.variant:
        document["variant"] = dict(options.variant)
    args = (options.output_dir, directory, options.name, document, now)
    written = await _in_thread(files, output.write_outputs, *args)
    print(written, flush=True)  # stdout carries only this path
    return written


async def _verify(
    session: aiohttp.ClientSession, images: list[dict[str, Any]], options: Options
) -> list[verify.CheckFailure]:
    if not options.verify:
        return []
    # A variant's length is not the listed (original) size: check the status only.
    sized = not options.variant
    checks = [verify.Check(image["url"], image.get("size") if sized else None) for image in images]
    return await verify.check_urls(
        session, checks, options.workers, options.batch_size, progress=options.progress
    )


async def _dimensions(
    files: ThreadPoolExecutor,
    directory: str,
    images: list[dict[str, Any]],
    options: Options,
) -> dict[str, tuple[int, int] | None] | None:
    """Read every image's pixel size in the pool when `--dimensions` asks for it."""
    if not options.dimensions:
        return None
    loop = asyncio.get_running_loop()
    names = [image["name"] for image in images]
    sizes = await asyncio.gather(
        *(
            loop.run_in_executor(files, dimensions.image_size, dimensions.local_path(directory, n))
            for n in names
        )
    )
    return dict(zip(names, sizes, strict=True))


def _with_size(image: dict[str, Any], size: tuple[int, int] | None) -> dict[str, Any]:
    width, height = size if size is not None else (None, None)
    return {**image, "width": width, "height": height}


def _document(
    directory: str,
    images: list[dict[str, Any]],
    summary: dict[str, Any],
    failures: list[verify.CheckFailure],
    verified: bool,
    now: datetime,
) -> dict[str, Any]:
    extras = {
        "id": summary.get("id"),
        "url_prefix": summary.get("url_prefix"),
        "verified": verified,
        "failed": [failure.url for failure in failures],
    }
    if images and "width" in images[0]:
        keys = ("name", "url", "size", "width", "height")
        extras["images"] = [{key: image.get(key) for key in keys} for image in images]
    urls = [image["url"] for image in images]
    return output.build_document(directory, urls, summary, extras, now)


async def _in_thread(files: ThreadPoolExecutor, func: Callable[..., T], *args: Any) -> T:
    """Run blocking file work in the pool so the event loop keeps serving the checks."""
    return await asyncio.get_running_loop().run_in_executor(files, func, *args)
