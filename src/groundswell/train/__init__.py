"""Train a sentiment model from a labeling job or a manifest, evaluate it, and write its artifact.

Which function when: :func:`read_training_manifest` or :func:`job_training_data` to get data,
:func:`train_model` to fit, evaluate, calibrate, refit and save, :func:`record_model_version` to register the
result in the store.
"""

from groundswell.train.data import TrainingData, TrainingInputError, read_training_manifest
from groundswell.train.job import find_job, job_training_data, record_model_version
from groundswell.train.report import write_confusion_png
from groundswell.train.trainer import (
    CONFUSION_FILE,
    MIN_CALIBRATION,
    ProgressCallback,
    TrainResult,
    split_indices,
    train_model,
)

__all__ = [
    "CONFUSION_FILE",
    "MIN_CALIBRATION",
    "ProgressCallback",
    "TrainResult",
    "TrainingData",
    "TrainingInputError",
    "find_job",
    "job_training_data",
    "read_training_manifest",
    "record_model_version",
    "split_indices",
    "train_model",
    "write_confusion_png",
]
