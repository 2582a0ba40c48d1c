"""``/api/v1/datasets``: import (an upload, or a path on the server or in S3), list, show, page through items,
and export.

``POST /datasets`` takes either body: ``multipart/form-data`` with the file, or JSON naming a path or ``s3://``
URI. Both go through the same importer as ``groundswell dataset import`` (same validation, every problem by file
and line, nothing stored when one row is bad), so the body is read by hand rather than by a FastAPI parameter,
which can describe only one media type. The import runs on a worker thread: it may read a large file.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from groundswell.errors import InvalidInputError, UsageError
from groundswell.ingest import ImportReport, InputFormat, ReadOptions, export_dataset, import_dataset
from groundswell.ingest.browse import dataset_detail, dataset_item_page, dataset_rows
from groundswell.ingest.upload import import_upload
from groundswell.web.admin_schemas import (
    DatasetDetailPublic,
    DatasetImport,
    DatasetPublic,
    DuplicatePublic,
    ImportResultPublic,
    ItemPagePublic,
    ItemPublic,
    UploadFields,
    upload_schema,
)
from groundswell.web.deps import CredentialsDep, SettingsDep, StoreDep, caller
from groundswell.web.routes.common import (
    ADMIN_ONLY,
    ONE_OF_MANY,
    CursorQuery,
    DatasetName,
    LimitQuery,
    after_id,
    cursor_for,
    links,
    merged,
)
from groundswell.web.schemas import error_responses

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["datasets"], dependencies=[ADMIN_ONLY])

_DATASET_OPERATIONS = {
    "GetDataset": "get_dataset_api_v1_datasets__name__get",
    "DatasetItems": "dataset_items_api_v1_datasets__name__items_get",
}
_NEXT_ITEMS = {
    "NextItems": {
        "operationId": _DATASET_OPERATIONS["DatasetItems"],
        "parameters": {"name": "$request.path.name", "cursor": "$response.body#/next_cursor"},
    }
}
_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": DatasetImport.model_json_schema()},
        "multipart/form-data": {"schema": upload_schema()},
    },
}


def _validated(model: type[BaseModel], data: Any) -> Any:
    """``data`` as ``model``, or the 422 FastAPI would answer for a body parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


def _result(report: ImportReport) -> ImportResultPublic:
    return ImportResultPublic(
        dataset=report.dataset,
        source=report.source,
        format=report.format,
        created_dataset=report.created_dataset,
        rows_read=report.rows_read,
        imported=report.imported,
        rejected=report.rejected,
        duplicate_ids=report.duplicate_ids,
        duplicate_texts=report.duplicate_texts,
        duplicates=[
            DuplicatePublic(line=d.line, item_id=d.external_id, first_seen=d.first_seen, same_id=d.same_id)
            for d in report.duplicates
        ],
        problems=[str(p) for p in report.problems],
    )


