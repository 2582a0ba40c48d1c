"""A small trained model (once per session) and a real endpoint on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from groundswell.train import TrainingData, train_model

LABELS = ["negative", "neutral", "positive"]
TEMPLATES = [
    ["hate this {}", "awful {} today :(", "so angry about the {}", "worst {} ever", "terrible {} 😡"],
    ["the {} is on tv at 9", "new {} announced", "reading about the {}", "the {} starts monday", "{} update"],
    ["love this {}", "great {} today :)", "so happy with the {}", "best {} ever!!", "awesome {} 😍"],
]
THINGS = ["phone", "movie", "game", "match", "album", "show"]


def toy_data() -> TrainingData:
    pairs = [(t.format(x), i) for i, group in enumerate(TEMPLATES) for t in group for x in THINGS]
    return TrainingData(
        texts=[t for t, _ in pairs],
        targets=[i for _, i in pairs],
        labels=list(LABELS),
        source="toy",
        label_attribute_name="sentiment",
        job_name="labeling-job/toy",
    )


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    train_model(toy_data(), folder, validation_fraction=0.2)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn in a thread of this process; ``url`` is its base URL."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ping", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("endpoint did not become healthy")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def make_toy_data() -> Callable[[], TrainingData]:
    """Fresh toy training data (a function, so a test may change its copy)."""
    return toy_data


@pytest.fixture
def live_server() -> Iterator[type[LiveServer]]:
    started: list[LiveServer] = []

    class _Tracked(LiveServer):
        def start(self) -> LiveServer:
            started.append(self)
            return super().start()

    yield _Tracked
    for server in started:
        server.stop()
