"""The prediction endpoint: SageMaker's container contract (``GET /ping``, ``POST /invocations``) plus ``/predict``.

Why a router factory: the same routes run standalone (``groundswell endpoint serve``, :func:`make_app`) and
mounted inside the main web app later (:func:`make_router`), with one :class:`ModelHolder` either way.
Handlers take the raw ``Request`` and return raw ``Response`` objects: no pydantic model per request, because
at thousands of requests a second the validation layer would cost more than the model.

Errors use the project's one JSON error shape ``{"ok": false, "error", "errors", "status"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from groundswell.errors import GroundswellError, UsageError, error_body
from groundswell.serve.batcher import MicroBatcher
from groundswell.serve.capture import DataCapture
from groundswell.serve.codecs import (
    JSON,
    MAX_PAYLOAD_BYTES,
    BodyError,
    encode_predictions,
    loads_json,
    media_type,
    parse_body,
)
from groundswell.serve.predictor import ModelHolder, Prediction, Predictor, creation_date
from groundswell.serve.review import ReviewQueue
from groundswell.telemetry.http import CONTENT_TYPE, RequestTelemetry, exposition, request_id_of

__all__ = ["EndpointState", "make_app", "make_router"]

_Result = tuple[Prediction, Predictor]
_log = logging.getLogger("groundswell.serve")


def _error(status: int, message: str) -> Response:
    return Response(json.dumps(error_body(message, status)), status_code=status, media_type=JSON)


class EndpointState:
    """Everything the routes share: the model holder, the micro-batcher and optional data capture."""

    def __init__(
        self,
        holder: ModelHolder,
        *,
        capture: DataCapture | None = None,
        max_batch: int = 512,
        max_wait_s: float = 0.001,
        workers: int = 1,
    ) -> None:
        self.holder = holder
        self.capture = capture
        self.workers = workers
        #: Low-confidence tweets go to people (``serve.review``); set at start-up in each server process.
        self.review: ReviewQueue | None = None
        self.batcher: MicroBatcher[_Result] = MicroBatcher(self._predict, max_batch=max_batch, max_wait_s=max_wait_s)

    def _predict(self, texts: Sequence[str]) -> list[_Result]:
        predictor = self.holder.predictor
        if predictor is None:
            raise GroundswellError("the model is not loaded yet")
        return [(p, predictor) for p in predictor.predict(texts)]

    async def predict(self, texts: Sequence[str]) -> tuple[list[Prediction], Predictor]:
        current = self.holder.predictor
        # The compiled TF-IDF model is Python-bound (best on the event loop); torch embeddings release the GIL.
        self.batcher.use_thread = current is not None and current.card.model_type != "tfidf-linear"
        results = await self.batcher.predict(texts)
        # Every text of one request is answered in one batch, hence by one model version.
        return [r[0] for r in results], results[0][1]


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
        raise BodyError(413, f"payload of {int(declared):,} bytes is over the {MAX_PAYLOAD_BYTES:,}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD_BYTES:
            raise BodyError(413, f"payload is over the {MAX_PAYLOAD_BYTES:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def make_router(model: EndpointState | ModelHolder | Predictor) -> APIRouter:
    """The endpoint's routes; mount it anywhere (``app.include_router(make_router(predictor), prefix=...)``).

    It adds no lifespan of its own: give it a loaded :class:`Predictor` (or a ready :class:`ModelHolder`).
    """
    if isinstance(model, Predictor):
        model = ModelHolder(model.loaded.directory, model)
    endpoint = model if isinstance(model, EndpointState) else EndpointState(model)
    router = APIRouter()

    @router.get("/ping")
    async def ping() -> Response:
        """200 with an empty body once the model is loaded (SageMaker's health check); 503 before."""
        return Response(status_code=200 if endpoint.holder.ready else 503)

    @router.get("/execution-parameters")
    async def execution_parameters() -> Response:
        """What a batch-transform client may send at once (SageMaker's optional batch contract)."""
        body = {"MaxConcurrentTransforms": endpoint.workers, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
        return Response(json.dumps(body), media_type=JSON)

    @router.get("/model")
    async def model_info() -> Response:
        """The served model's card summary: type, labels, version and validation metrics."""
        predictor = endpoint.holder.predictor
        if predictor is None:
            return _error(503, "the model is still loading")
        card = predictor.card
        body = {
            "model_type": card.model_type,
            "labels": card.labels,
            "version": predictor.version,
            "directory": str(endpoint.holder.directory),
            "metrics": card.metrics,
            "reload_error": endpoint.holder.error,
        }
        return Response(json.dumps(body), media_type=JSON)

    @router.post("/invocations")
    async def invocations(request: Request) -> Response:
        """Predict for a JSON, JSON Lines or CSV body; the answer's shape follows the request's."""
        if not endpoint.holder.ready:
            return _error(503, "the model is still loading; retry when GET /ping answers 200")
        content_type = request.headers.get("content-type")
        try:
            body = await _read_body(request)
            parsed = parse_body(body, content_type)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        predictions, predictor = await endpoint.predict(parsed.texts)
        if endpoint.review is not None:
            endpoint.review.offer(parsed.texts, predictions)
        card = predictor.card
        payload, out_type = encode_predictions(
            parsed,
            predictions,
            predictor.labels,
            accept=request.headers.get("accept"),
            attribute=card.label_attribute_name,
            job_name=card.job_name,
            created=creation_date(),
        )
        if endpoint.capture is not None:
            event_id = request.headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
            endpoint.capture.record(body, media_type(content_type), payload, out_type, event_id=event_id)
        return Response(payload, media_type=out_type)

    @router.get("/predict")
    async def predict_get(text: str = "") -> Response:
        """For people: ``/predict?text=I love it`` → the label and probabilities, pretty-printed."""
        return await _predict_for_people([text])

    @router.post("/predict")
    async def predict_post(request: Request) -> Response:
        """For people and scripts: ``{"text": "..."}`` or ``{"texts": [...]}``."""
        try:
            data: Any = loads_json(await _read_body(request) or b"null")
        except (BodyError, ValueError) as exc:
            return _error(getattr(exc, "status", 400), getattr(exc, "message", f"not valid JSON: {exc}"))
        if isinstance(data, dict) and isinstance(data.get("texts"), list):
            return await _predict_for_people(data["texts"])
        if isinstance(data, dict) and "text" in data:
            return await _predict_for_people([data["text"]])
        return _error(400, 'expected {"text": "..."} or {"texts": ["...", ...]}')

    async def _predict_for_people(texts: list[Any]) -> Response:
        if not endpoint.holder.ready:
            return _error(503, "the model is still loading")
        if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
            return _error(400, "give a non-empty text, e.g. /predict?text=what+a+great+day")
        predictions, predictor = await endpoint.predict(texts)
        if endpoint.review is not None:
            endpoint.review.offer(texts, predictions)
        body = [{"text": t, **p.to_json(predictor.labels)} for t, p in zip(texts, predictions, strict=True)]
        return Response(json.dumps(body if len(body) > 1 else body[0], indent=2, ensure_ascii=False), media_type=JSON)

    return router


def make_app(
    model: Predictor | ModelHolder | str | Path,
    *,
    capture_dir: str | Path | None = None,
    capture_sampling: float = 100.0,
    reload_interval_s: float = 0.0,
    max_batch: int = 512,
    max_wait_s: float = 0.001,
    workers: int = 1,
    metrics: bool = True,
    review_job: str | None = None,
    review_below: float = 0.8,
    database_url: str | None = None,
) -> FastAPI:
    """A standalone endpoint app. Given a directory, the model loads in the background after start-up
    (``/ping`` answers 503 until then); with ``reload_interval_s`` the directory is watched and a newly written
    model is swapped in without downtime. Every request gets an id and the web app's request metrics, served at
    ``/metrics`` unless ``metrics`` is off (``groundswell.web.observability`` says why without credentials)."""
    if isinstance(model, Predictor):
        holder = ModelHolder(model.loaded.directory, model)
    elif isinstance(model, ModelHolder):
        holder = model
    else:
        holder = ModelHolder(model)
    capture = DataCapture(capture_dir, sampling_percentage=capture_sampling) if capture_dir else None
    endpoint = EndpointState(holder, capture=capture, max_batch=max_batch, max_wait_s=max_wait_s, workers=workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        if not holder.ready:
            tasks.append(asyncio.create_task(_load(holder)))
        if reload_interval_s > 0:
            tasks.append(asyncio.create_task(_watch(holder, reload_interval_s)))
        engine = None
        if review_job is not None:
            from groundswell.store import make_engine, make_session_factory

            if database_url is None:
                raise UsageError("--review-job needs the labeling store (GROUNDSWELL_DATABASE_URL)")
            engine = make_engine(database_url)
            endpoint.review = ReviewQueue(make_session_factory(engine), review_job, review_below)
        try:
            yield
        finally:
            if endpoint.review is not None:
                endpoint.review.close()
            if engine is not None:
                engine.dispose()
            for task in tasks:
                task.cancel()
            await endpoint.batcher.close()
            if capture is not None:
                capture.close()

    app = FastAPI(title="Groundswell endpoint", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.endpoint = endpoint
    app.include_router(make_router(endpoint))
    app.add_middleware(RequestTelemetry)
    if metrics:

        @app.get("/metrics", include_in_schema=False)
        def prometheus_metrics() -> Response:
            return Response(exposition(), media_type=CONTENT_TYPE)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # As in the web app: the traceback to the log under a request id, the id alone to the caller.
        request_id = request_id_of(request.scope)
        _log.error(
            "request %s %s %s failed",
            request_id,
            request.method,
            request.url.path,
            exc_info=exc,
            extra={"request_id": request_id},
        )
        response = _error(500, f"internal error; quote request id {request_id} to the operator")
        response.headers["X-Request-Id"] = request_id
        return response

    return app


async def _load(holder: ModelHolder) -> None:
    try:
        await asyncio.to_thread(holder.load)
    except Exception as exc:
        holder.error = f"could not load the model: {exc}"
    # The model's vocabularies are millions of long-lived objects: keep them out of the cyclic garbage
    # collector's full passes, which would otherwise walk them all and stall a request now and then.
    gc.freeze()


async def _watch(holder: ModelHolder, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        if holder.ready and await asyncio.to_thread(holder.reload_if_changed):
            gc.unfreeze()  # let the replaced model's cycles be collected, then keep the new one out again
            gc.collect()
            gc.freeze()
