"""Does MCP in use move the 52 KB image row? (issue 30)

`python -m bench.mcp_use` starts our server (`python server.py`, 2 workers) with the main
benchmark's 52 KB frames and measures the same GET row (rotating `/d/<id>/<name>`, keep-alive,
the main benchmark's load generator) in three states, interleaved round by round (each round
starting with another) so the noise of a shared machine falls on all three alike:

- `before`: a server whose `/mcp` is never used (the MCP SDK not imported in any worker);
- `loaded`: a second server, run alongside, whose workers both served MCP calls before (SDK
  imported, session managers running), no MCP call during the measurement;
- `in use`: an agent in another process calls tools over `/mcp` during the measurement,
  rounds of `list_images` with `name`, `get_image` inline, `get_sheet` inline and
  `image_url`, back to back or `--pause` seconds apart (a model thinks between calls).

It prints requests/s and the server's CPU time per request (medians of the rounds), each
state's ratio to `before`, and how many tool calls the agent made. On a busy machine the CPU
per request is the steadier figure: other processes move requests/s, not our CPU time.
Loopback only.
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
    base_url: str, dir_id: str, names: list[str], pause: float, events: tuple[Any, Any, Any],
    calls: Any,
) -> None:  # fmt: skip
    active, idle, done = events
    i = 0
    while not done.is_set():
        if not active.wait(0.1):
            continue
        idle.clear()
        agent_round(base_url, dir_id, names, i)
        with calls.get_lock():
            calls.value += 4
        i += 1
        idle.set()
        done.wait(pause)


class Agent:
    """An agent in its own process (not sharing the load generator's GIL), started once,
    calling tools round after round (`pause` s apart) while active; counts the calls."""

    def __init__(self, base_url: str, dir_id: str, names: list[str], pause: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.calls = context.Value("i", 0)
        self._active, self._idle, self._done = context.Event(), context.Event(), context.Event()
        self._idle.set()
        events = (self._active, self._idle, self._done)
        args = (base_url, dir_id, names, pause, events, self.calls)
        self._process = context.Process(target=_agent_loop, args=args, daemon=True)

    def start(self) -> None:
        self._process.start()

    def stop(self) -> None:
        self._done.set()
        self._process.join(timeout=120)

    def __enter__(self) -> Agent:
        self._active.set()
        return self

    def __exit__(self, *exc: object) -> None:
        self._active.clear()
        self._idle.wait(120)  # the round under way ends before the next measurement


def measure(options: argparse.Namespace) -> str:
    """Run the rounds and return the report (markdown).

    Two servers run side by side, so that each round measures every state under the same
    machine load: `plain` never sees an MCP request, `mcp` has the SDK loaded in both
    workers and, for `in use`, an agent calling its tools.
    """
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-mcp-")))
        names = make_frames(workdir / "frames", options.frames)
        servers = {}
        for key in ("plain", "mcp"):
            target = OurServer(workdir / key)
            stack.callback(target.stop)
            target.start(workdir / "frames", names)
            servers[key] = target
        generator = LoadGenerator(workdir / "scripts")
        generator.script_dir.mkdir()

        def run(target: OurServer) -> tuple[float, float]:
            get = [Request(target.path_for(name)) for name in names]
            cpu = target.cpu_seconds()
            result = generator.run(
                target.base_url, target.base_url, get, options.concurrency, options.seconds
            )
            if result.errors:
                raise RuntimeError(f"{result.errors} errors in the 52 KB row")
            return result.rps, (target.cpu_seconds() - cpu) / max(1, result.requests) * 1e6

        mcp = servers["mcp"]
        dir_id = mcp.path_prefix.strip("/").split("/")[1]
        for i in range(8):  # fresh connections land on both workers: the SDK loads in each
            agent_round(mcp.base_url, dir_id, names[:64], i)
        agent = Agent(mcp.base_url, dir_id, names[:64], options.pause)
        agent.start()
        stack.callback(agent.stop)
        rates: dict[str, list[tuple[float, float]]] = {state: [] for state in STATES}
        for target in servers.values():
            run(target)  # warm-up: the page cache and connections, as the main benchmark does
        for round_ in range(options.repeat):
            # Each round starts with another state: no state always runs first.
            for state in STATES[round_ % 3 :] + STATES[: round_ % 3]:
                if state == "in use":
                    with agent:
                        rates[state].append(run(mcp))
                else:
                    rates[state].append(run(servers["plain"] if state == "before" else mcp))
        for target in servers.values():
            target.check_alive("the MCP benchmark")
    return report(options, rates, agent.calls.value, generator.description)


def report(
    options: argparse.Namespace, rates: dict[str, list[tuple[float, float]]], calls: int,
    client: str,
) -> str:  # fmt: skip
    """The table: requests/s and the server's CPU per request, per state (medians of the
    rounds, every round's requests/s) and their ratios to `before`."""
    base_rate = statistics.median(rate for rate, _ in rates["before"])
    base_cpu = statistics.median(cpu for _, cpu in rates["before"])
    lines = [
        f"52 KB GET `/d/<id>/<name>`, c={options.concurrency}, {options.seconds:g} s x "
        f"{options.repeat} rounds, {options.frames} frames; {client}",
        "",
        "| state | req/s (median) | rounds | vs before | server CPU us/req | vs before |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for state in STATES:
        rate = statistics.median(r for r, _ in rates[state])
        cpu = statistics.median(c for _, c in rates[state])
        rounds = ", ".join(f"{r:.0f}" for r, _ in rates[state])
        lines.append(
            f"| {state} | {rate:.0f} | {rounds} | {rate / base_rate:.2f}x | {cpu:.0f} | "
            f"{cpu / base_cpu:.2f}x |"
        )
    pace = f"{options.pause:g} s apart" if options.pause else "back to back"
    lines += [
        "",
        f"MCP tool calls while `in use` was measured: {calls} (rounds of 4, {pace}); its "
        "CPU per request includes the agent's tool calls, served by the same workers.",
    ]
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
