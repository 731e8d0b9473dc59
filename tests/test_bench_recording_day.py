"""`python -m bench.recording_day --smoke` runs end to end and reports what issue 29 asks.

The smoke flavour makes a 5 s 320x180 screen recording with the real (Debian) ffmpeg, loads it
into the real server (`python server.py`, 2 workers), follows the extraction to its end,
unloads it, and times ffmpeg on the same file: the same steps as the 21-minute run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.environment import clean_env
from tests.support.parts import require_binary

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MEASURES = (
    "load answer",
    "time to done",
    "speed against ffmpeg",
    "idle PSS, fresh",
    "peak PSS during extraction, web server",
    "peak PSS, extraction process",
    "idle PSS after, extraction gone",
    "disk of the frames, loaded",
    "disk after unload, cache 0",
)


def test_the_smoke_run_measures_a_load_from_answer_to_unload(tmp_path: Path) -> None:
    require_binary("ffmpeg", "apt-get install -y ffmpeg; .ci/run does")
    output = tmp_path / "day.json"
    command = [sys.executable, "-m", "bench.recording_day", "--smoke", "--output", str(output)]
    command += ["--cache", str(tmp_path / "video"), "--workdir", str(tmp_path)]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr

    day = json.loads(output.read_text())
    assert day["answer_state"] in ("running", "done")
    assert day["load_answer_s"] < 20  # the default body answers within 20 s
    assert (day["final_state"], day["frames"], day["ffmpeg_frames"]) == ("done", 5, 5)
    assert day["time_to_done_s"] >= day["load_answer_s"]
    assert 10 < day["idle_pss_before_mb"] < 1000 and day["idle_pss_after_mb"] > 10
    assert 0 < day["idle_uss_before_mb"] < day["idle_pss_before_mb"]
    assert 0 < day["idle_uss_after_mb"] < day["idle_pss_after_mb"]
    assert day["peak_server_pss_mb"] >= day["idle_pss_before_mb"] * 0.5
    assert day["frames_disk_mb"] > 0
    if day["cache_setting_known"]:  # IMAGE_SERVER_FRAMES_CACHE_MB=0: deleted at unload
        assert day["files_after_unload"] == 0
    rows = [line.split("|")[1].strip() for line in result.stdout.splitlines() if "|" in line]
    for measure in MEASURES:
        assert any(row.startswith(measure) for row in rows), measure
