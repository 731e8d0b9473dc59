"""Which worker process answered: read from the per-process metric files of a server run.

Each worker keeps its own prometheus_client multiprocess file (`counter_<pid>.db` in the run's
`metrics-*` folder beside the state database) and flushes its request tallies into it within
a quarter of a second (imageserver/observability/metrics.py), so the files say, per pid, how
many requests of each route that worker answered.
"""

from __future__ import annotations

import json
from pathlib import Path

REQUESTS_SAMPLE = "imageserver_http_requests_total"


def answered_per_worker(state_dir: Path, route: str, method: str = "POST") -> dict[int, int]:
    """pid -> requests to `route` with `method` that worker counted so far."""
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[int, int] = {}
    for path in state_dir.glob("metrics-*/counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(path)):
            _metric, sample, labels, _help = json.loads(key)
            if sample == REQUESTS_SAMPLE and (labels["route"], labels["method"]) == (route, method):
                counts[pid] = counts.get(pid, 0) + int(value)
    return counts
