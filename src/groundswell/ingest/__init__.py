"""Getting tweets in and out: readers for manifests, CSV/TSV, Parquet and TweetEval folders (local or s3://),
the transactional importer, and dataset listing/description/export."""

from groundswell.ingest.catalog import (
    DatasetSummary,
    describe_dataset,
    export_dataset,
    get_dataset,
    list_datasets,
)
from groundswell.ingest.importer import Duplicate, ImportReport, import_dataset
from groundswell.ingest.readers import ReadOptions, content_id
from groundswell.ingest.sources import InputFormat, detect_format

__all__ = [
    "DatasetSummary",
    "Duplicate",
    "ImportReport",
    "InputFormat",
    "ReadOptions",
    "content_id",
    "describe_dataset",
    "detect_format",
    "export_dataset",
    "get_dataset",
    "import_dataset",
    "list_datasets",
]
