"""``gs.jobs``: create labeling jobs with every setting the API takes, and drive one (:class:`Job`): start,
pause, stop, follow its progress, wait for it to finish, read its labels and export its results."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from groundswell.client._http import Http, segment
from groundswell.client.models import JobProgress, JobQuality, Label, LabelDetail, LabelFeed, Webhook, from_api

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABEL_COLUMNS", "Job", "Jobs"]

#: The columns of ``job.labels(as_="pandas")``, in order (also those of an empty result).
LABEL_COLUMNS = (
    "item_id",
    "source",
    "label",
    "class_index",
    "confidence",
    "human_annotated",
    "method",
    "judgment_count",
    "updated_at",
    "agreement",
    "adjudicated",
)
ExportFormat = Literal["manifest", "csv", "parquet"]


@dataclass
class Job:
    """A labeling job as the server last described it; the methods act on it and update this object.

    ``label_names`` is the API's ``labels`` (the classes annotators choose from), renamed so that
    :meth:`labels` can return the job's results. ``progress`` and ``quality`` are as of the last call
    (:meth:`refresh` reads them again).
    """

    name: str
    dataset: str
    label_names: list[str]
    state: str
    label_attribute_name: str
    workers_per_item: int
    max_workers_per_item: int
    task_time_limit_s: int
    task_availability_s: int
    max_concurrent_tasks: int | None
    teams: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: JobProgress | None = None
    quality: JobQuality | None = None
    _http: Http | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, http: Http, data: dict[str, Any]) -> Job:
        progress, quality = data.get("progress"), data.get("quality")
        return from_api(
            cls,
            {k: v for k, v in data.items() if k != "labels"},
            label_names=data["labels"],
            progress=None if progress is None else from_api(JobProgress, progress),
            quality=None if quality is None else JobQuality.from_api(quality),
            _http=http,
        )

    # --- state ------------------------------------------------------------------------------------------------

    def start(self) -> Job:
        """Start (or resume) the job: its tweets are offered to annotators. A 409 if its state forbids it."""
        return self._update(self._client().request("POST", f"{self._path}/start"))

    def pause(self) -> Job:
        """Stop handing out tweets for now; answers already given stay."""
        return self._update(self._client().request("POST", f"{self._path}/pause"))

    def stop(self) -> Job:
        """End the job for good: no more tasks; its labels stay readable and exportable."""
        return self._update(self._client().request("POST", f"{self._path}/stop"))

    def refresh(self) -> Job:
        """Read the job again (state, progress, quality); returns this object, so ``job.refresh().progress``."""
        return self._update(self._client().request("GET", self._path))

    def wait(self, timeout: float | None = None, poll: float = 2.0) -> Job:
        """Poll until the job is ``completed`` (every tweet labeled), then return it.

        Args:
            timeout: Seconds to wait at most (``None``: no limit).
            poll: Seconds between two reads of the job's progress.

        Raises:
            TimeoutError: ``timeout`` passed first; the message names the job and the progress it reached.
            RuntimeError: The job was stopped, so it will never complete.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh()
            if self.state == "completed":
                return self
            if self.state == "stopped":
                raise RuntimeError(f"job {self.name!r} was stopped at {self.progress}; it will not complete")
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {self.name!r} did not complete within {timeout:g} s: {self.progress} (state {self.state})"
                )
            pause = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(pause)

    # --- results ----------------------------------------------------------------------------------------------

    def iter_labels(
        self,
        *,
        label: str | None = None,
        human: bool | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        text: str | None = None,
        disagreement: bool | None = None,
        adjudicated: bool | None = None,
    ) -> Iterator[Label]:
        """The job's labels (gold tweets left out) in import order, fetched a page at a time as iterated.

        Args:
            label: Only this label.
            human: ``True``: consolidated from people's answers; ``False``: machine labels.
            min_confidence: Only labels at least this confident (0-1).
            max_confidence: Only labels at most this confident (0-1).
            text: Only tweets containing this text (any case; ``%`` and ``_`` match themselves).
            disagreement: ``True``: tweets whose answers hold at least two different labels; ``False``: the rest.
            adjudicated: ``True``: an admin's corrections (:meth:`correct`); ``False``: the rest.
        """
        params = {
            "label": label,
            "human": human,
            "min_confidence": min_confidence,
            "max_confidence": max_confidence,
            "q": text,
            "disagreement": disagreement,
            "adjudicated": adjudicated,
        }
        for row in self._client().pages(f"{self._path}/labels", "labels", params):
            yield from_api(Label, row)

    @overload
    def labels(
        self,
        as_: Literal["records"] = "records",
        *,
        label: str | None = None,
        human: bool | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        text: str | None = None,
        disagreement: bool | None = None,
        adjudicated: bool | None = None,
    ) -> list[Label]: ...

    @overload
    def labels(
        self,
        as_: Literal["pandas"],
        *,
        label: str | None = None,
        human: bool | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        text: str | None = None,
        disagreement: bool | None = None,
        adjudicated: bool | None = None,
    ) -> pd.DataFrame: ...

    def labels(
        self,
        as_: Literal["records", "pandas"] = "records",
        *,
        label: str | None = None,
        human: bool | None = None,
        min_confidence: float | None = None,
        max_confidence: float | None = None,
        text: str | None = None,
        disagreement: bool | None = None,
        adjudicated: bool | None = None,
    ) -> list[Label] | pd.DataFrame:
        """Every label of the job (filters as in :meth:`iter_labels`), as :class:`Label` records or a DataFrame.

        The DataFrame has one row per labeled tweet and the columns :data:`LABEL_COLUMNS`: item id, text
        (``source``), label, class index, confidence, ``human_annotated``, consolidation method, number of
        answers, when the label was last computed, the answers' agreement with it and whether an admin
        corrected it.
        """
        rows = list(
            self.iter_labels(
                label=label,
                human=human,
                min_confidence=min_confidence,
                max_confidence=max_confidence,
                text=text,
                disagreement=disagreement,
                adjudicated=adjudicated,
            )
        )
        if as_ == "records":
            return rows
        if as_ != "pandas":
            raise ValueError(f"as_ must be 'records' or 'pandas', not {as_!r}")
        import pandas as pd  # only when asked for: the SDK itself needs no pandas

        frame = pd.DataFrame([[getattr(r, c) for c in LABEL_COLUMNS] for r in rows], columns=list(LABEL_COLUMNS))
        frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
        return frame

    def labels_since(self, since: str = "0", *, limit: int = 1000, human: bool | None = None) -> LabelFeed:
        """The labels that became final after the feed cursor ``since`` ("0": from the start), oldest first,
        and ``next_since`` to pass next time; a label that changed after it was final comes again. Polling
        with the cursor it returns never misses or repeats one::

            cursor = "0"
            while True:
                feed = job.labels_since(cursor)
                handle(feed.labels)
                cursor = feed.next_since
                time.sleep(5)
        """
        params = {"since": since, "limit": limit, "human": human}
        page = self._client().request(
            "GET", f"{self._path}/labels", params={k: v for k, v in params.items() if v is not None}
        )
        return LabelFeed([from_api(Label, row) for row in page["labels"]], str(page["next_since"]))

    def label(self, item_id: str) -> LabelDetail:
        """One tweet under review, by its id in the dataset: its label (``None``: none yet), every current
        answer, the model's vote and its corrections, newest first. ``NotFoundError`` for a gold tweet."""
        return LabelDetail.from_api(self._client().request("GET", self._label_path(item_id)))

    def correct(self, item_id: str, label: str, note: str | None = None) -> Label:
        """Correct the tweet's label as an admin: final from now on (method ``adjudicated``), kept over every
        later answer and consolidation, recorded with ``note``. ``InvalidRequestError`` for a label that is
        not the job's."""
        body = {"label": label, **({} if note is None else {"note": note})}
        return from_api(Label, self._client().request("PUT", self._label_path(item_id), json=body))

    def revert_correction(self, item_id: str) -> Label | None:
        """Undo the tweet's corrections since the last revert: the label it had before them (``None``: it had
        none). ``ConflictError`` when its label is no correction."""
        restored = self._client().request("DELETE", f"{self._label_path(item_id)}/correction")
        return None if restored is None else from_api(Label, restored)

    def add_webhook(self, url: str) -> tuple[Webhook, str]:
        """POST each label that becomes final from now on to ``url`` (signed ``X-Groundswell-Signature:
        sha256=<HMAC-SHA256 of the body>``, retried until a 2xx). Returns the webhook and the job's secret."""
        created = self._client().request("POST", f"{self._path}/webhooks", json={"url": url})
        return from_api(Webhook, created), str(created["secret"])

    def webhooks(self) -> tuple[list[Webhook], str | None]:
        """The job's webhooks with their delivery counts, and its signing secret (``None`` before the first)."""
        listed = self._client().request("GET", f"{self._path}/webhooks")
        return [from_api(Webhook, row) for row in listed["webhooks"]], listed["secret"]

    def remove_webhook(self, webhook_id: int) -> None:
        """Stop sending to a webhook."""
        self._client().request("DELETE", f"{self._path}/webhooks/{int(webhook_id)}")

    def consolidate(self, method: str | None = None) -> dict[str, Any]:
        """Consolidate the job's answers now (``groundswell job consolidate``); the report as a dict."""
        report: dict[str, Any] = self._client().request(
            "POST", f"{self._path}/consolidate", json={} if method is None else {"method": method}
        )
        return report

    def train(
        self, name: str | None = None, *, model_type: str = "tfidf-linear", wait: float | None = None
    ) -> dict[str, Any]:
        """Train a model on the job's labels as background work (the server's runner trains it). Returns the
        work row; with ``wait`` (seconds), polls until it is done or failed (its ``result`` names the model
        version) and raises ``TimeoutError`` if it is neither by then."""
        body = {"model_type": model_type, **({} if name is None else {"name": name})}
        work: dict[str, Any] = self._client().request("POST", f"{self._path}/models", json=body)
        if wait is None:
            return work
        deadline = time.monotonic() + wait
        while work["state"] not in ("done", "failed"):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"training {work['id']} of job {self.name!r} is {work['state']} after {wait:g} s")
            time.sleep(0.5)
            work = self._client().request("GET", f"/work/{int(work['id'])}")
        return work

    def models(self) -> list[dict[str, Any]]:
        """The job's models, newest first (trained on request, and its model loop's versions)."""
        rows: list[dict[str, Any]] = self._client().request("GET", f"{self._path}/models")
        return rows

    def charts(self) -> list[dict[str, Any]]:
        """The charts the console draws for the job, in order: ``name``, ``title``, ``description``."""
        listed: list[dict[str, Any]] = self._client().request("GET", f"{self._path}/charts")
        return listed

    def chart(self, name: str) -> dict[str, Any]:
        """One chart's data as a table: ``columns``, ``rows`` (one value per column) and ``meta`` (targets,
        projections), with its ``name``, ``title`` and ``description``. Unknown names are a 422."""
        data: dict[str, Any] = self._client().request("GET", f"{self._path}/charts/{segment(name)}")
        return data

    def export(self, path: str | os.PathLike[str], format: ExportFormat = "manifest") -> Path:
        """Write the job's results to ``path``, byte for byte what ``groundswell job export --format`` writes:
        Ground Truth's output manifest (JSON Lines), or CSV or Parquet with the same facts. Streamed to disk;
        returns the path."""
        target = Path(path)
        with (
            self._client().stream(f"{self._path}/export", params={"format": format}) as response,
            target.open("wb") as out,
        ):
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target

    # --- internals --------------------------------------------------------------------------------------------

    @property
    def _path(self) -> str:
        return f"/jobs/{segment(self.name)}"

    def _label_path(self, item_id: str) -> str:
        return f"{self._path}/labels/{segment(str(item_id))}"

    def _client(self) -> Http:
        assert self._http is not None, "a Job made by hand is not attached to a client"
        return self._http

    def _update(self, data: dict[str, Any]) -> Job:
        fresh = Job.from_api(self._client(), data)
        for name in self.__dataclass_fields__:
            if name != "_http":
                setattr(self, name, getattr(fresh, name))
        return self


