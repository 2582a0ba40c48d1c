"""Serve a trained model: a SageMaker-compatible endpoint and batch prediction.

Which function when: :func:`make_app` for a standalone endpoint app (or :func:`make_router` to mount the
routes in another app), :func:`run_endpoint` to run it under uvicorn, :func:`predict_file` for batch
prediction over a file, :class:`Predictor` to predict in-process.
"""

from groundswell.serve.app import EndpointState, make_app, make_router
from groundswell.serve.batch import BatchReport, predict_file
from groundswell.serve.batcher import MicroBatcher
from groundswell.serve.capture import DataCapture
from groundswell.serve.codecs import MAX_PAYLOAD_BYTES, BodyError, encode_predictions, parse_body
from groundswell.serve.predictor import ModelHolder, Prediction, Predictor, creation_date, prediction_attributes
from groundswell.serve.server import EndpointConfig, app_from_env, run_endpoint

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "BatchReport",
    "BodyError",
    "DataCapture",
    "EndpointConfig",
    "EndpointState",
    "MicroBatcher",
    "ModelHolder",
    "Prediction",
    "Predictor",
    "app_from_env",
    "creation_date",
    "encode_predictions",
    "make_app",
    "make_router",
    "parse_body",
    "predict_file",
    "prediction_attributes",
    "run_endpoint",
]
