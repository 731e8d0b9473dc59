"""The one error of the upload feature: an HTTP status and the `detail` the client reads."""

from __future__ import annotations

from http import HTTPStatus


class UploadError(Exception):
    """An upload refused; nothing of it is stored. The web layer answers `status` + `detail`."""

    def __init__(self, status: HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def not_an_image(detail: str) -> UploadError:
    """415: the bytes are not an image we take (text, SVG, an unknown format)."""
    return UploadError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, detail)


def broken(detail: str) -> UploadError:
    """422: an image format, but broken, truncated, or carrying something else."""
    return UploadError(HTTPStatus.UNPROCESSABLE_ENTITY, detail)


def too_large(detail: str) -> UploadError:
    """413: over the per-file limit or the inbox's quota."""
    return UploadError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, detail)
