"""The command line of `load_folder_v2.py` (docs/CLI.md) and its exit statuses.

`main` is the error boundary and nothing else: it turns every failure into one line on
stderr and an `ExitStatus`. `build_parser` defines the flags; `run.run` does the work.
Defaults come from `Config.from_env()`, the only reader of the environment and `.env`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from imageserver.cli import publish as publish_cli
from imageserver.cli.common import ExitStatus
from imageserver.cli.common import http_url
from imageserver.loader import launcher
from imageserver.loader import output
from imageserver.loader.errors import LoaderError
from imageserver.loader.errors import UsageError
from imageserver.loader.options import Options
from imageserver.loader.options import RunResult
from imageserver.loader.run import run
from imageserver.settings.config import Config
from imageserver.settings.config import ConfigError
from imageserver.variants.params import checked_params
from imageserver.variants.params import parse_variant_option
from imageserver.variants.presets import PRESET_NAMES

PROG = "load_folder_v2.py"
DEFAULT_WORKERS = 16
DEFAULT_BATCH_SIZE = 500


def exit_status_for(error: BaseException) -> ExitStatus:
    """Map a failure to its exit status."""
    if isinstance(error, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(error, (UsageError, ConfigError)):
        return ExitStatus.USAGE
    return ExitStatus.SERVER_OR_LOAD_FAILED


def exit_status_for_result(result: RunResult) -> ExitStatus:
    """Map a finished run to its exit status: 3 when any URL failed its check."""
    return ExitStatus.CHECKS_FAILED if result.failures else ExitStatus.OK


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {raw}")
    return value


def _minutes(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 = no timeout), got {value}")
    return value


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {raw!r}") from None


def _file_name(raw: str) -> str:
    try:
        return output.check_name(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _variant(raw: str) -> dict[str, str]:
    try:
        return parse_variant_option(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser(config: Config, prog: str = PROG) -> argparse.ArgumentParser:
    """Return the argument parser; `config` supplies the defaults taken from the environment."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Load a folder into the image server (or publish it to S3 storage) and "
        "write its image URLs as JSON.",
    )
    _add_target_flags(parser, config)
    _add_behaviour_flags(parser)
    _add_variant_flags(parser)
    publish_cli.add_flags(parser)
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true", help="log every step on stderr")
    noise.add_argument("--quiet", action="store_true", help="no progress bar, only problems")
    return parser


def _add_target_flags(parser: argparse.ArgumentParser, config: Config) -> None:
    add = parser.add_argument
    add("--dir", required=True, help="folder to load (relative: FRAME_BASE_DIR first, then cwd)")
    add(
        "--server",
        type=http_url,
        default=f"http://localhost:{config.port}",
        help="server URL (default: http://localhost:IMAGE_SERVER_PORT)",
    )
    add(
        "--token",
        default=config.tokens[0] if config.tokens else None,
        help="bearer token for the control API (default: IMAGE_SERVER_TOKEN)",
    )
    add(
        "--output",
        type=Path,
        # output/json in a checkout, $XDG_STATE_HOME/imageserver/json when installed.
        default=Path(config.output_dir) / "json",
        help="folder for the JSON files (default: output/json in the project; installed: "
        "$XDG_STATE_HOME/imageserver/json)",
    )
    add("--name", type=_file_name, help="write <output>/<name>.json instead of a timestamped name")
    # For tests: what runs (with `start <port>` appended) when no local server answers.
    add("--start-command", type=shlex.split, help=argparse.SUPPRESS)


def _add_behaviour_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--timeout", type=_minutes, metavar="MINUTES", help="auto-unload after MINUTES (0 = off)")
    add("--unload", action="store_true", help="unload the folder after writing the JSON")
    add("--unload-first", action="store_true", help="unload the current folder before loading")
    add("--force-reload", action="store_true", help="reload even if the folder is already current")
    add("--recursive", action="store_true", help="include images in sub-folders")
    add(
        "--watch",
        action="store_true",
        help="keep following the folder: frames written later are served as they appear",
    )
    _add_video_flags(parser)
    add("--no-verify", action="store_true", help="skip the HEAD check of every URL")
    add(
        "--dimensions",
        action="store_true",
        help="add an 'images' list with each file's size, width and height (read with Pillow)",
    )
    add(
        "--workers",
        type=_positive_int,
        default=DEFAULT_WORKERS,
        help=f"concurrent HEAD checks (default {DEFAULT_WORKERS})",
    )
    add(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"URLs checked per batch (default {DEFAULT_BATCH_SIZE})",
    )


