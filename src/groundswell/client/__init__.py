"""A Python SDK for a Groundswell server's JSON API, on httpx.

::

    from groundswell.client import Client

    with Client("http://127.0.0.1:8000", api_key=KEY) as gs:
        gs.datasets.create("launch", records)  # dicts, a pandas DataFrame, or a file path
        job = gs.jobs.create("launch-sentiment", dataset="launch", labels=["positive", "negative", "neutral"])
        job.start()
        job.wait(timeout=3600)
        df = job.labels(as_="pandas")

Every error the server answers raises :class:`GroundswellAPIError` (or the subclass for its status) with the
server's message. The package imports nothing else from ``groundswell`` (an import-linter contract holds it
to that), so it can be shipped and installed on its own: httpx is all it needs, pandas only for DataFrames.
"""

from groundswell.client._client import API_KEY_ENV, Client
from groundswell.client.datasets import Dataset, Datasets
from groundswell.client.errors import (
    AuthenticationError,
    ConflictError,
    GroundswellAPIError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)
from groundswell.client.jobs import LABEL_COLUMNS, Job, Jobs
from groundswell.client.models import (
    AccuracyEstimate,
    Adjudication,
    Answer,
    Duplicate,
    ImportResult,
    Item,
    JobProgress,
    JobQuality,
    Label,
    LabelDetail,
    LabelFeed,
    ModelVote,
    Team,
    Webhook,
    Worker,
)
from groundswell.client.workers import Workers

__all__ = [
    "API_KEY_ENV",
    "LABEL_COLUMNS",
    "AccuracyEstimate",
    "Adjudication",
    "Answer",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "Dataset",
    "Datasets",
    "Duplicate",
    "GroundswellAPIError",
    "ImportResult",
    "InvalidRequestError",
    "Item",
    "Job",
    "JobProgress",
    "JobQuality",
    "Jobs",
    "Label",
    "LabelDetail",
    "LabelFeed",
    "ModelVote",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
    "Team",
    "Webhook",
    "Worker",
    "Workers",
]
