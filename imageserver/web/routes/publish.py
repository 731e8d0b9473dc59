"""The publish API: start a background publish of a loaded directory, follow its job.

docs/PUBLISH.md. An exposed server must not become a way to push files into any bucket: with
`IMAGE_SERVER_PUBLISH_TARGETS` unset every publish request is 403, and a target must fall
under one of those listed. The token applies as on every control route.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from flask.blueprints import BlueprintSetupState

from imageserver.publish.jobs import JobStore
from imageserver.publish.request import PublishRequest
from imageserver.publish.request import job_payload
from imageserver.publish.runner import JobRunner
from imageserver.settings.publish_target import allowed
from imageserver.settings.publish_target import parse_target
from imageserver.web.context import EXTENSION_KEY
from imageserver.web.context import services
from imageserver.web.errors import ApiError
from imageserver.web.jsonio import read_json_body
from imageserver.web.routes.auth import require_token
from imageserver.web.schemas import parse_body
from imageserver.web.urls import public_base_url

RUNNER_KEY = "imageserver.publish"

bp = Blueprint("publish", __name__, url_prefix="/api")
bp.before_request(require_token)


@bp.record_once
def _create_runner(state: BlueprintSetupState) -> None:
    # The jobs table and this app's runner. Unfinished jobs are recovered by `recover_jobs`,
    # where the app starts its other background work (never from a request).
    app: Flask = state.app
    svc = app.extensions[EXTENSION_KEY]
    jobs = JobStore(svc.registry.store, svc.clock)
    jobs.initialise()
    app.extensions[RUNNER_KEY] = JobRunner(jobs, svc.config)


def recover_jobs(app: Flask, stop: threading.Event) -> None:
    """Resume (or fail) the jobs a dead process left unfinished, in the background until `stop`."""
    app.extensions[RUNNER_KEY].start_recovery(stop)


def _runner() -> JobRunner:
    from flask import current_app

    return current_app.extensions[RUNNER_KEY]


@bp.post("/directories/<dir_id>/publish")
def start_publish(dir_id: str) -> tuple[Response, int]:
    """Queue a publish of a loaded directory and run it in the background.

    :raise 403: publishing is off, or the target is not under an allowed one.
    :raise 404: unknown directory. :raise 422: bad body.
    """
    svc = services()
    targets = svc.config.publish_targets
    if not targets:
        raise ApiError(
            HTTPStatus.FORBIDDEN, "Publishing is disabled (IMAGE_SERVER_PUBLISH_TARGETS is unset)"
        )
    body = parse_body(PublishRequest, read_json_body(request))
    directory = svc.directory_or_404(dir_id)
    if not allowed(parse_target(body.target), targets):
        raise ApiError(HTTPStatus.FORBIDDEN, f"Target not allowed: {body.target}")
    runner = _runner()
    job = runner.jobs.create(
        directory.id, directory.real_path, directory.recursive, body.model_dump()
    )
    runner.start(job)
    status_url = f"{public_base_url(svc.config)}/api/jobs/{job.id}"
    return jsonify({"job": job.id, "status_url": status_url}), HTTPStatus.ACCEPTED


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """Report a job's state and progress, and its URLs once done. :raise 404: unknown job."""
    runner = _runner()
    job = runner.jobs.get(job_id)
    if job is None:
        raise ApiError(HTTPStatus.NOT_FOUND, f"Job not found: {job_id}")
    return jsonify(job_payload(job))
