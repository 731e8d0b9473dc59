"""The targets of issue 11, checked against one run: each a ratio or a count, met or NOT met.

Ratios only compare cells of the same run, so a slow minute of the shared machine moves both
sides of each ratio alike. A target whose cells were not measured (a server skipped, the
smoke run's single concurrency) is reported as such, never as met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.model import Row
from bench.model import Summary
from bench.model import Workload
from bench.soak import SoakResult

OURS = "ours"
GET_VS_REFERENCE_MIN = 0.40
GET_VS_REFERENCE_AIM = 0.45
P99_LOW_CONCURRENCY_MAX_MS = 10.0
LOW_CONCURRENCY = 8
REVALIDATE_VS_GET_MIN = 1.5
RANGE_VS_GET_MIN = 0.9
# Issue 14: counting requests may cost at most 10% of the image rate.
METRICS_ON_VS_OFF_MIN = 0.90
OURS_NO_METRICS = "ours-nometrics"


@dataclass(frozen=True)
class Goal:
    """One line of the targets table."""

    what: str
    measured: str
    verdict: str  # "met", "NOT met" or "not measured"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _cell(rows: Sequence[Row], workload: Workload, c: int, server: str) -> Summary | None:
    for row in rows:
        if (row.workload, row.concurrency, row.server) == (workload, c, server):
            return row.summary
    return None


def _ratio_goal(what: str, top: Summary | None, bottom: Summary | None, least: float) -> Goal:
    if top is None or bottom is None or bottom.rps == 0:
        return Goal(what, "", "not measured")
    ratio = top.rps / bottom.rps
    return Goal(
        what, f"{ratio:.2f}x ({top.rps:,.0f} / {bottom.rps:,.0f} req/s)", _verdict(ratio >= least)
    )


def throughput_goals(rows: Sequence[Row], reference: str) -> list[Goal]:
    """Check GET against the reference, our p99 at c=8, and our 304 and Range rates."""
    top = max(row.concurrency for row in rows)
    ours_get = _cell(rows, Workload.GET, top, OURS)
    goals = [
        _ratio_goal(
            f"GET c={top}: ours >= {GET_VS_REFERENCE_MIN:.2f}x {reference} "
            f"(aim {GET_VS_REFERENCE_AIM:.2f}x)",
            ours_get,
            _cell(rows, Workload.GET, top, reference),
            GET_VS_REFERENCE_MIN,
        )
    ]
    low = _cell(rows, Workload.GET, LOW_CONCURRENCY, OURS)
    what = f"GET c={LOW_CONCURRENCY}: our p99 < {P99_LOW_CONCURRENCY_MAX_MS:g} ms"
    if low is None:
        goals.append(Goal(what, "", "not measured"))
    else:
        ok = low.p99_ms < P99_LOW_CONCURRENCY_MAX_MS
        goals.append(Goal(what, f"{low.p99_ms:.2f} ms", _verdict(ok)))
    goals += [
        _ratio_goal(
            f"304 c={top}: ours >= {REVALIDATE_VS_GET_MIN}x our GET",
            _cell(rows, Workload.REVALIDATE, top, OURS),
            ours_get,
            REVALIDATE_VS_GET_MIN,
        ),
        _ratio_goal(
            f"Range c={top}: ours >= {RANGE_VS_GET_MIN}x our GET",
            _cell(rows, Workload.RANGE, top, OURS),
            ours_get,
            RANGE_VS_GET_MIN,
        ),
        _ratio_goal(
            f"GET c={top}: metrics on >= {METRICS_ON_VS_OFF_MIN:.2f}x metrics off (issue 14)",
            ours_get,
            _cell(rows, Workload.GET, top, OURS_NO_METRICS),
            METRICS_ON_VS_OFF_MIN,
        ),
    ]
    return goals


def soak_goal(soak: SoakResult | None) -> Goal:
    """Check the soak: no socket error and no non-2xx on the images, no failed control call."""
    what = "soak: 0 errors and 0 non-2xx on the images; every load/unload answered 200"
    if soak is None:
        return Goal(what, "", "not measured")
    images, churn = soak.images, soak.churn
    non_2xx = images.non_2xx if images.non_2xx is not None else images.status_errors
    ok = (
        soak.server_survived
        and images.socket_errors == 0
        and non_2xx == 0
        and churn.failures == 0
        and churn.exceptions == 0
        and churn.loads > 0
        and not churn.first_problem
    )
    measured = (
        f"{images.socket_errors} errors, {non_2xx} non-2xx; "
        f"{churn.loads} loads, {churn.unloads} unloads, "
        f"{churn.failures + churn.exceptions} failed"
        + ("" if soak.server_survived else "; the server exited")
    )
    return Goal(what, measured, _verdict(ok))


def render_goals(goals: Sequence[Goal]) -> str:
    """Return the targets as a Markdown table."""
    lines = ["| target (issue 11) | measured | verdict |", "|---|---|---|"]
    lines += [f"| {g.what} | {g.measured} | {g.verdict} |" for g in goals]
    return "\n".join(lines)
