"""Request and response bodies of ``POST /invocations``, by content type (SageMaker's inference contract).

- ``application/json``: ``{"instances": ["text", {"source": "text"}, ...]}`` or one ``{"source": "text"}``
  → ``{"predictions": [{"label", "class_index", "confidence", "probabilities"}, ...]}``.
- ``application/jsonlines``: manifest lines with ``source`` → the same lines, attributes kept, with
  ``<attr>`` and ``<attr>-metadata`` added in Ground Truth's output-manifest shape.
- ``text/csv``: one text per row (the first field) → rows ``label,class_index,p_0,...,p_k`` (no header, like
  SageMaker's built-ins); ``Accept: application/json`` gives the JSON answer for any input instead.

Parsing is pure: it raises :class:`BodyError` with the HTTP status and a message, and the router turns
that into the response. No FastAPI here, so the rules are unit-testable.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from groundswell.serve.predictor import Prediction, prediction_attributes

__all__ = [
    "CONTENT_TYPES",
    "MAX_PAYLOAD_BYTES",
    "BodyError",
    "ParsedBody",
    "encode_predictions",
    "loads_json",
    "media_type",
    "parse_body",
]

#: SageMaker real-time endpoints refuse payloads over 6 MB; so do we.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
JSON = "application/json"
JSONLINES = "application/jsonlines"
CSV = "text/csv"
CONTENT_TYPES = (JSON, JSONLINES, CSV)
_ALIASES = {"application/x-jsonlines": JSONLINES, "application/jsonl": JSONLINES, "application/x-ndjson": JSONLINES}


class BodyError(Exception):
    """A request body we cannot answer: ``status`` is the HTTP status (400, 413, 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ParsedBody:
    """The texts to predict, plus what is needed to shape the answer like the question."""

    content_type: str
    texts: list[str]
    #: For JSON Lines: the parsed input objects, echoed back with the prediction added.
    lines: list[dict[str, Any]] = field(default_factory=list)


def media_type(header: str | None) -> str:
    """``text/csv; charset=utf-8`` → ``text/csv`` (lower-case, aliases folded)."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(value, value)


def _text_of(value: Any, where: str) -> str:
    if isinstance(value, dict):
        value = value.get("source")
    if not isinstance(value, str):
        raise BodyError(400, f'{where}: expected a string or an object with a "source" string')
    if not value.strip():
        raise BodyError(400, f"{where}: empty text")
    return value


def parse_body(body: bytes, content_type: str | None) -> ParsedBody:
    """Decode and validate a body; ``BodyError`` with 400/413/415 otherwise."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise BodyError(415, f"unsupported content type {kind or '(none)'!r}; use one of: {', '.join(CONTENT_TYPES)}")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise BodyError(413, f"payload of {len(body):,} bytes is over the {MAX_PAYLOAD_BYTES:,}-byte limit")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body is not UTF-8: {exc}") from exc
    if not text.strip():
        raise BodyError(400, "empty body")
    if kind == JSON:
        return ParsedBody(kind, _parse_json(text))
    if kind == JSONLINES:
        lines: list[dict[str, Any]] = []
        texts: list[str] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                row = loads_json(raw)
            except json.JSONDecodeError as exc:
                raise BodyError(400, f"line {number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise BodyError(400, f'line {number}: expected a JSON object with "source"')
            texts.append(_text_of(row, f"line {number}"))
            lines.append(row)
        return ParsedBody(kind, texts, lines)
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise BodyError(400, f"malformed CSV: {exc}") from exc
    return ParsedBody(kind, [_text_of(row[0], f"row {i}") for i, row in enumerate(rows, start=1)])


def loads_json(text: str | bytes) -> Any:
    """``json.loads``, with JSON nested too deep for the parser refused as a 400 (it raises RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise BodyError(400, "JSON nested too deeply") from exc


def _parse_json(text: str) -> list[str]:
    try:
        data = loads_json(text)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if isinstance(data, dict) and "instances" in data:
        instances = data["instances"]
        if not isinstance(instances, list) or not instances:
            raise BodyError(400, '"instances" must be a non-empty list')
        return [_text_of(value, f"instances[{i}]") for i, value in enumerate(instances)]
    if isinstance(data, dict) and "source" in data:
        return [_text_of(data, "source")]
    raise BodyError(400, 'expected {"instances": ["text", ...]} or {"source": "text"}')


def encode_predictions(
    parsed: ParsedBody,
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    *,
    accept: str | None,
    attribute: str,
    job_name: str,
    created: str,
) -> tuple[bytes, str]:
    """The response body and its content type: same shape as the request unless ``Accept`` asks for JSON."""
    wanted = media_type(accept)
    if wanted == JSON or (parsed.content_type == JSON and wanted not in (JSONLINES, CSV)):
        body = {"predictions": [p.to_json(labels) for p in predictions]}
        return json.dumps(body, ensure_ascii=False).encode("utf-8"), JSON
    if parsed.content_type == JSONLINES or wanted == JSONLINES:
        rows = parsed.lines or [{"source": t} for t in parsed.texts]
        out = []
        for row, prediction in zip(rows, predictions, strict=True):
            merged = {
                **row,
                **prediction_attributes(prediction, attribute=attribute, job_name=job_name, created=created),
            }
            out.append(json.dumps(merged, ensure_ascii=False))
        return ("\n".join(out) + "\n").encode("utf-8"), JSONLINES
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for p in predictions:
        writer.writerow([p.label, p.class_index, *(f"{x:.6f}" for x in p.probabilities)])
    return buffer.getvalue().encode("utf-8"), CSV
