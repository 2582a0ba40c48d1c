"""`groundswell job create --streaming` and `groundswell job append` (issue 16, item 1) on each database: any
import format, a re-run appends nothing twice, a bad row is named by line and appends nothing (exit 1), and
a batch job refuses (exit 1)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from factories import write_jsonl
from groundswell.cli import app

runner = CliRunner()


def _run(store_url: str, folder: Path, *args: str) -> tuple[int, str]:
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(folder / "data")}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


def test_create_a_streaming_job_and_append_to_it(store_url: str, tmp_path: Path) -> None:
    code, out = _run(
        store_url, tmp_path, "job", "create", "--dataset", "firehose", "--name", "brand-watch", "--labels",
        "pos,neg", "--streaming", "--start",
    )  # fmt: skip
    assert code == 0 and "Created streaming job brand-watch (running) over 0 tweets" in out, out

    csv = tmp_path / "tweets.csv"
    csv.write_text("tweet_id,body\n1,great launch\n2,meh\n", encoding="utf-8")
    args = ("job", "append", "brand-watch", str(csv), "--text-column", "body", "--id-column", "tweet_id")
    code, out = _run(store_url, tmp_path, *args)
    assert code == 0 and "Appended 2 tweet(s) to job brand-watch" in out, out
    code, out = _run(store_url, tmp_path, *args)  # a re-run: nothing twice
    assert code == 0 and "Appended 0 tweet(s)" in out and "Skipped 2 tweet(s) already in the dataset" in out, out

    manifest = write_jsonl(tmp_path / "more.jsonl", [{"source": "new one", "id": "3"}, {"source": "  "}])
    code, out = _run(store_url, tmp_path, "job", "append", "brand-watch", str(manifest))
    assert code == 1 and f"{manifest}:2 [source]: text is empty" in out and "nothing was imported" in out, out
    code, out = _run(store_url, tmp_path, "job", "show", "brand-watch")
    assert "0/2 tweets done" in out, out

    code, out = _run(store_url, tmp_path, "job", "stop", "brand-watch")
    assert code == 0
    code, out = _run(store_url, tmp_path, "job", "append", "brand-watch", str(csv), "--text-column", "body")
    assert code == 1 and "is stopped" in out, out


def test_appending_to_a_batch_job_is_refused(store_url: str, tmp_path: Path) -> None:
    tweets = write_jsonl(tmp_path / "t.jsonl", [{"source": "hello"}])
    assert _run(store_url, tmp_path, "dataset", "import", str(tweets), "--name", "launch")[0] == 0
    create = ("job", "create", "--dataset", "launch", "--name", "batch", "--labels", "pos,neg")
    assert _run(store_url, tmp_path, *create)[0] == 0
    code, out = _run(store_url, tmp_path, "job", "append", "batch", str(tweets))
    assert code == 1 and "not a streaming job" in out, out
    code, out = _run(store_url, tmp_path, "job", "append", "nope", str(tweets))
    assert code == 2 and "no job named 'nope'" in out, out
