"""Does MCP in use move the 52 KB image row? (issue 30)

`python -m bench.mcp_use` starts our server (`python server.py`, 2 workers) with the main
benchmark's 52 KB frames and measures the same GET row (rotating `/d/<id>/<name>`, keep-alive,
the main benchmark's load generator) in three states, interleaved round by round so the
noise of a shared machine falls on all three alike:

- `before`: `/mcp` never used, the MCP SDK not imported in any worker;
- `loaded`: after MCP calls reached both workers (SDK imported, session managers running),
  no MCP call during the measurement;
- `in use`: an agent in another process calls tools over `/mcp` during the measurement,
  rounds of `list_images` with `name`, `get_image` inline, `get_sheet` inline and
  `image_url`, back to back or `--pause` seconds apart (a model thinks between calls).

It prints requests/s (median of the rounds) and each state's ratio to `before`, and how many
tool calls the agent made. Loopback only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from bench.data import make_frames
from bench.load import LoadGenerator
from bench.model import Request
from bench.targets import OurServer

STATES = ("before", "loaded", "in use")
MCP_HEADERS = {"Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}  # fmt: skip


def tool_call(base_url: str, name: str, arguments: dict[str, Any], call_id: int) -> dict:
    """One stateless `tools/call` over `/mcp` (JSON answer). :raise RuntimeError: a tool error."""
    body = {"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}  # fmt: skip
    answer = requests.post(f"{base_url}/mcp", json=body, headers=MCP_HEADERS, timeout=120)
    result = answer.json()["result"]
    if result.get("isError"):
        raise RuntimeError(f"{name}: {result['content']}")
    return result


def agent_round(base_url: str, dir_id: str, names: list[str], i: int) -> None:
    """One agent step, 4 tool calls: find a frame, look at it, look at a sheet, get a URL."""
    name = names[i % len(names)]
    frame = {"directory_id": dir_id, "name": name}
    tool_call(base_url, "list_images", {**frame, "facts": True}, i)
    tool_call(base_url, "get_image", frame, i)
    tool_call(base_url, "get_sheet", {"directory_id": dir_id, "from_name": name, "count": 16}, i)
    tool_call(base_url, "image_url", frame, i)


def _agent_loop(
    base_url: str, dir_id: str, names: list[str], pause: float, stop: Any, calls: Any
) -> None:
    i = 0
    while not stop.is_set():
        agent_round(base_url, dir_id, names, i)
        with calls.get_lock():
            calls.value += 4
        i += 1
        stop.wait(pause)


class Agent:
    """An agent in its own process (not sharing the load generator's GIL), calling tools
    round after round, `pause` seconds apart, until stopped; counts the calls."""

    def __init__(self, base_url: str, dir_id: str, names: list[str], pause: float) -> None:
        self.args = (base_url, dir_id, names, pause)
        self._context = multiprocessing.get_context("spawn")
        self.calls = self._context.Value("i", 0)
        self._stop = self._context.Event()
        self._process: Any = None

    def __enter__(self) -> Agent:
        self._stop.clear()
        self._process = self._context.Process(
            target=_agent_loop, args=(*self.args, self._stop, self.calls), daemon=True
        )
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=120)


def measure(options: argparse.Namespace) -> str:
    """Run the rounds and return the report (markdown)."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mcp-")))
        names = make_frames(workdir / "frames", options.frames)
        target = OurServer(workdir)
        stack.callback(target.stop)
        target.start(workdir / "frames", names)
        dir_id = target.path_prefix.strip("/").split("/")[1]
        generator = LoadGenerator(workdir / "scripts")
        generator.script_dir.mkdir()
        get = [Request(target.path_for(name)) for name in names]

        def run() -> float:
            result = generator.run(
                "get", target.base_url, get, options.concurrency, options.seconds
            )
            if result.errors:
                raise RuntimeError(f"{result.errors} errors in the 52 KB row")
            return result.rps

        agent = Agent(target.base_url, dir_id, names[:64], options.pause)
        rates: dict[str, list[float]] = {state: [] for state in STATES}
        run()  # warm-up: the page cache and connections, as the main benchmark does
        for _ in range(options.repeat):
            rates["before"].append(run())
        for i in range(8):  # fresh connections land on both workers: the SDK loads in each
            agent_round(target.base_url, dir_id, names[:64], i)
        for _ in range(options.repeat):
            rates["loaded"].append(run())
            with agent:
                rates["in use"].append(run())
        target.check_alive("the MCP benchmark")
    return report(options, rates, agent.calls.value, generator.description)


def report(options: argparse.Namespace, rates: dict[str, list[float]], calls: int,
           client: str) -> str:  # fmt: skip
    """The table: requests/s per state (median, and every round) and the ratio to `before`."""
    base = statistics.median(rates["before"])
    lines = [
        f"52 KB GET `/d/<id>/<name>`, c={options.concurrency}, {options.seconds:g} s x "
        f"{options.repeat} rounds, {options.frames} frames; {client}",
        "",
        "| state | req/s (median) | rounds | vs before |",
        "|---|---:|---|---:|",
    ]
    for state in STATES:
        median = statistics.median(rates[state])
        rounds = ", ".join(f"{rate:.0f}" for rate in rates[state])
        lines.append(f"| {state} | {median:.0f} | {rounds} | {median / base:.2f}x |")
    lines.append("")
    pace = f"{options.pause:g} s apart" if options.pause else "back to back"
    lines.append(f"MCP tool calls while `in use` was measured: {calls} (rounds of 4, {pace})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.mcp_use", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, the median is kept (3)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (8)")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds between the agent's rounds of 4 calls (0: back to back)",
    )
    parser.add_argument("--frames", type=int, default=500, help="52 KB frames to serve (500)")
    print(measure(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
