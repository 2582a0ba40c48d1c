"""`--engine ray` on a local Ray started here writes the same bytes as the local engine.

Needs the ray extra (`pip install 'groundswell[ray]'`): without it these tests fail, they do not skip. Ray runs
fully local: no dashboard, no usage statistics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factories import write_jsonl
from groundswell.serve import predict_file
from groundswell.serve.ray_engine import require_ray

pytestmark = pytest.mark.ray

CREATED = "2024-05-01T12:00:00.000000"
TEXTS = ["love this phone", "new album announced", "hate this movie", "great game today :)", "the show is on tv"]


def lines(n: int = 200) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"id": f"t{i}", "source": f"{TEXTS[i % len(TEXTS)]} #{i}", "meta": {"n": i, "tags": ["a", "é"]}}
        for i in range(n)
    ]
    out[13] = {"id": "t13", "note": "no text here"}
    out[57] = {"id": "t57", "source": "   ", "extra": None}
    return out


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray = require_ray()  # fails (not skips) when the extra is missing
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield str(context.address_info["gcs_address"])
    ray.shutdown()


def test_ray_engine_writes_the_local_engines_bytes(local_ray: str, model_dir: Path, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.manifest", lines())
    local = predict_file(
        model_dir, str(source), str(tmp_path / "local.manifest"), processes=1, chunk_size=16, created=CREATED
    )
    seen: list[int] = []
    on_ray = predict_file(
        model_dir,
        str(source),
        str(tmp_path / "ray.manifest"),
        processes=2,
        chunk_size=16,
        engine="ray",
        created=CREATED,
        on_progress=seen.append,
    )
    assert (on_ray.rows, on_ray.predicted, on_ray.skipped_no_text) == (local.rows, local.predicted, 2) == (200, 198, 2)
    assert seen == sorted(seen) and seen[-1] == 200
    assert (tmp_path / "ray.manifest").read_bytes() == (tmp_path / "local.manifest").read_bytes()
    out = [json.loads(x) for x in (tmp_path / "ray.manifest").read_text(encoding="utf-8").splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in lines()]
    assert out[0]["meta"] == {"n": 0, "tags": ["a", "é"]} and "sentiment" not in out[13]
    assert out[0]["sentiment-metadata"]["creation-date"] == CREATED
    assert out[0]["sentiment-metadata"]["class-name"] == "positive"


def test_cli_connects_to_a_running_cluster(local_ray: str, model_dir: Path, tmp_path: Path) -> None:
    """The CLI in a separate process joins the running cluster by --ray-address, as a user's driver would, and
    writes the local engine's bytes; the cluster keeps running after it."""
    source = write_jsonl(tmp_path / "in.jsonl", lines())
    local = predict_file(model_dir, str(source), str(tmp_path / "local.jsonl"), processes=1, created=CREATED)
    assert local.rows == 200
    command = [sys.executable, "-c", "from groundswell.cli import main; main()", "predict", str(model_dir), str(source)]
    command += ["--out", str(tmp_path / "ray.jsonl"), "--engine", "ray", "--ray-address", local_ray]
    command += ["--creation-date", CREATED, "--processes", "2"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Wrote 200 lines" in done.stdout
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    require_ray()
    import ray

    assert ray.is_initialized()  # the test's own connection survived the other driver
