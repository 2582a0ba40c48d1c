"""Batch prediction keeps order and attributes in every format, locally and on S3; and the full round trip."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import endpoint, train
from groundswell.errors import MissingOptionalDependencyError
from groundswell.serve import Predictor, make_app, predict_file

ISO_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
TEXTS = ["love this phone", "new album announced", "hate this movie", "great game today :)", "the show is on tv"]


def rows(n: int = 50) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"id": f"t{i}", "source": TEXTS[i % len(TEXTS)], "meta": {"n": i}} for i in range(n)]
    out[7] = {"id": "t7", "note": "no text here"}
    return out


def check(lines: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [x["id"] for x in lines] == [x["id"] for x in expected]
    for got, sent in zip(lines, expected, strict=True):
        for key, value in sent.items():
            assert got[key] == value
        if "source" not in sent:
            assert "sentiment" not in got
            continue
        meta = got["sentiment-metadata"]
        assert set(meta) == {"class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"}
        assert meta["type"] == "groundtruth/text-classification" and meta["human-annotated"] == "no"
        assert ["negative", "neutral", "positive"][got["sentiment"]] == meta["class-name"]
        assert ISO_MICROS.match(meta["creation-date"])
    assert lines[0]["sentiment-metadata"]["class-name"] == "positive"
    assert lines[2]["sentiment-metadata"]["class-name"] == "negative"


@pytest.mark.parametrize("processes", [1, 2])
def test_jsonl_keeps_order_and_attributes(model_dir: Path, tmp_path: Path, processes: int) -> None:
    source = write_jsonl(tmp_path / "in.manifest", rows())
    seen: list[int] = []
    report = predict_file(
        model_dir,
        str(source),
        str(tmp_path / "out.manifest"),
        processes=processes,
        chunk_size=8,
        on_progress=seen.append,
    )
    assert (report.rows, report.predicted, report.skipped_no_text) == (50, 49, 1)
    assert seen[-1] == 50 and seen == sorted(seen)
    check([json.loads(x) for x in (tmp_path / "out.manifest").read_text().splitlines()], rows())


def test_csv_and_parquet(model_dir: Path, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [f"t{i}" for i in range(10)], "text": [TEXTS[i % 5] for i in range(10)]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_parquet(tmp_path / "in.parquet")
    predict_file(model_dir, str(tmp_path / "in.csv"), str(tmp_path / "out.jsonl"), processes=1)
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == list(frame["id"]) and out[0]["sentiment-metadata"]["class-name"] == "positive"
    predict_file(model_dir, str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), processes=1)
    table = pd.read_parquet(tmp_path / "out.parquet")
    assert list(table["id"]) == list(frame["id"]) and list(table["sentiment"])[:3] == [2, 1, 0]
    assert json.loads(table["sentiment-metadata"][0])["class-name"] == "positive"
    predict_file(model_dir, str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), processes=1)
    back = pd.read_csv(tmp_path / "out.csv")
    assert list(back.columns) == ["id", "text", "sentiment", "sentiment-metadata"]


@pytest.mark.s3
def test_s3_in_and_out(model_dir: Path, tmp_path: Path, s3_bucket: tuple[str, dict[str, object]]) -> None:
    import fsspec

    bucket, options = s3_bucket
    with fsspec.open(f"s3://{bucket}/in/tweets.jsonl", "w", **options) as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows(12)))
    predict_file(
        model_dir,
        f"s3://{bucket}/in/tweets.jsonl",
        f"s3://{bucket}/out/tweets.jsonl",
        processes=1,
        storage_options=dict(options),
    )
    with fsspec.open(f"s3://{bucket}/out/tweets.jsonl", "r", **options) as handle:
        check([json.loads(x) for x in handle.read().splitlines()], rows(12))


def test_train_serve_predict_round_trip(tmp_path: Path, live_server: Any) -> None:
    labels = ["negative", "neutral", "positive"]
    groups = [["hate", "awful", "worst"], ["announced", "update", "scheduled"], ["love", "great", "best"]]
    manifest = [
        {
            "source": f"{word} {thing} {n}",
            "mood": index,
            "mood-metadata": {
                "class-name": labels[index],
                "confidence": 0.95,
                "job-name": "labeling-job/m",
                "type": "groundtruth/text-classification",
                "human-annotated": "yes",
                "creation-date": "2024-01-01T00:00:00.000000",
            },
        }
        for index, words in enumerate(groups)
        for word in words
        for thing in ("phone", "movie", "game")
        for n in (1, 2)
    ]
    app = typer.Typer()
    train.register(app)
    endpoint.register(app)
    runner = CliRunner()
    path = write_jsonl(tmp_path / "labeled.manifest", manifest)
    model = tmp_path / "model"
    result = runner.invoke(app, ["train", "--manifest", str(path), "--out", str(model)])
    assert result.exit_code == 0, result.output
    unlabeled = write_jsonl(
        tmp_path / "new.manifest", [{"source": "love this game", "id": 1}, {"source": "worst phone", "id": 2}]
    )
    result = runner.invoke(
        app, ["predict", str(model), str(unlabeled), "--out", str(tmp_path / "pred.manifest"), "--processes", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 2 lines" in result.output
    predicted = [json.loads(x) for x in (tmp_path / "pred.manifest").read_text().splitlines()]
    assert [(p["id"], p["mood-metadata"]["class-name"]) for p in predicted] == [(1, "positive"), (2, "negative")]
    assert predicted[0]["mood-metadata"]["job-name"] == "labeling-job/m"
    server = live_server(make_app(Predictor.from_dir(model))).start()
    served = httpx.post(
        server.url + "/invocations", content=unlabeled.read_bytes(), headers={"content-type": "application/jsonlines"}
    )
    lines = [json.loads(x) for x in served.text.splitlines()]
    assert [line["mood"] for line in lines] == [p["mood"] for p in predicted]


def test_predict_cli_errors(model_dir: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    endpoint.register(app)
    runner = CliRunner(env={"COLUMNS": "200"})
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"source": "ok"}, "{oops"])
    result = runner.invoke(app, ["predict", str(model_dir), str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "bad.jsonl:2: not valid JSON" in result.output
    assert not (tmp_path / "o.jsonl").exists()
    result = runner.invoke(app, ["predict", str(tmp_path), str(bad), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "not a model directory" in result.output
    result = runner.invoke(app, ["predict", str(model_dir), str(bad), "--out", "x.jsonl", "--engine", "spark"])
    assert result.exit_code == 2 and "--engine 'spark' is not known" in result.output
    result = runner.invoke(app, ["predict", str(model_dir), str(bad), "--out", "x.jsonl", "--ray-address", "h:6379"])
    assert result.exit_code == 2 and "--ray-address needs --engine ray" in result.output


def test_engine_ray_without_the_extra_names_the_install(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    with pytest.raises(MissingOptionalDependencyError, match=re.escape("pip install 'groundswell[ray]'")):
        predict_file(model_dir, str(source), str(tmp_path / "out.jsonl"), engine="ray")
    assert not (tmp_path / "out.jsonl").exists()
    app = typer.Typer()
    endpoint.register(app)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["predict", str(model_dir), str(source), "--out", str(tmp_path / "out.jsonl"), "--engine", "ray"]
    )
    assert result.exit_code != 0 and "pip install 'groundswell[ray]'" in result.output
