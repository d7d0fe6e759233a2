"""Reading uploaded files with a size limit."""

from __future__ import annotations

from fastapi import UploadFile

from geo_service._errors import TooLargeError


class UploadTooLargeError(TooLargeError):
    """An upload exceeds the configured size limit (HTTP 413)."""


async def read_upload(file: UploadFile, max_bytes: int) -> bytes:
    """The bytes of an uploaded file, refusing more than ``max_bytes`` (they are parsed
    later, off the event loop)."""
    data = await file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLargeError(
            f"ファイルが上限 {max_bytes:,} バイトを超えています"
            "（設定 GEO_SERVICE_MAX_UPLOAD_BYTES）",
            reason_en=f"upload larger than the limit of {max_bytes:,} bytes "
                      "(GEO_SERVICE_MAX_UPLOAD_BYTES)", file=file.filename)
    return data
