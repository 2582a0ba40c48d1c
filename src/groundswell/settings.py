"""Configuration: one class, read from the environment (prefix ``GROUNDSWELL_``) when a command starts.

Nothing builds a ``Settings`` at import time; the CLI and the web app construct it and pass plain values
down, so library code and tests never depend on the process environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from groundswell.domain import MAX_LINE_BYTES

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every setting the service reads, with its default."""

    model_config = SettingsConfigDict(env_prefix="GROUNDSWELL_", extra="ignore")

    data_dir: Path = Field(
        default=Path("groundswell-data"),
        description="Folder for the embedded SQLite database, import reports and model artifacts.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of the store. Empty means an SQLite file `groundswell.db` under the data dir; "
            "use `postgresql+psycopg://user:pass@host/db` for PostgreSQL."
        ),
    )
    import_batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Rows written per database round trip during import."
    )
    max_line_bytes: int = Field(
        default=MAX_LINE_BYTES,
        ge=1024,
        le=1024**3,
        description="Longest input line (or CSV record) an import reads, in bytes; a longer one is refused after "
        "reading about this much, so an import's memory is bounded by this rather than by the file's longest line.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint for s3:// paths (MinIO, moto, LocalStack); empty means AWS's own endpoint.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text` for people at a terminal; `json` for one JSON object per line (with request ids and an "
        "access line per request) from the web app, the model endpoint and the runner.",
    )
    metrics: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics (no credentials; no tweet text or emails)."
    )

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people use to reach the service; invite links and printed links start with it.",
    )
    session_hours: float = Field(
        default=24 * 14, gt=0, description="How long a browser session (annotator or admin) stays signed in."
    )
    invite_days: float = Field(default=14, gt=0, description="How long an invite link stays valid.")
    cookie_secure: bool = Field(
        default=False, description="Mark session cookies Secure (set this when the service is behind HTTPS)."
    )
    auth_failures_per_address: int = Field(
        default=10,
        ge=0,
        description="Failed sign-ins (API keys, admin login, invite links) one client address may make per "
        "window before it gets 429; 0 turns the limit off.",
    )
    auth_failures_per_key_prefix: int = Field(
        default=5,
        ge=0,
        description="Failed API-key attempts per key prefix (its first 8 characters) per window, from any "
        "address, before keys with that prefix get 429; 0 turns the limit off.",
    )
    auth_failure_window_s: float = Field(
        default=60, gt=0, le=86_400, description="Seconds over which failed sign-ins are counted."
    )

    @model_validator(mode="after")
    def _default_database_url(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'groundswell.db').as_posix()}"
        return self

    def storage_options(self) -> dict[str, object]:
        """fsspec options for remote paths, built from these settings."""
        if self.s3_endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}}
        return {}
