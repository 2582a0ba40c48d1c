"""The annotator UI in a real browser (Debian's Chromium via Playwright) against a real server process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import write_jsonl
from groundswell import jobs
from groundswell.ingest import ReadOptions, import_dataset
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import Item, Judgment
from servers import LiveServer, start_server, stop_server

SCRIPT_TWEET = "<script>window.__pwned = 'script'</script> totally normal tweet"
IMG_TWEET = "<img src=x onerror=\"window.__pwned='img'\"> look at this @someone #cats https://t.co/x1"
TWEETS = [SCRIPT_TWEET, IMG_TWEET] + [f"Plain tweet number {i} about #coffee @cafe" for i in range(8)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[LiveServer, sessionmaker[Session], str]]:
    url = f"sqlite:///{tmp_path / 'ui.db'}"
    engine = make_engine(url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    manifest = write_jsonl(tmp_path / "t.jsonl", [{"source": t, "id": f"t{i}"} for i, t in enumerate(TWEETS)])
    import_dataset(factory, str(manifest), name="ui", options=ReadOptions(id_column="id"))
    with transaction(factory) as session:
        jobs.create_job(
            session,
            jobs.JobSpec(
                name="ui-job",
                dataset="ui",
                labels=["positive", "negative", "neutral"],
                workers_per_item=1,
                instructions_md="# Label it\n\n<b>raw html stays text</b>",
            ),
        )
        jobs.change_state(session, "ui-job", "start")
        _, token = jobs.create_invite(session, "ana@example.org", team=None, valid_for=timedelta(days=1))
    server = start_server(url, tmp_path)
    yield server, factory, token
    stop_server(server)
    engine.dispose()


def _effective(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with factory() as session:
        job = jobs.get_job(session, "ui-job")
        rows = session.execute(
            effective_judgments_query(job.id).with_only_columns(Item.external_id, Judgment.label).join(Item)
        ).all()
        return sorted((external_id, label) for external_id, label in rows)


def _wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_annotator_labels_five_tweets_by_keyboard_and_undoes_one(
    browser: Any, setup: tuple[LiveServer, sessionmaker[Session], str]
) -> None:
    server, factory, token = setup
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}/invite/{token}")
    page.wait_for_function("document.activeElement && document.activeElement.type === 'submit'")
    page.keyboard.press("Enter")  # the "Start labeling" button has focus
    page.wait_for_url(f"{server.url}/annotate/ui-job")
    tweet = page.locator("#tweet")

    seen = []
    for key in ["1", "2", "3", "1", "2"]:
        _wait_for(lambda: tweet.text_content() and tweet.text_content() not in seen)
        seen.append(tweet.text_content())
        page.keyboard.press(key)
    _wait_for(lambda: len(_effective(factory)) == 5)
    # The answer is committed before its response leaves the server, so the page may lag the database a moment.
    _wait_for(lambda: page.locator("#counter").text_content() == "5 labeled this session")

    page.keyboard.press("u")
    previous = page.locator("#previous")
    previous.wait_for(state="visible")
    assert "negative" in (previous.text_content() or "")
    assert tweet.text_content() == seen[-1]
    _wait_for(lambda: len(_effective(factory)) == 4)
    page.keyboard.press("3")
    _wait_for(lambda: len(_effective(factory)) == 5)

    labels = dict(_effective(factory))
    assert sorted(labels.values()) == ["negative", "neutral", "neutral", "positive", "positive"]
    with factory() as session:
        rows = session.scalars(select(Judgment).order_by(Judgment.id)).all()
        assert len(rows) == 7  # five answers, one withdrawal, one new answer: nothing overwritten
        assert all(r.time_spent_s is not None and r.time_spent_s >= 0 for r in rows if r.label is not None)

    # The script and the image tag were the first two tweets: shown as text, never run.
    assert seen[0] == SCRIPT_TWEET and seen[1] == IMG_TWEET
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []

    page.keyboard.press("?")
    overlay = page.locator("#instructions")
    overlay.wait_for(state="visible")
    assert "<b>raw html stays text</b>" in (overlay.text_content() or "")
    assert overlay.locator("b").count() == 0
    page.keyboard.press("Escape")
    overlay.wait_for(state="hidden")


def test_tweet_markup_is_rendered_as_text_with_styled_entities(
    browser: Any, setup: tuple[LiveServer, sessionmaker[Session], str]
) -> None:
    server, _factory, token = setup
    page = browser.new_page(viewport={"width": 390, "height": 800})  # phone width
    page.goto(f"{server.url}/invite/{token}")
    page.click("text=Start labeling")
    tweet = page.locator("#tweet")
    _wait_for(lambda: tweet.text_content() == SCRIPT_TWEET)
    assert tweet.locator("script").count() == 0
    page.keyboard.press("3")
    _wait_for(lambda: tweet.text_content() == IMG_TWEET)
    assert tweet.locator("img").count() == 0
    assert tweet.locator(".mention").text_content() == "@someone"
    assert tweet.locator(".hashtag").text_content() == "#cats"
    assert tweet.locator(".link").text_content() == "https://t.co/x1"
    assert page.evaluate("window.__pwned") is None
    # Every label button fits the phone's width.
    for box in [page.locator(".choice").nth(i).bounding_box() for i in range(3)]:
        assert box is not None and box["x"] + box["width"] <= 390
    json.dumps(box)


def test_the_done_screen_appears_when_no_work_is_left(
    browser: Any, setup: tuple[LiveServer, sessionmaker[Session], str]
) -> None:
    server, factory, token = setup
    page = browser.new_page()
    page.goto(f"{server.url}/invite/{token}")
    page.click("text=Start labeling")
    tweet = page.locator("#tweet")
    seen: list[str | None] = []
    for _ in TWEETS:
        _wait_for(lambda: tweet.text_content() and tweet.text_content() not in seen)
        seen.append(tweet.text_content())
        page.keyboard.press("1")
    page.locator("#done").wait_for(state="visible")
    _wait_for(lambda: len(_effective(factory)) == len(TWEETS))
