"""`python -m bench --smoke` runs end to end and prints the table it promises (issue 7).

The smoke run starts our real server and at least one reference server on loopback, loads
real JPEG frames, measures for a second each (wrk when installed, else the built-in client),
and must finish well under 30 s without apt-get.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.environment import clean_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HEADER = ["workload", "c", "server", "req/s", "p50 ms", "p99 ms", "errors", "vs nginx"]
REFERENCES = {"nginx", "flask", "http.server"}
INDEX_LINES = (
    "`POST /load-directory` (1,000 files)",
    "`GET /` (full `image_list`)",
    "listing page",
    "one image by stable URL",
    "server RSS per indexed file",
)


def table_rows(report: str, width: int) -> list[list[str]]:
    """Return the cells of every Markdown table line with `width` columns."""
    rows = []
    for line in report.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if len(cells) == width:
                rows.append(cells)
    return rows


def test_smoke_run_prints_the_table_with_no_errors_for_our_server(tmp_path):
    output = tmp_path / "report.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=PROJECT_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text().strip() == result.stdout.strip()

    header, *rows = table_rows(result.stdout, len(HEADER))
    assert header == HEADER
    cells = {(row[0], row[1], row[2]): row for row in rows}
    for workload in ("GET", "304", "Range"):
        ours = cells[(workload, "8", "ours")]
        assert float(ours[3].replace(",", "")) > 0, ours
        assert ours[6] == "0", f"our server had errors: {ours}"
    measured_references = [
        row for row in rows if row[0] == "GET" and row[2] in REFERENCES and row[6] == "0"
    ]
    assert measured_references, "no reference server was measured"

    index_table = [row[0] for row in table_rows(result.stdout, 2)]
    for what in INDEX_LINES:
        assert any(line.startswith(what) for line in index_table), what
