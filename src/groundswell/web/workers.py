"""Several server processes on one port, each with its own listening socket (``SO_REUSEPORT``).

Why not uvicorn's own ``--workers``: its processes share one listening socket, and whichever is awake first
accepts the next connection. Annotators keep their connections open, so a whole team's connections could end
up on one process while the other idled (measured: 32 annotators on PostgreSQL, 2 processes: 165–180
answers/s when one process took every connection, about 300 when they split). With a socket per process the
kernel spreads new connections over the processes evenly.

The parent starts the processes, restarts one that dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from types import FrameType
from typing import Any

import uvicorn

from groundswell.telemetry.logs import LogFormat, uvicorn_log_config

__all__ = ["reuse_port_supported", "serve_processes"]

_APP = "groundswell.web.app:app_from_env"


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _run_one(host: str, port: int, log_level: str, log_format: LogFormat) -> None:
    sock = _listen(host, port)
    config = uvicorn.Config(_APP, factory=True, log_level=log_level, access_log=False, **uvicorn_log_config(log_format))
    uvicorn.Server(config).run(sockets=[sock])


def serve_processes(
    host: str, port: int, workers: int, *, log_level: str = "warning", log_format: LogFormat = "text"
) -> None:
    """Run ``workers`` server processes on ``host:port`` until SIGINT or SIGTERM."""
    context = multiprocessing.get_context("spawn")
    _listen(host, port).close()  # fail here, in the parent, if the port is taken
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous: list[Any] = [signal.signal(signal.SIGINT, stop), signal.signal(signal.SIGTERM, stop)]
    processes = []
    try:
        processes = [_start(context, host, port, log_level, log_format) for _ in range(workers)]
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    processes[i] = _start(context, host, port, log_level, log_format)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=15)
            if process.is_alive():
                process.kill()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def _start(context: Any, host: str, port: int, log_level: str, log_format: LogFormat) -> Any:
    process = context.Process(target=_run_one, args=(host, port, log_level, log_format), name="groundswell-web")
    process.start()
    return process
