"""Streaming benchmark (issue 16): tweets appended while annotators label them and a webhook receives each
final label, on PostgreSQL with `groundswell serve --workers 2` and a separate `groundswell runner`; halfway
through, both are killed with SIGKILL and started again.

Who does what, all on this 2-core machine:

* a producer appends tweets through ``POST /api/v1/jobs/load/items`` at a fixed rate (batches every 0.1 s,
  each tweet with its own id), retrying a batch until it is answered, as a client would (a retried batch's
  ids already there are reported as duplicates and appended nothing);
* K annotators answer through the API as the web UI does (answer and next task in one request; one answer
  per tweet, so each answer makes a label final); with no task on offer they wait 50 ms and ask again;
* a receiver (its own process) takes the webhook's POSTs and logs when each arrived, with its delivery id.

Measured: appends per second the server took, answer latency (p50/p99), and for each final label the time
from the end of its answer's request to its delivery (p50/p99, outside the kill's outage). Checked after the
run, once the outbox has drained: every final label delivered at least once, every acknowledged tweet in the
job exactly once (no loss, no duplicate).

Run: python bench/stream_bench.py --seconds 60 --rate 2000 --annotators 16
PostgreSQL comes from GROUNDSWELL_TEST_POSTGRES_URL (scripts/start-postgres starts one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from annotate_load import percentile  # noqa: E402
from groundswell import jobs  # noqa: E402
from groundswell.jobs.setup import prepare_store  # noqa: E402
from groundswell.store import make_engine, make_session_factory  # noqa: E402
from groundswell.store.db import transaction  # noqa: E402
from import_bench import drop_postgres_db, fresh_postgres_db  # noqa: E402
from results import write_section  # noqa: E402
from servers import free_port, kill_group, kill_server, restart_server, start_runner, start_server, stop_server  # noqa: E402

LABELS = ["negative", "neutral", "positive"]
BATCH_EVERY_S = 0.1
#: Issue 16's bars.
APPEND_BAR = 2000.0
ANSWER_P99_BAR_MS = 100.0
DELIVERY_P99_BAR_S = 2.0


def _receive(port: int, log_path: str) -> None:
    """The webhook receiver's process: logs ``arrival-time delivery-id source`` per POST, answers 204."""
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrived = time.time()
            source = json.loads(body)["source"]
            log.write(json.dumps([arrived, self.headers["X-Groundswell-Delivery"], source]) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _prepare(url: str, annotators: int, hook: str) -> tuple[str, list[str]]:
    engine = make_engine(url)
    prepare_store(engine)
    with transaction(make_session_factory(engine)) as session:
        spec = jobs.JobSpec(
            name="load", dataset="stream", labels=LABELS, workers_per_item=1, streaming=True, webhooks=[hook]
        )
        jobs.create_job(session, spec)
        jobs.change_state(session, "load", "start")
        _, key = jobs.create_admin(session, "bench@example.org")
        tokens = [
            jobs.create_invite(session, f"a{i}@example.org", team=None, valid_for=timedelta(days=1))[1]
            for i in range(annotators)
        ]
    engine.dispose()
    return key, tokens


async def _producer(base: dict[str, str], key: str, rate: float, stop_at: float, stats: dict[str, Any]) -> None:
    per_batch = max(1, round(rate * BATCH_EVERY_S))
    headers = {"Authorization": f"Bearer {key}"}
    number = 0
    next_at = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        while time.monotonic() < stop_at:
            batch = [{"source": f"stream tweet {number + i} #brand", "id": f"s{number + i}"} for i in range(per_batch)]
            while True:  # a batch is retried until the server answers it: at-least-once from the client's side
                try:
                    async with client.post(f"{base['url']}/api/v1/jobs/load/items", json=batch, headers=headers) as r:
                        if r.status == 200:
                            answer = await r.json()
                            stats["appended"] += answer["appended"]
                            stats["duplicates"] += len(answer["duplicates"])
                            break
                        stats["append_errors"] += 1
                except (TimeoutError, aiohttp.ClientError):
                    stats["append_errors"] += 1
                await asyncio.sleep(0.2)
            stats["acknowledged"] += per_batch
            number += per_batch
            next_at += BATCH_EVERY_S
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _annotator(
    base: dict[str, str], token: str, index: int, stop_at: float, stats: dict[str, Any], answered: dict[str, float]
) -> None:
    """Signs in once through the invite (the session is in the database, so it outlives a server restart),
    then answers until ``stop_at``; a failed request (the outage) is counted and tried again."""
    jar = aiohttp.CookieJar(unsafe=True)  # the server is 127.0.0.1, an IP address
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)) as client:
        url = base["url"]
        async with client.post(f"{url}/invite/{token}") as response:
            await response.read()
        async with client.get(f"{url}/annotate/load") as response:
            page = await response.text()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert csrf, page[:200]
        headers = {"X-CSRF-Token": csrf.group(1)}
        task: dict[str, Any] | None = None
        done = 0
        while time.monotonic() < stop_at:
            try:
                if task is None:
                    next_url = f"{url}/api/v1/jobs/load/tasks/next"
                    async with client.post(next_url, json={"exclude": []}, headers=headers) as r:
                        task = (await r.json())["task"] if r.status == 200 else None
                    if task is None:
                        await asyncio.sleep(0.05)
                        continue
                body = {
                    "label": LABELS[(index + done) % 3],
                    "idempotency_key": f"{index}-{task['lease_id']}",
                    "next": {"exclude": []},
                }
                started = time.perf_counter()
                async with client.post(
                    f"{url}/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers
                ) as r:
                    answer = await r.json() if r.status == 200 else None
                stats["answer_ms"].append((time.perf_counter() - started) * 1000)
                if answer is None:
                    stats["answer_errors"] += 1
                    task = None
                    continue
                answered[task["item"]["text"]] = time.time()
                done += 1
                task = (answer.get("next") or {}).get("task")
            except (TimeoutError, aiohttp.ClientError):
                stats["answer_errors"] += 1
                await asyncio.sleep(0.2)  # the server is down: the lease, if any, is retried with its key


