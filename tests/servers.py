"""Real server processes for tests and benchmarks: `groundswell serve` on a free port, `groundswell runner`.

Each runs in its own process group (session), so a fault test can kill it as a whole the way a crash or the
OOM killer would (:func:`kill_server`: SIGKILL to ``serve`` and every worker process it spawned) and start it
again on the same port (:func:`restart_server`), with clients that keep their base URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
    data_dir: Path | None = None
    port: int = 0
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    #: Which start this is (0 the first; each :func:`restart_server` adds one); names the log file.
    generation: int = 0

    @property
    def log(self) -> Path:
        assert self.data_dir is not None
        return _log_path(self.data_dir, self.port, self.generation)


def _log_path(data_dir: Path, port: int, generation: int) -> Path:
    return data_dir / f"server-{port}{f'.{generation}' if generation else ''}.log"


def start_server(
    database_url: str,
    data_dir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    env: dict[str, str] | None = None,
    generation: int = 0,
) -> LiveServer:
    """`groundswell serve` as a user runs it, waiting until it answers.

    ``port`` defaults to a free one; ``env`` adds GROUNDSWELL_* settings (or anything else) to the server's
    environment. The server leads its own process group (see the module docstring).
    """
    port = port if port is not None else free_port()
    extra = dict(env or {})
    environment = {
        **os.environ,
        "GROUNDSWELL_DATABASE_URL": database_url,
        "GROUNDSWELL_DATA_DIR": str(data_dir),
        **extra,
    }
    command = [
        str(Path(sys.executable).with_name("groundswell")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with _log_path(data_dir, port, generation).open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        process=process,
        data_dir=data_dir,
        port=port,
        workers=workers,
        env=extra,
        generation=generation,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log.read_text()}")
        try:
            # A slow first answer (a busy machine) is waited for, not asked again: a second request would also
            # be served, and counted, once the server catches up.
            if httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    kill_server(server)
    raise RuntimeError(f"server did not start within 60 s:\n{server.log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_server(server)


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of process group ``group``, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_group(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL ``process`` and every process it started (its whole process group: it was started with
    ``start_new_session``), as a crash would; returns how many processes were killed, once all of them are
    gone (their sockets closed, their locks released)."""
    group = process.pid  # the leader of its own session: its pid is the group's id
    members = group_members(group)
    with contextlib.suppress(ProcessLookupError):  # already gone: nothing to kill
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout=15)
    deadline = time.monotonic() + 15
    while group_members(group):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of group {group} still alive 15 s after SIGKILL")
        time.sleep(0.02)
    return len(members)


def kill_server(server: LiveServer) -> int:
    """SIGKILL ``serve`` and every server process it started (:func:`kill_group`); the port is free after."""
    return kill_group(server.process)


def restart_server(server: LiveServer) -> LiveServer:
    """Start ``server`` again (same database, data folder, port, processes and settings) after it died."""
    assert server.data_dir is not None and server.port
    return start_server(
        server.database_url,
        server.data_dir,
        workers=server.workers,
        port=server.port,
        env=server.env,
        generation=server.generation + 1,
    )


def start_runner(database_url: str, data_dir: Path, *args: str, name: str = "runner") -> subprocess.Popen[bytes]:
    """`groundswell runner ARGS` as a user runs it, in its own process group, logging to
    ``data_dir/<name>.log``; returns at once (it has no port to wait for)."""
    environment = {**os.environ, "GROUNDSWELL_DATABASE_URL": database_url, "GROUNDSWELL_DATA_DIR": str(data_dir)}
    command = [str(Path(sys.executable).with_name("groundswell")), "runner", *args]
    with (data_dir / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