def _add_video_flags(parser: argparse.ArgumentParser) -> None:
    # When --dir names a video file (docs/CLI.md): which frames the server extracts.
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--fps", type=_positive_float, help="video: frames per second (default 1)")
    choice.add_argument(
        "--scene",
        type=_positive_float,
        help="video: a frame per new screen (T: share of it changed, e.g. 0.3)",
    )
    choice.add_argument("--every", type=_positive_int, help="video: every N-th frame")
    parser.add_argument(
        "--unique",
        action="store_true",
        help="write only frames that differ from the previous kept one (near-duplicates out)",
    )


def frame_choice(args: argparse.Namespace) -> tuple[str, float] | None:
    """Return the video frame option given (`("fps", 2.0)`), or None."""
    for mode in ("fps", "scene", "every"):
        value = getattr(args, mode, None)
        if value is not None:
            return mode, value
    return None


def _add_variant_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--preset",
        choices=PRESET_NAMES,
        help="list variant URLs sized for a model API (e.g. claude, openai-low, cohere)",
    )
    add(
        "--variant",
        type=_variant,
        metavar="KEY=VALUE,...",
        help="list variant URLs with these parameters, e.g. max=1024,format=webp "
        "(keys: max, w, h, fit, format, quality, max_bytes, preset, as); the checks then "
        "compute every variant, which also warms the server's cache",
    )


def variant_params(args: argparse.Namespace) -> dict[str, str]:
    """Merge `--preset` and `--variant` into the query parameters of the listed URLs.

    :raise UsageError: the preset is given twice, or a value is invalid.
    """
    params = dict(args.variant or {})
    if args.preset:
        if "preset" in params:
            raise UsageError("give the preset once: --preset or preset= in --variant")
        params = {"preset": args.preset, **params}
    try:
        # The wide limits: whether the server is signed (wider) is its call; it answers 422.
        return checked_params(params, bounded=False)
    except ValueError as exc:
        raise UsageError(f"--variant: {exc}") from None


def options_from_args(args: argparse.Namespace, config: Config) -> Options:
    """Turn parsed flags into the run's `Options`."""
    return Options(
        directory=args.dir,
        server=args.server,
        output_dir=args.output.expanduser().absolute(),
        name=args.name,
        token=args.token or None,
        timeout=args.timeout,
        recursive=args.recursive,
        watch=args.watch,
        force_reload=args.force_reload,
        unload_first=args.unload_first,
        unload_after=args.unload,
        verify=not args.no_verify,
        dimensions=args.dimensions,
        variant=tuple(variant_params(args).items()),
        frames=frame_choice(args),
        unique=args.unique,
        workers=args.workers,
        batch_size=args.batch_size,
        progress=not args.quiet,
        frame_base_dir=config.frame_base_dir,
        start_command=tuple(args.start_command or launcher.DEFAULT_START_COMMAND),
    )


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Send the loader's messages to stderr: DEBUG with --verbose, WARNING with --quiet."""
    logger = logging.getLogger("imageserver.loader")
    logger.handlers[:] = [logging.StreamHandler(sys.stderr)]
    logger.handlers[0].setFormatter(logging.Formatter("%(message)s"))
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _program(argv: Sequence[str], prog: str) -> ExitStatus:
    config = Config.from_env()
    args = build_parser(config, prog).parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    publish_cli.check_flags(args)
    if args.publish is not None:
        outcome = publish_cli.run(args, config, variant_params(args))
        return ExitStatus.OK if outcome.complete else ExitStatus.CHECKS_FAILED
    result = asyncio.run(run(options_from_args(args, config)))
    return exit_status_for_result(result)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the loader; return the exit status. Failures become one line on stderr.

    `prog` names the command in usage and error lines (`imageserver load` says so).
    """
    try:
        return _program(sys.argv[1:] if argv is None else argv, prog)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    except (LoaderError, ConfigError, OSError, KeyboardInterrupt) as exc:
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"{prog}: error: {message}", file=sys.stderr)
        return exit_status_for(exc)