def run(seconds: float, rate: float, k: int, tmp: Path) -> dict[str, Any]:
    admin_url = os.environ["GROUNDSWELL_TEST_POSTGRES_URL"]
    url = fresh_postgres_db(admin_url)
    port = free_port()
    received_log = tmp / "received.jsonl"
    receiver = multiprocessing.Process(target=_receive, args=(port, str(received_log)), daemon=True)
    receiver.start()
    stats: dict[str, Any] = defaultdict(int)
    stats["answer_ms"] = []
    answered: dict[str, float] = {}
    try:
        key, tokens = _prepare(url, k, f"http://127.0.0.1:{port}/hook")
        server = start_server(url, tmp, workers=2)
        runner = start_runner(url, tmp, "--poll", "0.5")
        base = {"url": server.url}
        start = time.monotonic()
        stop_at = start + seconds
        outage: list[float] = []

        async def chaos() -> None:
            nonlocal server, runner
            await asyncio.sleep(seconds / 2)
            outage.append(time.time())
            kill_group(runner)
            kill_server(server)
            server = await asyncio.to_thread(restart_server, server)
            runner = start_runner(url, tmp, "--poll", "0.5", name="runner.1")
            outage.append(time.time())

        async def main() -> None:
            await asyncio.gather(
                _producer(base, key, rate, stop_at, stats),
                *(_annotator(base, t, i, stop_at, stats, answered) for i, t in enumerate(tokens)),
                chaos(),
            )

        asyncio.run(main())
        elapsed = time.monotonic() - start
        drained = _drain(url, deadline=time.monotonic() + 300)
        facts = _job_facts(url)
        kill_group(runner)
        stop_server(server)
        arrivals: dict[str, float] = {}
        deliveries = 0
        for line in received_log.read_text(encoding="utf-8").splitlines():
            arrived, _, source = json.loads(line)
            deliveries += 1
            arrivals.setdefault(source, arrived)  # the first delivery counts
        missing = sorted(set(facts["final_sources"]) - set(arrivals))
        if missing:
            print("not delivered:", _explain(url, missing[:10]), file=sys.stderr)
    finally:
        receiver.kill()
        drop_postgres_db(admin_url, url)
    lag = [
        arrivals[s] - t
        for s, t in answered.items()
        if s in arrivals and not (outage[0] - 5 <= t <= outage[1] + 5)  # not waiting out the kill
    ]
    # Before the kill only: the steady state, without the backlog the restart leaves behind.
    steady = [arrivals[s] - t for s, t in answered.items() if s in arrivals and t < outage[0] - 5]
    return {
        "seconds": elapsed,
        "rate": rate,
        "k": k,
        "appended": stats["appended"],
        "duplicates": stats["duplicates"],
        "acknowledged": stats["acknowledged"],
        "append_errors": stats["append_errors"],
        "answers": len(answered),
        "answer_p50": percentile(stats["answer_ms"], 0.5),
        "answer_p99": percentile(stats["answer_ms"], 0.99),
        "answer_errors": stats["answer_errors"],
        "lag_p50": percentile(lag, 0.5),
        "lag_p99": percentile(lag, 0.99),
        "steady_p50": percentile(steady, 0.5),
        "steady_p99": percentile(steady, 0.99),
        "deliveries": deliveries,
        "delivered_items": len(arrivals),
        "outage_s": outage[1] - outage[0],
        "drained": drained,
        **facts,
        "final_not_delivered": len(set(facts.pop("final_sources")) - set(arrivals)),
    }


def _explain(url: str, sources: list[str]) -> list[dict[str, Any]]:
    """For tweets whose final label never arrived: their label events and deliveries, as the database has them."""
    from sqlalchemy import select

    from groundswell.store.tables import Item, LabelEvent, WebhookDelivery

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            out = []
            for source in sources:
                item = session.scalars(select(Item.id).where(Item.text == source)).one()
                events = session.execute(select(LabelEvent.id, LabelEvent.seq).where(LabelEvent.item_id == item)).all()
                sent = session.execute(
                    select(WebhookDelivery.attempts, WebhookDelivery.delivered_at, WebhookDelivery.last_error)
                    .join(LabelEvent, LabelEvent.id == WebhookDelivery.event_id)
                    .where(LabelEvent.item_id == item)
                ).all()
                out.append(
                    {"source": source, "events": [tuple(e) for e in events], "deliveries": [str(d) for d in sent]}
                )
            return out
    finally:
        engine.dispose()


