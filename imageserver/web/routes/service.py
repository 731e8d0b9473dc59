"""Operations routes: `GET /metrics` (Prometheus, docs/API.md#get-metrics) and `GET /readyz`.

`/metrics` follows the control API's access rule (the token when one is set); `/readyz`, like
`/healthz`, is open, for process supervisors and orchestrators.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Blueprint
from flask import Response
from flask import jsonify

from imageserver.observability import metrics
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.routes.auth import require_token

bp = Blueprint("service", __name__)


@bp.get("/readyz")
def readyz() -> Response:
    """Answer 200 when the state database answers and its directory is writable.

    :raise 503: either is not the case; the detail says which.
    """
    problem = services().registry.store.readiness_problem()
    if problem is not None:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, problem)
    return jsonify({"status": "ready"})


@bp.get("/metrics")
def metrics_text() -> Response:
    """Every worker's request metrics and the state gauges, in Prometheus text format.

    :raise 401: a token is configured and missing or wrong. :raise 404: metrics are off.
    """
    require_token()
    svc = services()
    if not svc.config.metrics:
        raise ApiError(HTTPStatus.NOT_FOUND, "Metrics are disabled (IMAGE_SERVER_METRICS)")
    body, content_type = metrics.render(svc.registry.counts)
    return Response(body, content_type=content_type)
