"""The web application: JSON API, annotator UI and admin pages in one FastAPI app.

``create_app(settings)`` is the composition root for HTTP; ``app_from_env()`` is what ``groundswell serve``
hands to uvicorn (each worker process builds its own engine from the same settings).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from groundswell import __version__
from groundswell.errors import error_body
from groundswell.jobs.annotate.hot_path import HotPath
from groundswell.jobs.setup import prepare_store
from groundswell.settings import Settings
from groundswell.store import make_engine, make_session_factory
from groundswell.store.health import database_error
from groundswell.telemetry.logs import configure_logging
from groundswell.web.deps import plain_path
from groundswell.web.errors import install_error_handlers
from groundswell.web.observability import install_observability
from groundswell.web.routes import (
    adjudication,
    api,
    charts,
    console,
    datasets,
    job_items,
    labels,
    models,
    pages,
    webhooks,
    workers,
)
from groundswell.web.throttle import Throttle

__all__ = ["app_from_env", "create_app"]

_HERE = Path(__file__).parent


def create_app(settings: Settings, *, migrate: bool = True) -> FastAPI:
    engine = make_engine(settings.database_url)
    if migrate:
        prepare_store(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (modules, the app) lives as long as the process: keep it out of the cyclic
        # garbage collector's full passes, which otherwise walk it all and stall requests now and then.
        gc.freeze()
        yield
        await app.state.hot_path.close()
        engine.dispose()

    app = FastAPI(
        title="Groundswell",
        version=__version__,
        description="Tweet labeling jobs, routing and answers. Admin routes take `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        dependencies=[Depends(plain_path)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.factory = make_session_factory(engine)
    app.state.hot_path = HotPath(app.state.factory)
    app.state.throttle = Throttle(settings)
    app.state.templates = Jinja2Templates(directory=str(_HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    install_error_handlers(app)
    install_observability(app, app.state.factory, metrics=settings.metrics)
    app.include_router(api.router)
    app.include_router(charts.router)
    for router in (
        adjudication.router,
        datasets.router,
        job_items.router,
        labels.router,
        models.router,
        webhooks.router,
        workers.router,
    ):
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(console.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        failure = database_error(engine)
        if failure is not None:
            # The reason stays in the log: the check answers anyone, and hosts and ports are not theirs to see.
            logging.getLogger("groundswell.web").warning("health check: database unreachable: %s", failure)
            return JSONResponse(error_body("database unreachable", 503), status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: settings from GROUNDSWELL_* variables. Migrations are run by `serve` beforehand."""
    settings = Settings()
    configure_logging(settings.log_format)  # each server process sets up its own logging
    return create_app(settings, migrate=False)
