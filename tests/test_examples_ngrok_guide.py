"""NGROK_SETUP.md: every command the guide marks `<!-- test: ... -->` runs as written.

The guide's fenced blocks each carry a marker: `test: <name>` (run here) or
`skip: <reason>` (needs a real ngrok account, Docker or cloudflared). The test runs the
marked blocks in the guide's order, the way a user pastes them into one terminal in the
project folder, with only the port, the frames folder and the agent's address changed:
a stand-in agent API lists a tunnel, the real `setup_ngrok.sh` records its URL in `.env`,
the real server starts with the guide's `.env` (via `server_factory`), and the checks and
the bandwidth loop run against it with curl.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from PIL import Image
from PIL import ImageDraw

from tests.support.environment import clean_env
from tests.support.server import PROJECT_ROOT
from tests.support.stub_http import StubServer

GUIDE = PROJECT_ROOT / "NGROK_SETUP.md"
NGROK_URL = "https://guide-test.ngrok-free.app"
BLOCK = re.compile(r"<!-- (test|skip): ([^>]*?) -->\n```(\w+)\n(.*?)```", re.DOTALL)
FENCE = re.compile(r"^```\w+$", re.MULTILINE)


def guide_blocks() -> dict[str, str]:
    """The blocks marked for testing, by name; asserts that every block is marked."""
    text = GUIDE.read_text(encoding="utf-8")
    found = BLOCK.findall(text)
    assert len(found) == len(FENCE.findall(text)), "every fenced block needs a marker"
    assert all(reason.strip() for kind, reason, _, _ in found if kind == "skip")
    return {name: body for kind, name, _, body in found if kind == "test"}


def agent(port_box: list[int]):
    """A stand-in of the ngrok agent API: one https tunnel to the port in `port_box`."""

    def handle(method: str, path: str, headers: dict, body: bytes):
        tunnel = {
            "name": "imageserver",
            "public_url": NGROK_URL,
            "proto": "https",
            "config": {"addr": f"http://localhost:{port_box[0]}", "inspect": True},
        }
        return 200, {"tunnels": [tunnel], "uri": "/api/tunnels"}

    return handle


def screen_frame(path: Path) -> None:
    """A 1920x1080 frame with text-like lines, heavy enough for the presets to matter."""
    image = Image.new("RGB", (1920, 1080), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for y in range(80, 1040, 20):
        for x in range(40, 1880, 90):
            draw.rectangle((x, y, x + 20 + (x * y) % 60, y + 9), fill=((x + y) % 200, 40, 90))
    image.save(path, "JPEG", quality=90)


class Terminal:
    """Run guide blocks with bash in one folder, with the test's port/paths swapped in."""

    def __init__(self, folder: Path, env: dict[str, str], swaps: dict[str, str]) -> None:
        # Shell variables (TOKEN, ID) carry from block to block, as in one terminal.
        self.folder, self.env, self.swaps = folder, env, swaps

    def run(self, block: str) -> str:
        """Run one block after the shell variables the earlier blocks set; return stdout."""
        for old, new in self.swaps.items():
            block = block.replace(old, new)
        state = self.folder / ".guide-shell-state"
        script = (
            f"set -euo pipefail\n[ -f {state} ] && source {state}\n{block}\n"
            f"declare -p TOKEN ID > {state} 2>/dev/null || true\n"
        )
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (block, result.stdout, result.stderr)
        return result.stdout


def test_the_guide_commands_work_as_written(server_factory, tmp_path: Path) -> None:
    blocks = guide_blocks()
    assert list(blocks) == ["secrets", "env", "tunnel", "agent", "check", "bandwidth"]
    root = tmp_path / "frames"
    (root / "recording-01").mkdir(parents=True)
    for number in (1, 2, 3):
        screen_frame(root / "recording-01" / f"frame_{number:06d}.jpg")
    port_box = [0]
    with StubServer(agent(port_box)) as ngrok_agent:
        env = clean_env(
            IMAGE_SERVER_ENV_FILE=str(tmp_path / ".env"),
            IMAGE_SERVER_RUN_DIR=str(tmp_path / "run"),
            NGROK_API_URL=ngrok_agent.base_url,
        )
        swaps = {"./": f"{PROJECT_ROOT}/", "/data/frames": str(root)}
        swaps["http://127.0.0.1:4040"] = ngrok_agent.base_url
        shell = Terminal(tmp_path, env, swaps)

        secrets = shell.run(blocks["secrets"]).split()
        assert len(secrets) == 2 and all(len(s) >= 40 for s in secrets)
        settings = blocks["env"].replace("<first secret>", secrets[0])
        settings = settings.replace("<second secret>", secrets[1]).replace(
            "/data/frames", str(root)
        )
        (tmp_path / ".env").write_text(settings, encoding="utf-8")

        # The server the tunnel points at; its port stands in for the guide's 7779.
        first = server_factory(env={"IMAGE_SERVER_ENV_FILE": str(tmp_path / ".env")})
        port_box[0] = first.port
        shell.swaps = {"7779": str(first.port), **swaps}
        assert shell.run(blocks["tunnel"]) == f"NGROK_URL={NGROK_URL}\n"
        recorded = (tmp_path / ".env").read_text(encoding="utf-8")
        assert f"IMAGE_SERVER_PUBLIC_URL={NGROK_URL}\n" in recorded
        assert secrets[0] in recorded  # the other lines are kept
        listed = json.loads(shell.run(blocks["agent"]))
        assert listed["tunnels"][0]["public_url"] == NGROK_URL

    # "Restart the server so it reads .env": a new server with the updated .env.
    first.stop()
    server = server_factory(env={"IMAGE_SERVER_ENV_FILE": str(tmp_path / ".env")})
    shell.swaps = {"7779": str(server.port), **swaps}
    lines = shell.run(blocks["check"]).splitlines()
    assert lines[0] == '{"status":"ok"}'
    assert lines[1] == "401"
    assert json.loads(lines[2])["status"] == "success"
    assert str(root) not in lines[2]  # IMAGE_SERVER_HIDE_PATHS
    images = json.loads(lines[3])["images"]
    assert [image["name"] for image in images] == ["frame_000001.jpg", "frame_000002.jpg"]
    assert all(image["url"].startswith(NGROK_URL + "/d/") for image in images)
    assert all("sig=" in image["url"] and "exp=" in image["url"] for image in images)

    sizes = dict(line.split()[:2] for line in shell.run(blocks["bandwidth"]).splitlines())
    sizes = {preset: int(size) for preset, size in sizes.items()}
    assert list(sizes) == ["none", "claude", "openai-high", "openai-low", "thumb"]
    original = (root / "recording-01" / "frame_000001.jpg").stat().st_size
    assert sizes["none"] == original
    assert original > sizes["claude"] > sizes["openai-low"] > sizes["thumb"] > 0
