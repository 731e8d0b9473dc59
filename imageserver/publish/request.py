"""The publish API's request body and the JSON shape of a job (docs/PUBLISH.md); no Flask."""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import field_validator
from pydantic_core import PydanticCustomError

from imageserver.publish.jobs import DONE
from imageserver.publish.jobs import Job
from imageserver.settings.publish_target import MAX_URL_TTL
from imageserver.settings.publish_target import TargetError
from imageserver.settings.publish_target import parse_target
from imageserver.state import timers
from imageserver.variants.presets import PRESET_NAMES


class PublishRequest(BaseModel):
    """Body of `POST /api/directories/<id>/publish`."""

    model_config = ConfigDict(extra="ignore")

    target: str = Field(min_length=1, max_length=1024, examples=["s3://frames/recording-1"])
    preset: Literal[PRESET_NAMES] | None = None  # type: ignore[valid-type]
    url_ttl: int = Field(default=MAX_URL_TTL, ge=1, le=MAX_URL_TTL)
    public_base_url: str | None = Field(
        default=None, pattern=r"^https?://[^/\s?#]+", max_length=2048
    )

    @field_validator("target")
    @classmethod
    def _valid_target(cls, value: str) -> str:
        try:
            return str(parse_target(value))
        except TargetError as exc:
            raise PydanticCustomError("target", "{reason}", {"reason": str(exc)}) from None


def job_payload(job: Job) -> dict[str, Any]:
    """The `GET /api/jobs/<job>` body: the pinned keys first, the URLs once done."""
    counts = job.counts
    payload: dict[str, Any] = {
        "job": job.id,
        "state": job.state,
        "total": counts.total,
        "uploaded": counts.uploaded,
        "skipped": counts.skipped,
        "failed": counts.failed,
        "bytes": counts.bytes,
        "target": job.request.get("target"),
        "directory_id": job.dir_id,
        "attempts": job.attempts,
        "created_at": timers.format_local(job.created),
        "updated_at": timers.format_local(job.updated),
        "detail": job.detail,
    }
    if job.state == DONE and job.result is not None:
        payload["expires_at"] = job.result.get("expires_at")
        payload["image_urls"] = job.result.get("image_urls", [])
        payload["failures"] = job.result.get("failures", [])
    return payload