@router.post(
    "/datasets",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportResultPublic,
    responses=merged(
        error_responses(400, 401, 403, 404, 409, 415, 422, 429),
        links(201, _DATASET_OPERATIONS, "name", "$response.body#/dataset"),
    ),
    openapi_extra={"requestBody": _IMPORT_BODY},
)
async def create_dataset(request: Request, store: StoreDep, settings: SettingsDep) -> ImportResultPublic:
    """Create a dataset (or append to one) from an uploaded file or from a server path / ``s3://`` URI.

    A file with any invalid row is refused as a whole with 422, listing every problem as ``file:line: problem``
    in ``errors``; nothing from it is stored. With ``skip_invalid`` the good rows are imported and the response
    lists the first rejected ones.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInputError("body.file: send the dataset as the multipart field 'file'")
            fields: UploadFields = _validated(UploadFields, {k: v for k, v in form.items() if k != "file"})
            options = ReadOptions(
                text_column=fields.text_column,
                id_column=fields.id_column,
                label_column=fields.label_column,
                max_line_bytes=settings.max_line_bytes,
            )
            report = await run_in_threadpool(
                import_upload,
                store,
                upload.file,
                filename=upload.filename or "upload",
                name=fields.name,
                options=options,
                fmt=InputFormat(fields.format) if fields.format else None,
                skip_invalid=fields.skip_invalid,
                batch_size=settings.import_batch_size,
            )
        return _result(report)
    if kind != "application/json":
        raise StarletteHTTPException(415, "send the dataset as multipart/form-data, or JSON naming a path or URI")
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from exc
    body: DatasetImport = _validated(DatasetImport, data)
    options = ReadOptions(
        text_column=body.text_column,
        id_column=body.id_column,
        label_column=body.label_column,
        split=body.split,
        storage_options=settings.storage_options(),
        max_line_bytes=settings.max_line_bytes,
    )
    report = await run_in_threadpool(
        import_dataset,
        store,
        body.uri,
        name=body.name,
        options=options,
        fmt=InputFormat(body.format) if body.format else None,
        skip_invalid=body.skip_invalid,
        batch_size=settings.import_batch_size,
    )
    return _result(report)


@router.get(
    "/datasets",
    response_model=list[DatasetPublic],
    responses=merged(
        error_responses(401, 403, 422, 429), links(200, _DATASET_OPERATIONS, "name", "$response.body#/0/name")
    ),
)
def list_datasets(store: StoreDep, creds: CredentialsDep) -> list[DatasetPublic]:
    """Every dataset with its item and gold-label counts, oldest first."""
    with caller(store, creds, admin=True) as call:
        return [DatasetPublic(**row.__dict__) for row in dataset_rows(call.session)]


@router.get(
    "/datasets/{name}",
    response_model=DatasetDetailPublic,
    responses=merged(ONE_OF_MANY, links(200, _DATASET_OPERATIONS, "name", "$response.body#/name")),
)
def get_dataset(name: DatasetName, store: StoreDep, creds: CredentialsDep) -> DatasetDetailPublic:
    """Counts, gold-label distribution and the import options that named ids and gold labels."""
    with caller(store, creds, admin=True) as call:
        return DatasetDetailPublic(**dataset_detail(call.session, name).__dict__)


@router.get(
    "/datasets/{name}/items",
    response_model=ItemPagePublic,
    responses=merged(ONE_OF_MANY, {200: {"links": _NEXT_ITEMS}}),
)
def dataset_items(
    name: DatasetName, store: StoreDep, creds: CredentialsDep, cursor: CursorQuery = None, limit: LimitQuery = 100
) -> ItemPagePublic:
    """The dataset's items in import order, a page at a time: each exactly once, following ``next_cursor``."""
    with caller(store, creds, admin=True) as call:
        page = dataset_item_page(call.session, name, after=after_id(cursor), limit=limit)
        items = [
            ItemPublic(id=i.external_id, text=i.text, gold_label=i.gold_label, attributes=i.attributes)
            for i in page.items
        ]
        return ItemPagePublic(items=items, next_cursor=cursor_for(page.after))


@router.get(
    "/datasets/{name}/export",
    response_class=FileResponse,
    responses=merged(
        ONE_OF_MANY,
        {
            200: {
                "description": "Every item as a Ground Truth input manifest line, as `groundswell dataset export` "
                "writes it.",
                "content": {"application/x-ndjson": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    ),
)
async def export_dataset_manifest(name: DatasetName, store: StoreDep) -> FileResponse:
    """The dataset as a Ground Truth input manifest (JSON Lines) that re-imports to the same items.

    Written by the CLI's own function to a temporary file and sent from it: the bytes are the CLI's, memory
    stays flat, and no database session is held while a slow client reads.
    """
    handle, path = tempfile.mkstemp(prefix="groundswell-dataset-")
    os.close(handle)
    try:
        await run_in_threadpool(export_dataset, store, name, path)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type="application/x-ndjson",
        filename=f"{name}.manifest",
        background=BackgroundTask(os.unlink, path),
    )
