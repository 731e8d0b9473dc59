"""Is this file a usable video, and how big: asked of a short-lived process (#29).

`probe_video` runs `python -m imageserver.video.probe PATH MAX_PIXELS`, which opens the file
with PyAV, reads the stream's size, rate, duration and frame count, decodes the first frame
(unless the frames are over the pixel limit: a 144-megapixel frame is not decoded to say
no) and prints one JSON line. The web worker that asks never imports PyAV, so its memory
stays that of an idle server, and a hostile file that crashes the decoder crashes that
process only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from imageserver.settings.children import module_command
from imageserver.video.videoio import NotAVideoError
from imageserver.video.videoio import TruncatedVideoError
from imageserver.video.videoio import VideoError
from imageserver.video.videoio import VideoInfo

PROBE_TIMEOUT_SECONDS = 30.0
ERROR_EXIT = 3


def probe_video(video: Path | str, max_pixels: int) -> VideoInfo:
    """Probe `video` in a child process.

    :raise VideoError: not a video, no video stream, nothing decodable, or the probe
        crashed or hung (its one line says which).
    """
    command, env = module_command(__name__, str(video), str(max_pixels))
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, timeout=PROBE_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise TruncatedVideoError(f"{Path(video).name}: probing took too long") from None
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    answer = json.loads(lines[-1]) if lines else {}
    if done.returncode == 0 and "width" in answer:
        return VideoInfo(**answer)
    if "error" in answer:
        raise VideoError(answer["error"])
    raise TruncatedVideoError(
        f"{Path(video).name}: the decoder stopped (exit status {done.returncode})"
    )


def read_info(video: Path, max_pixels: int) -> VideoInfo:
    """Open `video` here (PyAV) and describe it; decode its first frame if not too big."""
    from imageserver.video.videoio import open_video
    from imageserver.video.videoio import probe

    info = probe(video)  # the header, and the upright size
    if not info.width or not info.height:
        raise NotAVideoError(f"{video.name}: the video stream has no frame size")
    if info.pixels <= max_pixels:
        container, stream = open_video(video)
        with container:
            _first_frame(container, stream, video)
    return info


def _first_frame(container, stream, video: Path) -> None:
    import av

    try:
        for _ in container.decode(stream):
            return
    except av.error.FFmpegError as exc:
        raise TruncatedVideoError(f"{video.name}: no decodable frame ({exc})") from None
    raise TruncatedVideoError(f"{video.name}: no decodable frame")


def main(argv: list[str]) -> int:
    """Print the probe's JSON line for `argv = [path, max_pixels]`; exit 3 on a bad video."""
    video, max_pixels = Path(argv[0]), int(argv[1])
    try:
        info = read_info(video, max_pixels)
    except VideoError as exc:
        print(json.dumps({"error": str(exc)}))
        return ERROR_EXIT
    except OSError as exc:
        print(json.dumps({"error": f"{video.name}: cannot read: {exc.strerror or exc}"}))
        return ERROR_EXIT
    print(json.dumps(asdict(info)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
