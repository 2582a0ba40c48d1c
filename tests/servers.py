"""Real server processes for tests and benchmarks: `groundswell serve` on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    process: subprocess.Popen[bytes]


def start_server(database_url: str, data_dir: Path, *, workers: int = 1) -> LiveServer:
    """`groundswell serve` as a user runs it, waiting until it answers."""
    port = free_port()
    env = {**os.environ, "GROUNDSWELL_DATABASE_URL": database_url, "GROUNDSWELL_DATA_DIR": str(data_dir)}
    command = [
        str(Path(sys.executable).with_name("groundswell")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    log = (data_dir / f"server-{port}.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{(data_dir / f'server-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url=url, database_url=database_url, process=process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start within 60 s")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