def _drain(url: str, deadline: float) -> bool:
    """Wait until nothing is owed to the webhook (the runner has sent every delivery)."""
    from sqlalchemy import func, select

    from groundswell.jobs.label_feed import sequence_events
    from groundswell.store.tables import WebhookDelivery

    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        while time.monotonic() < deadline:
            with transaction(factory) as session:
                sequence_events(session)
                pending = session.scalar(select(func.count()).where(WebhookDelivery.delivered_at.is_(None)))
            if not pending:
                return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()


def _job_facts(url: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from groundswell.store.tables import ConsolidatedLabel, Item, JobItem

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            items = session.scalar(select(func.count()).select_from(JobItem)) or 0
            distinct = session.scalar(select(func.count(func.distinct(Item.external_id)))) or 0
            texts = session.scalar(select(func.count(func.distinct(Item.text)))) or 0
            final = session.scalars(
                select(Item.text)
                .join(JobItem, JobItem.item_id == Item.id)
                .join(ConsolidatedLabel, ConsolidatedLabel.item_id == Item.id)
                .where(JobItem.is_done)
            ).all()
        return {"job_items": items, "distinct_ids": distinct, "distinct_texts": texts, "final_sources": list(final)}
    finally:
        engine.dispose()


def report(r: dict[str, Any]) -> list[str]:
    append_rate = r["acknowledged"] / r["seconds"]
    ok = {
        "appends": append_rate >= APPEND_BAR,
        "answer p99": r["answer_p99"] < ANSWER_P99_BAR_MS,
        "delivery p99": r["lag_p99"] < DELIVERY_P99_BAR_S,
        "every final label delivered": r["drained"] and r["final_not_delivered"] == 0,
        "no tweet lost or doubled": r["job_items"] == r["distinct_ids"] == r["acknowledged"] == r["distinct_texts"],
    }
    return [
        f"A streaming job (one answer per tweet) on PostgreSQL behind `groundswell serve --workers 2`, with "
        f"`groundswell runner` sending the webhook; a producer appends {r['rate']:,.0f} tweets/s in batches every "
        f"{BATCH_EVERY_S:g} s, {r['k']} annotators answer through the API (answer + next task), a receiver process "
        f"logs each POST. At half time the server and the runner were killed with SIGKILL and started again "
        f"({r['outage_s']:.1f} s until both were back). Everything runs on the same 2-core machine.",
        "",
        "| measure | value | bar | met? |",
        "| --- | ---: | ---: | --- |",
        f"| tweets appended per second (acknowledged / wall time) | {append_rate:,.0f} | ≥ {APPEND_BAR:,.0f} | "
        f"{'yes' if ok['appends'] else 'no'} |",
        f"| answer latency p50 / p99 (ms), {r['answers']:,} answers | {r['answer_p50']:.1f} / {r['answer_p99']:.1f} | "
        f"p99 < {ANSWER_P99_BAR_MS:g} | {'yes' if ok['answer p99'] else 'no'} |",
        f"| final answer → webhook delivery p50 / p99 (s), outside the outage | {r['lag_p50']:.2f} / "
        f"{r['lag_p99']:.2f} | p99 < {DELIVERY_P99_BAR_S:g} | {'yes' if ok['delivery p99'] else 'no'} |",
        f"| the same before the kill only (steady state) | {r['steady_p50']:.2f} / {r['steady_p99']:.2f} | "
        f"p99 < {DELIVERY_P99_BAR_S:g} | {'yes' if r['steady_p99'] < DELIVERY_P99_BAR_S else 'no'} |",
        f"| final labels not delivered after the outbox drained | {r['final_not_delivered']} | 0 | "
        f"{'yes' if ok['every final label delivered'] else 'no'} |",
        f"| tweets in the job / distinct ids / acknowledged | {r['job_items']:,} / {r['distinct_ids']:,} / "
        f"{r['acknowledged']:,} | all equal | {'yes' if ok['no tweet lost or doubled'] else 'no'} |",
        "",
        f"Deliveries received: {r['deliveries']:,} for {r['delivered_items']:,} tweets (a delivery in flight "
        f"when the runner died is sent again: at least once). Append batches retried after errors: "
        f"{r['append_errors']:,} (ids already there on a retry: {r['duplicates']:,}); answer requests that "
        f"failed (the outage): {r['answer_errors']:,}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--annotators", type=int, default=16)
    parser.add_argument("--dry-run", action="store_true", help="print the report, leave bench/RESULTS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stream-") as tmp:
        result = run(args.seconds, args.rate, args.annotators, Path(tmp))
    lines = report(result)
    print("\n".join(lines))
    if not args.dry_run:
        write_section(
            "stream",
            "Streaming: appends, annotators, webhooks and a SIGKILL (`bench/stream_bench.py`)",
            lines,
            command="python bench/stream_bench.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
