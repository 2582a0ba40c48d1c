"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from groundswell.settings import Settings
from groundswell.web.auth import Credentials, credentials

__all__ = ["CredentialsDep", "SettingsDep", "StoreDep"]


async def _store(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[sessionmaker[Session], Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CredentialsDep = Annotated[Credentials, Depends(credentials)]
