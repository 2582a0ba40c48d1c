"""Data capture: requests and responses of ``/invocations`` appended to JSON Lines, SageMaker Model Monitor style.

Why: captured traffic is how a team finds drift and picks new tweets to label, and keeping SageMaker's line
shape (``captureData.endpointInput/endpointOutput``, ``eventMetadata``) lets the same analysis scripts read
both. Files are partitioned by hour (``yyyy/mm/dd/hh/``) and by process, so several server workers never
interleave writes in one file. Sampling keeps the cost bounded on busy endpoints.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

__all__ = ["DataCapture"]


def _encode(body: bytes, content_type: str) -> tuple[str, str]:
    if content_type.startswith("application/json") or content_type == "application/jsonlines":
        return body.decode("utf-8", errors="replace"), "JSON"
    if content_type.startswith("text/csv"):
        return body.decode("utf-8", errors="replace"), "CSV"
    return base64.b64encode(body).decode("ascii"), "BASE64"


class DataCapture:
    """Appends one JSON line per captured invocation under ``directory``; thread-safe."""

    def __init__(self, directory: str | Path, *, sampling_percentage: float = 100.0, seed: int | None = None) -> None:
        self.directory = Path(directory)
        self.sampling_percentage = sampling_percentage
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self._hour = ""

    def _file(self, now: datetime) -> IO[str]:
        hour = now.strftime("%Y/%m/%d/%H")
        if self._handle is None or hour != self._hour:
            if self._handle is not None:
                self._handle.close()
            folder = self.directory / hour
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{now.strftime('%M-%S-%f')}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            self._handle = (folder / name).open("a", encoding="utf-8", buffering=1)
            self._hour = hour
        return self._handle

    def record(
        self, request_body: bytes, request_type: str, response_body: bytes, response_type: str, *, event_id: str = ""
    ) -> bool:
        """Write one capture line (subject to sampling); True when it was written."""
        if self.sampling_percentage < 100 and self._random.uniform(0, 100) >= self.sampling_percentage:
            return False
        now = datetime.now(UTC)
        data_in, enc_in = _encode(request_body, request_type)
        data_out, enc_out = _encode(response_body, response_type)
        line = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": request_type,
                    "mode": "INPUT",
                    "data": data_in,
                    "encoding": enc_in,
                },
                "endpointOutput": {
                    "observedContentType": response_type,
                    "mode": "OUTPUT",
                    "data": data_out,
                    "encoding": enc_out,
                },
            },
            "eventMetadata": {
                "eventId": event_id or str(uuid.uuid4()),
                "inferenceTime": now.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z",
            },
            "eventVersion": "0",
        }
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            self._file(now).write(text)
        return True

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
