"""The JSON API and the pages' access rules, in-process on both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from factories import make_dataset
from groundswell import jobs
from groundswell.store.db import transaction
from groundswell.store.tables import TaskLease, utcnow

LABEL_CONFIG = {"document-version": "2018-11-28", "labels": [{"label": "positive"}, {"label": "negative"}]}


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


def _admin(client: TestClient) -> dict[str, str]:
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    return {"Authorization": f"Bearer {key}"}


def _annotator(client: TestClient, email: str) -> tuple[TestClient, str]:
    """A separate browser (cookie jar) signed in through an invite link; returns it and its CSRF token."""
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, email, team=None, valid_for=timedelta(days=1))
    browser = TestClient(client.app)
    response = browser.post(f"/invite/{token}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/annotate"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = browser.get("/annotate/api-job")
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, page.text[:500]
    return browser, match.group(1)


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    make_dataset(_factory(client), "tweets", count=4)
    headers = _admin(client)
    body = {"name": "API-Job", "dataset": "tweets", "label_config": LABEL_CONFIG, "workers_per_item": 2}
    response = client.post("/api/v1/jobs", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["labels"] == ["positive", "negative"]
    assert client.post("/api/v1/jobs/api-job/start", headers=headers).json()["state"] == "running"
    return headers


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["status"] == status and body["errors"]
    return str(body["error"])


def test_job_names_are_unique_ignoring_case_and_transitions_are_checked(
    client: TestClient, admin: dict[str, str]
) -> None:
    again = {"name": "api-JOB", "dataset": "tweets", "labels": ["a", "b"]}
    assert "already exists" in _error(client.post("/api/v1/jobs", json=again, headers=admin), 409)
    assert "cannot start" in _error(client.post("/api/v1/jobs/api-job/start", headers=admin), 409)
    bad = {"name": "x", "dataset": "tweets", "labels": ["only-one"]}
    assert "at least 2 labels" in _error(client.post("/api/v1/jobs", json=bad, headers=admin), 422)
    missing = {"name": "y", "dataset": "nope", "labels": ["a", "b"]}
    assert "no dataset named 'nope'" in _error(client.post("/api/v1/jobs", json=missing, headers=admin), 404)
    assert _error(client.get("/api/v1/jobs"), 401)
    assert "invalid or revoked" in _error(client.get("/api/v1/jobs", headers={"Authorization": "Bearer nope"}), 401)


def test_annotator_answers_through_the_api_with_idempotent_retries(client: TestClient, admin: dict[str, str]) -> None:
    browser, csrf = _annotator(client, "ana@example.org")
    headers = {"X-CSRF-Token": csrf}
    task = browser.post("/api/v1/jobs/api-job/tasks/next", json={"exclude": []}, headers=headers).json()["task"]
    assert task["labels"] == ["positive", "negative"] and task["item"]["text"].startswith("tweet")
    body = {"label": "negative", "idempotency_key": "k1", "time_spent_s": 1.25}
    first = browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers)
    retry = browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["replayed"] and retry.json()["judgment_id"] == first.json()["judgment_id"]
    mine = browser.get("/api/v1/jobs/api-job/judgments/mine").json()
    assert [(j["label"], j["time_spent_s"]) for j in mine] == [("negative", 1.25)]
    assert browser.get("/api/v1/jobs/api-job/stats/me").json()["judgments"] == 1
    progress = client.get("/api/v1/jobs/api-job", headers=admin).json()["progress"]
    assert (progress["judgments"], progress["in_progress"], progress["open"]) == (1, 1, 3)
    bad = {"label": "angry", "idempotency_key": "k2"}
    task2 = browser.post("/api/v1/jobs/api-job/tasks/next", json={"exclude": []}, headers=headers).json()["task"]
    assert "not one of this job's labels" in _error(
        browser.post(f"/api/v1/tasks/{task2['lease_id']}/submit", json=bad, headers=headers), 422
    )


def test_a_late_answer_gets_409_once_the_slot_is_taken(client: TestClient, admin: dict[str, str]) -> None:
    ana, ana_csrf = _annotator(client, "ana@example.org")
    task = ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers={"X-CSRF-Token": ana_csrf}).json()["task"]
    with transaction(_factory(client)) as session:
        session.execute(update(TaskLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    for email in ("ben@example.org", "cy@example.org"):  # two others fill both slots of that tweet
        other, csrf = _annotator(client, email)
        got = other.post("/api/v1/jobs/api-job/tasks/next", json={}, headers={"X-CSRF-Token": csrf}).json()["task"]
        assert got["item"]["id"] == task["item"]["id"]
        body = {"label": "positive", "idempotency_key": email}
        assert other.post(
            f"/api/v1/tasks/{got['lease_id']}/submit", json=body, headers={"X-CSRF-Token": csrf}
        ).is_success
    late = ana.post(
        f"/api/v1/tasks/{task['lease_id']}/submit",
        json={"label": "positive", "idempotency_key": "late"},
        headers={"X-CSRF-Token": ana_csrf},
    )
    assert "time limit for this task passed" in _error(late, 409)


def test_annotators_cannot_use_admin_routes_or_read_each_others_answers(
    client: TestClient, admin: dict[str, str]
) -> None:
    ana, ana_csrf = _annotator(client, "ana@example.org")
    ben, ben_csrf = _annotator(client, "ben@example.org")
    task = ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers={"X-CSRF-Token": ana_csrf}).json()["task"]
    answer = ana.post(
        f"/api/v1/tasks/{task['lease_id']}/submit",
        json={"label": "positive", "idempotency_key": "a"},
        headers={"X-CSRF-Token": ana_csrf},
    ).json()
    judgment_id = answer["judgment_id"]
    assert ana.get(f"/api/v1/judgments/{judgment_id}").json()["label"] == "positive"
    assert client.get(f"/api/v1/judgments/{judgment_id}", headers=admin).status_code == 200
    assert f"no judgment {judgment_id}" in _error(ben.get(f"/api/v1/judgments/{judgment_id}"), 404)
    assert ben.get("/api/v1/jobs/api-job/judgments/mine").json() == []
    for method, path in [
        ("GET", "/api/v1/jobs"),
        ("GET", "/api/v1/jobs/api-job"),
        ("GET", "/api/v1/jobs/api-job/annotators"),
        ("GET", "/api/v1/jobs/api-job/worker-responses"),
        ("POST", "/api/v1/jobs/api-job/pause"),
    ]:
        assert "needs an admin" in _error(ben.request(method, path, headers={"X-CSRF-Token": ben_csrf}), 403)
    # Ben cannot answer or skip Ana's task either.
    stolen = {"label": "negative", "idempotency_key": "b"}
    _error(ben.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=stolen, headers={"X-CSRF-Token": ben_csrf}), 404)
    assert ben.get("/admin", follow_redirects=False).status_code == 403


def test_cookie_requests_that_change_state_need_the_csrf_token(client: TestClient, admin: dict[str, str]) -> None:
    ana, csrf = _annotator(client, "ana@example.org")
    assert "CSRF" in _error(ana.post("/api/v1/jobs/api-job/tasks/next", json={}), 403)
    assert "CSRF" in _error(ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers={"X-CSRF-Token": "x"}), 403)
    assert ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert ana.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False).status_code == 403


def test_an_invite_link_works_once_and_a_get_does_not_spend_it(client: TestClient, admin: dict[str, str]) -> None:
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, "dee@example.org", team=None, valid_for=timedelta(days=1))
    assert client.get(f"/invite/{token}").status_code == 200
    assert TestClient(client.app).post(f"/invite/{token}", follow_redirects=False).status_code == 303
    reused = TestClient(client.app).post(f"/invite/{token}", follow_redirects=False)
    assert reused.status_code == 409 and "already used" in reused.text
    assert TestClient(client.app).post("/invite/forged", follow_redirects=False).status_code == 404


def test_undo_skip_and_worker_responses_export(client: TestClient, admin: dict[str, str]) -> None:
    ana, csrf = _annotator(client, "ana@example.org")
    headers = {"X-CSRF-Token": csrf}
    first = ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers=headers).json()["task"]
    ana.post(
        f"/api/v1/tasks/{first['lease_id']}/submit", json={"label": "positive", "idempotency_key": "1"}, headers=headers
    )
    back = ana.post("/api/v1/jobs/api-job/undo", headers=headers).json()
    assert back["lease_id"] == first["lease_id"] and back["previous_label"] == "positive"
    ana.post(
        f"/api/v1/tasks/{first['lease_id']}/submit", json={"label": "negative", "idempotency_key": "2"}, headers=headers
    )
    second = ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers=headers).json()["task"]
    assert ana.post(f"/api/v1/tasks/{second['lease_id']}/decline", headers=headers).status_code == 204
    export = client.get("/api/v1/jobs/api-job/worker-responses", headers=admin)
    assert export.headers["content-type"].startswith("application/x-ndjson")
    (line,) = [__import__("json").loads(x) for x in export.text.splitlines()]
    assert line["itemId"] == first["item"]["id"]
    (answer,) = line["answers"]
    assert answer["answerContent"] == {"crowd-classifier": {"label": "negative"}}
    assert set(answer) == {
        "workerId",
        "acceptanceTime",
        "submissionTime",
        "timeSpentInSeconds",
        "workerMetadata",
        "answerContent",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", answer["submissionTime"])


def test_pages_escape_instructions_and_send_security_headers(client: TestClient, admin: dict[str, str]) -> None:
    with transaction(_factory(client)) as session:
        job = jobs.get_job(session, "api-job")
        job.instructions_md = "# Rules\n<script>alert(1)</script>\n[x](javascript:alert(1))"
    ana, _ = _annotator(client, "ana@example.org")
    page = ana.get("/annotate/api-job")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="javascript:' not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/annotate").status_code == 401  # no session: a page saying how to sign in


def test_admin_signs_in_with_the_api_key_and_controls_jobs(client: TestClient, admin: dict[str, str]) -> None:
    key = admin["Authorization"].split()[1]
    assert client.post("/admin/login", data={"api_key": "wrong"}).status_code == 401
    response = client.post("/admin/login", data={"api_key": key}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get("/admin")
    assert "API-Job" in page.text and "0 / 4" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    assert client.post("/admin/jobs/api-job/pause", data={"csrf_token": "nope"}).status_code == 403
    done = client.post("/admin/jobs/api-job/pause", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/api/v1/jobs/api-job", headers=admin).json()["state"] == "paused"
    job_page = client.get("/admin/jobs/api-job").text
    assert "paused" in job_page
    # Quality and cost: no labels yet, so no estimate; the answers spent and projected (4 tweets × 2 answers).
    assert "estimated accuracy" in job_page and "Estimate: no labels yet." in job_page
    assert re.search(r"projected to finish</dt><dd>8<", job_page)


def test_openapi_describes_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/jobs", "/api/v1/jobs/{name}/tasks/next", "/api/v1/tasks/{lease_id}/submit"} <= set(paths)


def test_an_answer_can_bring_the_next_task_in_the_same_round_trip(client: TestClient, admin: dict[str, str]) -> None:
    ana, csrf = _annotator(client, "ana@example.org")
    headers = {"X-CSRF-Token": csrf}
    first = ana.post("/api/v1/jobs/api-job/tasks/next", json={}, headers=headers).json()["task"]
    body = {"label": "positive", "idempotency_key": "one", "next": {"exclude": []}}
    answer = ana.post(f"/api/v1/tasks/{first['lease_id']}/submit", json=body, headers=headers).json()
    following = answer["next"]["task"]
    assert following["lease_id"] != first["lease_id"] and following["item"]["id"] != first["item"]["id"]
    plain = ana.post(
        f"/api/v1/tasks/{following['lease_id']}/submit",
        json={"label": "negative", "idempotency_key": "two"},
        headers=headers,
    ).json()
    assert plain["next"] is None


def test_admin_job_page_shows_agreement_and_estimated_skills(client: TestClient, admin: dict[str, str]) -> None:
    from groundswell.jobs.consolidation import consolidate_job

    for email in ("ana@example.org", "ben@example.org"):
        browser, csrf = _annotator(client, email)
        headers = {"X-CSRF-Token": csrf}
        while task := browser.post("/api/v1/jobs/api-job/tasks/next", json={}, headers=headers).json()["task"]:
            body = {
                "label": "positive" if task["item"]["id"] != "t3" else "negative",
                "idempotency_key": task["item"]["id"],
            }
            assert browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers).is_success
    with transaction(_factory(client)) as session:
        consolidate_job(session, jobs.get_job(session, "api-job"))
    key = admin["Authorization"].split()[1]
    client.post("/admin/login", data={"api_key": key})
    page = client.get("/admin/jobs/api-job").text
    assert "Krippendorff" in page and "tweets with ≥ 2 answers" in page
    assert "ana" in page and "estimated accuracy" in page
    assert re.search(r"<td>1\.00 <small>\(", page), "perfect agreement gives each annotator an accuracy of 1.00"


def test_admin_job_page_lists_automated_labeling_rounds(client: TestClient, admin: dict[str, str]) -> None:
    from groundswell.store.tables import AutoLabelRound

    with transaction(_factory(client)) as session:
        job = jobs.get_job(session, "api-job")
        session.add(
            AutoLabelRound(
                job_id=job.id,
                round_number=3,
                human_labels_used=1234,
                threshold=0.875,
                validation_accuracy=0.962,
                validation_lower_bound=0.951,
                items_machine_labeled=321,
            )
        )
    client.post("/admin/login", data={"api_key": admin["Authorization"].split()[1]})
    page = client.get("/admin/jobs/api-job").text
    assert "Automated labeling" in page
    assert "<td>3</td><td>1234</td><td>0.875</td>" in page and "<td>0.951</td>" in page and "<td>321</td>" in page


def test_an_accuracy_target_job_through_the_api_reports_its_estimated_accuracy(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"name": "target", "dataset": "tweets", "labels": ["positive", "negative"], "accuracy_target": 0.9}
    created = client.post("/api/v1/jobs", json=body, headers=admin)
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["workers_per_item"], job["max_workers_per_item"]) == (1, 5)
    quality = job["quality"]
    assert quality["accuracy_target"] == 0.9 and quality["estimated_accuracy"] is None
    assert (quality["answers_spent"], quality["items"]) == (0, 4)
    # Same request, same job, whoever sends it: the API fills in the defaults the CLI does.
    with _factory(client)() as session:
        settings = jobs.get_job(session, "target").settings
    assert settings["redundancy_rule"] == "target" and settings["model_vote"] is True
    bad = {"name": "bad", "dataset": "tweets", "labels": ["a", "b"], "preset": "mturk"}
    assert "preset" in _error(client.post("/api/v1/jobs", json=bad, headers=admin), 422)
    # Gold tweets need gold labels in the dataset: the refusal says how many it has.
    gold = {**body, "name": "gold", "gold_items": 2}
    assert "the dataset has 0 item(s) whose gold label" in _error(
        client.post("/api/v1/jobs", json=gold, headers=admin), 422
    )


def test_errors_answer_json_under_the_api_and_a_page_elsewhere(client: TestClient, admin: dict[str, str]) -> None:
    """One error handler, answering by route: the same missing job is a JSON body under /api/ and an HTML
    page (with the pages' security headers) on the admin page; a caller who presented no credentials is sent to
    sign in; a forbidden job is an error page, not the sign-in page."""
    api = client.get("/api/v1/jobs/nope", headers=admin)
    assert api.headers["content-type"].startswith("application/json")
    assert "nope" in _error(api, 404)

    html = client.get("/admin/jobs/nope", headers=admin)
    assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")
    assert "Something is not right" in html.text and "nope" in html.text
    assert "default-src 'self'" in html.headers["content-security-policy"]
    assert client.get("/no-such-page").headers["content-type"].startswith("text/html")
    assert client.get("/api/v1/no-such-route").json()["status"] == 404
    wrong_method = client.delete("/api/v1/jobs", headers=admin)
    assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405
    assert {"GET", "POST"} <= set(wrong_method.headers["allow"].split(", ")) <= {"GET", "HEAD", "POST"}

    signed_out = TestClient(client.app)
    to_login = signed_out.get("/admin/jobs/api-job", follow_redirects=False)
    assert to_login.status_code == 303 and to_login.headers["location"] == "/admin/login"
    annotate = signed_out.get("/annotate/api-job")
    assert annotate.status_code == 401 and "invite" in annotate.text.lower()
    assert signed_out.get("/api/v1/jobs/api-job").status_code == 401

    browser, _csrf = _annotator(client, "someone@example.org")
    forbidden = browser.get("/admin/jobs/api-job")
    assert forbidden.status_code == 403 and "this needs an admin" in forbidden.text


def test_out_of_range_ids_and_control_characters_are_refused_before_any_sql(
    client: TestClient, admin: dict[str, str]
) -> None:
    """Issue 17's 500s: ids past the databases' integer range, and NUL in paths, labels and keys, now answer
    4xx in the documented shape, signed in or not (on PostgreSQL a made-up session cookie used to send such a
    request down the hot path, which cast the id before it authenticated)."""
    too_big = 2**63
    for caller in (TestClient(client.app, cookies={"gs_session": "bogus"}), client):
        body = {"label": "positive", "idempotency_key": "k"}
        assert "lease_id" in _error(caller.post(f"/api/v1/tasks/{too_big}/submit", json=body, headers=admin), 422)
        assert "lease_id" in _error(caller.post(f"/api/v1/tasks/{too_big}/decline", headers=admin), 422)
        assert "judgment_id" in _error(caller.get(f"/api/v1/judgments/{too_big}", headers=admin), 422)
        assert "judgment_id" in _error(caller.get("/api/v1/judgments/0", headers=admin), 422)
        assert "exclude" in _error(
            caller.post("/api/v1/jobs/api-job/tasks/next", json={"exclude": [too_big]}, headers=admin), 422
        )
        assert "control characters" in _error(caller.get("/api/v1/jobs/a%00b", headers=admin), 422)
    browser, csrf = _annotator(client, "nul@example.org")
    headers = {"X-CSRF-Token": csrf}
    task = browser.post("/api/v1/jobs/api-job/tasks/next", json={"exclude": []}, headers=headers).json()["task"]
    for body in ({"label": "posi\x00tive", "idempotency_key": "k"}, {"label": "positive", "idempotency_key": "k\x00"}):
        answer = browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers)
        assert "control characters" in _error(answer, 422)
    job = {"name": "bad\x00name", "dataset": "tweets", "labels": ["a", "b"]}
    assert "body.name" in _error(client.post("/api/v1/jobs", json=job, headers=admin), 422)  # Ground Truth's name rule
    ok = browser.post(
        f"/api/v1/tasks/{task['lease_id']}/submit", json={"label": "positive", "idempotency_key": "k"}, headers=headers
    )
    assert ok.status_code == 200, ok.text


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_details(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Any) -> Any:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(jobs, "list_jobs", broken)
    quiet = TestClient(client.app, raise_server_exceptions=False)
    with caplog.at_level("ERROR", logger="groundswell.web"):
        response = quiet.get("/api/v1/jobs", headers=admin)
    message = _error(response, 500)
    request_id = response.headers["x-request-id"]
    assert message == f"internal error; quote request id {request_id} to the operator"
    assert "secret" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "secret detail" in str(logged[0].exc_info[1])
    page = quiet.get("/admin", headers=admin)
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-request-id"] in page.text and "secret" not in page.text


def test_the_job_schema_asks_for_exactly_one_of_labels_and_label_config(
    client: TestClient, admin: dict[str, str]
) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["JobCreate"]
    # A null counts as absent on the server, so each branch also asks for the value's type.
    assert schema["oneOf"] == [
        {"required": ["labels"], "properties": {"labels": {"type": "array"}}},
        {"required": ["label_config"], "properties": {"label_config": {"type": "object"}}},
    ]
    neither = {"name": "no-labels", "dataset": "tweets"}
    both = {**neither, "labels": ["a", "b"], "label_config": LABEL_CONFIG}
    for body in (neither, both):
        assert "exactly one of" in _error(client.post("/api/v1/jobs", json=body, headers=admin), 422)
