"""What one loader run is asked to do (`Options`) and what it produced (`RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imageserver.loader import launcher


@dataclass(frozen=True)
class Options:
    """Everything a run needs, parsed and checked by `cli`."""

    directory: str
    server: str
    output_dir: Path
    name: str | None = None
    token: str | None = None
    timeout: int | None = None
    recursive: bool = False
    watch: bool = False
    force_reload: bool = False
    unload_first: bool = False
    unload_after: bool = False
    verify: bool = True
    dimensions: bool = False
    workers: int = 16
    batch_size: int = 500
    progress: bool = True
    frame_base_dir: str | None = None
    start_command: tuple[str, ...] = launcher.DEFAULT_START_COMMAND
    # Variant query parameters (`--preset`, `--variant`) in canonical order; empty: originals.
    variant: tuple[tuple[str, str], ...] = ()
    # A video's frame choice (`--fps`, `--scene`, `--every`): ("fps", 2.0); None: the default.
    frames: tuple[str, float] | None = None
    # `--unique`: list only the frames the server keeps after its near-duplicate collapse.
    unique: bool = False


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced: the file written and how many URL checks failed."""

    output_file: Path
    count: int
    failures: int