class Jobs:
    """The ``/api/v1/jobs`` operations (an admin API key; a read-only key can list and read)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(
        self,
        name: str,
        *,
        dataset: str,
        labels: list[str] | None = None,
        label_config: dict[str, Any] | None = None,
        instructions_md: str | None = None,
        workers_per_item: int | None = None,
        max_workers_per_item: int | None = None,
        task_time_limit_s: int | None = None,
        task_availability_s: int | None = None,
        max_concurrent_tasks: int | None = None,
        label_attribute_name: str | None = None,
        teams: list[str] | None = None,
        settings: dict[str, Any] | None = None,
        accuracy_target: float | None = None,
        preset: str | None = None,
        gold_items: int | None = None,
        streaming: bool | None = None,
        webhooks: list[str] | None = None,
    ) -> Job:
        """Create a draft job over ``dataset``; :meth:`Job.start` opens it to annotators.

        Give ``labels`` (the classes) or Ground Truth's ``label_config``. Every other argument left as
        ``None`` takes the server's default, as the API documents it (``/docs``): for instance
        ``workers_per_item`` (answers per tweet to start with), ``accuracy_target`` (what every final label
        must meet; alone, it turns on what meets it cheaply), ``gold_items`` (tweets with a known label used
        as hidden test questions), ``settings`` (consolidation, redundancy and automated-labeling settings),
        ``streaming`` (tweets appended while it runs), ``webhooks`` (URLs that receive each final label).

        Raises:
            NotFoundError: No such dataset.
            ConflictError: A job with this name exists.
            InvalidRequestError: A setting out of its bounds (the message names it).
        """
        body = {
            "name": name,
            "dataset": dataset,
            "labels": labels,
            "label_config": label_config,
            "instructions_md": instructions_md,
            "workers_per_item": workers_per_item,
            "max_workers_per_item": max_workers_per_item,
            "task_time_limit_s": task_time_limit_s,
            "task_availability_s": task_availability_s,
            "max_concurrent_tasks": max_concurrent_tasks,
            "label_attribute_name": label_attribute_name,
            "teams": teams,
            "settings": settings,
            "accuracy_target": accuracy_target,
            "preset": preset,
            "gold_items": gold_items,
            "streaming": streaming,
            "webhooks": webhooks,
        }
        created = self._http.request("POST", "/jobs", json={k: v for k, v in body.items() if v is not None})
        return Job.from_api(self._http, created)

    def list(self) -> list[Job]:
        """Every job with its progress."""
        return [Job.from_api(self._http, row) for row in self._http.request("GET", "/jobs")]

    def get(self, name: str) -> Job:
        """One job with its progress. Raises :class:`NotFoundError` for an unknown name."""
        return Job.from_api(self._http, self._http.request("GET", f"/jobs/{segment(name)}"))
