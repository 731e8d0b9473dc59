"""The publish API's part of the OpenAPI document (docs/PUBLISH.md): its paths and schemas."""

from __future__ import annotations

from typing import Any

from imageserver.publish.request import PublishRequest
from imageserver.web.openapi.schemas import COUNT
from imageserver.web.openapi.schemas import DIRECTORY_ID
from imageserver.web.openapi.schemas import NOT_FOUND
from imageserver.web.openapi.schemas import NULLABLE_STRING
from imageserver.web.openapi.schemas import NULLABLE_TIMESTAMP
from imageserver.web.openapi.schemas import STRING
from imageserver.web.openapi.schemas import URL
from imageserver.web.openapi.schemas import Schema
from imageserver.web.openapi.schemas import _object
from imageserver.web.openapi.schemas import _parameter
from imageserver.web.openapi.schemas import model_schema
from imageserver.web.openapi.schemas import response_spec

JOB_ID = _parameter("path", "job_id", STRING, "Id of a publish job, from its 202 answer.")
JOB_STATES = ["queued", "running", "done", "failed"]


def publish_paths(ops: Any) -> dict[str, Any]:
    """Return the publish paths, built with the document's `_Operations` (`ops`)."""
    start = ops.operation(
        "publish_directory",
        "Publish a loaded directory to S3-compatible storage in the background",
        {
            "202": response_spec("The job is queued.", "PublishAccepted"),
            "403": response_spec(
                "Publishing is disabled, or the target is outside the allowed ones.", "Detail"
            ),
            "404": NOT_FOUND,
        },
        body="PublishRequest",
    )
    job = ops.operation(
        "get_job",
        "A publish job's state and progress; its URLs once done",
        {"200": response_spec("Success.", "Job"), "404": response_spec("No such job.", "Detail")},
    )
    return {
        "/api/directories/{id}/publish": {"parameters": [DIRECTORY_ID], **ops.write_path(start)},
        "/api/jobs/{job_id}": ops.read_path(job, parameters=[JOB_ID]),
    }


def publish_schemas() -> dict[str, Schema]:
    """Return the named schemas of the publish API."""
    counts = {key: COUNT for key in ("total", "uploaded", "skipped", "failed")}
    job = _object(
        {"job": STRING, "state": {"enum": JOB_STATES}, **counts},
        "A publish job; `image_urls`, `expires_at` and `failures` once it is done.",
    )
    job["properties"] |= {
        "bytes": COUNT,
        "target": STRING,
        "directory_id": STRING,
        "attempts": COUNT,
        "created_at": NULLABLE_TIMESTAMP,
        "updated_at": NULLABLE_TIMESTAMP,
        "detail": NULLABLE_STRING,
        "expires_at": NULLABLE_TIMESTAMP,
        "image_urls": {"type": "array", "items": URL},
        "failures": {"type": "array", "items": _object({"key": STRING, "reason": STRING})},
    }
    return {
        "PublishRequest": model_schema(PublishRequest, lax_integers=True),
        "PublishAccepted": _object({"job": STRING, "status_url": URL}),
        "Job": job,
    }
