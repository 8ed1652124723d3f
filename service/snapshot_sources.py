"""Where a snapshot to recover comes from, besides the data directory's own snapshots folder:
an ``http(s)://`` URL (Qdrant's ``PUT /snapshots/recover`` with a remote ``location``) or a
multipart upload (``POST /snapshots/upload``).

Either way the bytes are streamed to a fresh file under the data directory's ``.tmp``
(:meth:`vecsearch.database.Database.work_dir`: a crash leaves nothing behind that the next
start does not clean), never held in memory, and refused once they pass ``max_bytes``
(413). The caller restores from that file (checksum and archive verified there, see
:func:`vecsearch.snapshots.unpack_snapshot`) and deletes it.

Failures are the caller's to fix and answer 4xx naming the field: an unreachable URL, a
non-200 answer, a body that is not ``multipart/form-data`` or lacks the ``snapshot`` file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from vecsearch.errors import ValidationError

#: Seconds to wait for a remote snapshot's server (connect, and between reads).
FETCH_TIMEOUT = 60.0
#: Multipart field that carries the uploaded snapshot (Qdrant's name).
UPLOAD_FIELD = "snapshot"


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"Payload too large: the snapshot exceeds {max_bytes} bytes")


def fetch_snapshot(url: str, dest: Path, max_bytes: int, api_key: str | None = None) -> None:
    """Download ``url`` into the new file ``dest`` (``api_key`` sent as Qdrant's
    ``api-key`` header when given)."""
    headers = {"api-key": api_key} if api_key else {}
    try:
        with (
            httpx.stream(
                "GET", url, headers=headers, timeout=FETCH_TIMEOUT, follow_redirects=True
            ) as r,
            open(dest, "xb") as fh,
        ):
            if r.status_code != 200:
                raise ValidationError(
                    "location", f"fetching {url} answered HTTP {r.status_code}, not 200"
                )
            declared = r.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            n = 0
            for chunk in r.iter_bytes(1 << 20):
                n += len(chunk)
                if n > max_bytes:
                    raise _too_large(max_bytes)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except httpx.HTTPError as exc:
        raise ValidationError("location", f"cannot fetch {url}: {exc}") from None


class _UploadWriter:
    """Multipart callbacks that write the ``snapshot`` part to a file."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.fh: Any = None
        self.found = False
        self._field = b""
        self._value = b""
        self._disposition = b""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._add("_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._add("_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _add(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _begin(self) -> None:
        self._disposition = b""

    def _header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value
        self._field = self._value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") == UPLOAD_FIELD.encode() and not self.found:
            self.found = True
            self.fh = open(self.dest, "xb")  # noqa: SIM115 - closed in _end / close

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.fh is not None:
            self.fh.write(data[start:end])

    def _end(self) -> None:
        if self.fh is not None:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            self.fh = None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> None:
    """Stream the ``snapshot`` file of a ``multipart/form-data`` request into the new file
    ``dest``."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ValidationError(
            UPLOAD_FIELD, "expected a multipart/form-data body with a 'snapshot' file"
        )
    writer = _UploadWriter(dest)
    parser = MultipartParser(boundary, writer.callbacks())
    n = 0
    try:
        async for chunk in request.stream():
            n += len(chunk)
            if n > max_bytes:
                raise _too_large(max_bytes)
            await run_in_threadpool(parser.write, chunk)  # file writes off the event loop
        parser.finalize()
    except ValueError as exc:  # python-multipart's parse errors
        raise ValidationError(UPLOAD_FIELD, f"malformed multipart body: {exc}") from None
    finally:
        writer.close()
    if not writer.found:
        raise ValidationError(UPLOAD_FIELD, "missing: the body has no 'snapshot' file part")
