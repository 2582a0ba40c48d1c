"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from groundswell.jobs.hot_path import HotPath
from groundswell.settings import Settings
from groundswell.web.auth import Credentials, credentials

__all__ = ["CredentialsDep", "HotPathDep", "SettingsDep", "StoreDep"]


async def _store(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.factory
    return factory


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _hot_path(request: Request) -> HotPath:
    hot_path: HotPath = request.app.state.hot_path
    return hot_path


StoreDep = Annotated[sessionmaker[Session], Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CredentialsDep = Annotated[Credentials, Depends(credentials)]
HotPathDep = Annotated[HotPath, Depends(_hot_path)]
