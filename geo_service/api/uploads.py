"""Reading uploaded files with a size limit."""

from __future__ import annotations

from fastapi import UploadFile

from geo_service._errors import TooLargeError
from geo_service.i18n import msg


class UploadTooLargeError(TooLargeError):
    """An upload exceeds the configured size limit (HTTP 413)."""


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """The bytes of an uploaded file, refusing more than ``max_bytes`` (they are parsed
    later, off the event loop)."""
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLargeError(
            msg("upload larger than the limit of {n:,} bytes", n=max_bytes),
            settings="GEO_SERVICE_MAX_UPLOAD_BYTES", file=file.filename)
    return data
