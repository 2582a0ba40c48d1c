"""Annotation load benchmark: K simulated annotators over HTTP against `groundswell serve` (2 processes).

For each database (SQLite, PostgreSQL), dataset size and K, the annotators loop next-task → submit for a fixed
time window; we report annotations/s, next-task and submit latency percentiles, and check in the database
that no tweet received more than its 3 answers.

Run: make bench   (or: python bench/annotate_load.py --items 10000 100000 --annotators 1 8 32 --seconds 20)
PostgreSQL comes from GROUNDSWELL_TEST_POSTGRES_URL (scripts/with-test-postgres starts one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from groundswell import jobs  # noqa: E402
from groundswell.ingest import import_dataset  # noqa: E402
from groundswell.store import make_engine, make_session_factory  # noqa: E402
from groundswell.store.db import transaction  # noqa: E402
from groundswell.store.tables import JobItem  # noqa: E402

try:
    from groundswell.jobs.setup import prepare_store
except ImportError:  # a revision before it, measured by annotate_cpu.py --against: migrations installed its functions
    from groundswell.store import upgrade as prepare_store  # type: ignore[assignment]
from import_bench import drop_postgres_db, fresh_postgres_db  # noqa: E402
from results import write_section  # noqa: E402
from servers import start_server, stop_server  # noqa: E402

LABELS = ["positive", "negative", "neutral"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def annotator(
    base: str, token: str, window: tuple[float, float], stats: dict[str, list[float]], index: int, combined: bool
) -> int:
    """Loops next → submit; with ``combined`` each submit also fetches the next task, as the web UI does.

    aiohttp rather than httpx: on this 2-core machine the load generator shares the CPU with the server, and
    aiohttp spends about a third of httpx's CPU per request, leaving more of the machine to what we measure.
    """
    measure_from, stop_at = window
    done = 0
    jar = aiohttp.CookieJar(unsafe=True)  # the server is 127.0.0.1, an IP address
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url=base, cookie_jar=jar, timeout=timeout) as client:
        async with client.post(f"/invite/{token}") as response:
            await response.read()
        async with client.get("/annotate/load") as response:
            page = await response.text()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert csrf, page[:300]
        headers = {"X-CSRF-Token": csrf.group(1)}
        task = None
        while time.monotonic() < stop_at:
            if task is None:
                started = time.perf_counter()
                async with client.post("/api/v1/jobs/load/tasks/next", json={"exclude": []}, headers=headers) as r:
                    task = (await r.json())["task"]
                if time.monotonic() >= measure_from:
                    stats["next"].append(time.perf_counter() - started)
                if task is None:
                    break
            body: dict[str, object] = {
                "label": LABELS[(index + done) % 3],
                "idempotency_key": f"{index}-{task['lease_id']}",
            }
            if combined:
                body["next"] = {"exclude": []}
            started = time.perf_counter()
            async with client.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers) as r:
                status = r.status
                answer = await r.json() if status == 200 else None
            measured = time.monotonic() >= measure_from
            if measured:
                stats["submit"].append(time.perf_counter() - started)
            if answer is not None:
                done += measured
                task = (answer.get("next") or {}).get("task") if combined else None
            else:
                stats.setdefault("errors", []).append(status)
                task = None
    return done


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_groups(server_pid: int) -> dict[str, list[int]]:
    """The server's processes (``serve`` and its workers) and the database server's, by /proc."""
    parents: dict[int, int] = {}
    postgres: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if command.startswith(b"postgres") or b"bin/postgres" in command:
            postgres.append(int(entry.name))
    server = {server_pid}
    for _ in range(3):  # serve → worker processes (and multiprocessing's helpers)
        server |= {pid for pid, parent in parents.items() if parent in server}
    return {"server": sorted(server), "database": postgres}


class CpuMeter:
    """CPU used by the server's and the database's processes (and this load generator) over the load window.

    Why: on a shared 2-core machine, throughput alone says little; CPU per answer, split by who spends it, says
    where the time goes and how far the machine is from saturation.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        groups = _process_groups(self.server_pid)
        sample = {name: {pid: _cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}
        sample["load generator"] = {os.getpid(): time.process_time()}
        return sample

    def used(self) -> dict[str, float]:
        end = self._sample()
        return {
            name: sum(seconds - self.start[name].get(pid, 0.0) for pid, seconds in pids.items())
            for name, pids in end.items()
        }


def prepare(url: str, tmp: Path, items: int, annotators: int) -> list[str]:
    engine = make_engine(url)
    prepare_store(engine)  # the schema and, on PostgreSQL, the current hot-path functions
    factory = make_session_factory(engine)
    manifest = tmp / f"items-{items}.jsonl"
    if not manifest.exists():
        with manifest.open("w") as handle:
            for i in range(items):
                handle.write(json.dumps({"source": f"load test tweet {i} #bench @someone"}) + "\n")
    import_dataset(factory, str(manifest), name="load")
    with transaction(factory) as session:
        jobs.create_job(session, jobs.JobSpec(name="load", dataset="load", labels=LABELS, workers_per_item=3))
        jobs.change_state(session, "load", "start")
        tokens = [
            jobs.create_invite(session, f"a{i}@example.org", team=None, valid_for=timedelta(days=1))[1]
            for i in range(annotators)
        ]
    if engine.dialect.name == "postgresql":
        # Fresh statistics and visibility map now, not from an autovacuum run inside the measured window.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return tokens


def max_answers_per_item(url: str) -> int:
    from sqlalchemy import func, select

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        value = session.scalar(select(func.max(JobItem.judgments_accepted + JobItem.leases_active)))
    engine.dispose()
    return int(value or 0)


def _analyze(url: str) -> None:
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def _ms(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return "–" if number != number else f"{number:.1f}"  # NaN: no request of that kind in the window


def run_case(
    store: str, items: int, k: int, seconds: float, tmp: Path, workers: int, combined: bool, warmup: float
) -> dict[str, object]:
    if store == "SQLite":
        url = f"sqlite:///{tmp / f'load-{items}-{k}-{int(combined)}-{time.monotonic_ns()}.db'}"
    else:
        url = fresh_postgres_db(os.environ["GROUNDSWELL_TEST_POSTGRES_URL"])
    tokens = prepare(url, tmp, items, k)
    server = start_server(url, tmp, workers=workers)
    stats: dict[str, list[float]] = {"next": [], "submit": []}
    try:
        meters: list[CpuMeter] = []
        measure_from = time.monotonic() + warmup
        stop_at = measure_from + seconds

        async def start_meter() -> None:
            if store != "SQLite" and warmup > 0:
                # Halfway through the warm-up, statistics that describe the tables as they now are (autovacuum
                # would take them within a minute): planned on the empty tables of a fresh database, the
                # routing queries' cached plans differ from run to run.
                await asyncio.sleep(warmup / 2)
                await asyncio.to_thread(_analyze, url)
            await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
            meters.append(CpuMeter(server.process.pid))

        async def main() -> list[int]:
            meter = asyncio.create_task(start_meter())
            counts = await asyncio.gather(
                *(annotator(server.url, t, (measure_from, stop_at), stats, i, combined) for i, t in enumerate(tokens))
            )
            await meter
            return counts

        # The load generator's own garbage-collection pauses would count as server latency: none in the run.
        gc.collect()
        gc.disable()
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                counts = runner.run(main())
        finally:
            gc.enable()
        elapsed = time.monotonic() - measure_from
        cpu = meters[0].used()
        maximum = max_answers_per_item(url)
    finally:
        stop_server(server)
        if store != "SQLite":
            drop_postgres_db(os.environ["GROUNDSWELL_TEST_POSTGRES_URL"], url)
    total = sum(counts)
    ms = {name: [v * 1000 for v in stats[name]] for name in ("next", "submit")}
    return {
        "store": store,
        "mode": "answer+next" if combined else "next, answer",
        "items": items,
        "k": k,
        "annotations": total,
        "per_s": total / elapsed,
        "next_p50": percentile(ms["next"], 0.5),
        "next_p95": percentile(ms["next"], 0.95),
        "next_p99": percentile(ms["next"], 0.99),
        "submit_p50": percentile(ms["submit"], 0.5),
        "submit_p95": percentile(ms["submit"], 0.95),
        "submit_p99": percentile(ms["submit"], 0.99),
        "errors": len(stats.get("errors", [])),
        "max_per_item": maximum,
        "cpu_ms": {name: seconds * 1000 / max(total, 1) for name, seconds in cpu.items()},
        "cpu_busy": sum(cpu.values()) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--annotators", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--workers", type=int, default=None, help="server processes (default: 1 on SQLite, 2 on PostgreSQL)"
    )
    parser.add_argument("--stores", nargs="+", default=["SQLite", "PostgreSQL"])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["separate", "combined"],
        help="separate: next-task then submit (two requests per answer); combined: submit also returns the next "
        "task (one request per answer, what the web UI does)",
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of load before the window, not measured (cold start)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per case at 32 or more annotators; the table shows the median"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the rows, leave bench/RESULTS.md alone")
    args = parser.parse_args()
    stores = [s for s in args.stores if s == "SQLite" or os.environ.get("GROUNDSWELL_TEST_POSTGRES_URL")]
    rows = [
        f"`groundswell serve --workers {args.workers or '1 (SQLite) / 2 (PostgreSQL)'}`; each annotator loops "
        f"next-task → submit, with no pause between requests, for {args.warmup:g} s of warm-up (not measured: new "
        f"connections, cold caches) and then a {args.seconds:.0f} s window; 3 answers per tweet. Latencies in ms, "
        "measured by the load generator (Python aiohttp, asyncio, on the same 2-core machine as the server; its "
        "garbage collector paused during the run so that its own pauses do not count as server latency). On "
        "PostgreSQL, ANALYZE runs halfway through the warm-up: the cached plans of queries first planned on a "
        "fresh database's empty tables otherwise vary from run to run."
        + (
            f" At 32 annotators and more, each case ran {args.repeats} times and the row is the run with the "
            "median throughput (every run is printed on stdout)."
            if args.repeats > 1
            else ""
        ),
        "",
        "In 'answer+next' mode each annotator asks for a next task on its own only once, at the start, so the "
        "'next' columns are empty (–): every request in the window is an answer carrying the next task in its "
        "response ('submit'). CPU columns: user + system CPU of the server's processes, the "
        "database server's (PostgreSQL only; SQLite runs inside the server) and the load generator during the "
        "load window, per answer; 'cores busy' is their sum per second of the window (the machine has 2).",
        "",
        "| store | requests | tweets | annotators | annotations/s | next p50 | next p95 | next p99 | submit p50 "
        "| submit p95 | submit p99 | errors | max answers on a tweet | CPU ms per answer: server / database / "
        "load generator | cores busy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    every_run: list[str] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for store in stores:
            for items in args.items:
                for k, mode in [(k, m) for m in args.modes for k in args.annotators]:
                    workers = args.workers or (1 if store == "SQLite" else 2)
                    runs = []
                    for _ in range(args.repeats if k >= 32 else 1):
                        runs.append(
                            run_case(store, items, k, args.seconds, tmp, workers, mode == "combined", args.warmup)
                        )
                        print(
                            f"  run: {runs[-1]['per_s']:.0f}/s, submit p99 {runs[-1]['submit_p99']:.1f} ms", flush=True
                        )
                    r = sorted(runs, key=lambda run: float(run["per_s"]))[len(runs) // 2]  # type: ignore[arg-type]
                    if len(runs) > 1:
                        every_run.append(
                            f"{store}, {r['mode']}, {items:,} tweets, {k} annotators: "
                            + "; ".join(f"{run['per_s']:.0f}/s, p99 {_ms(run['submit_p99'])} ms" for run in runs)
                        )
                    cpu = r["cpu_ms"]
                    line = (
                        f"| {r['store']} | {r['mode']} | {r['items']:,} | {r['k']} | {r['per_s']:.0f} | "
                        f"{_ms(r['next_p50'])} | {_ms(r['next_p95'])} | {_ms(r['next_p99'])} | "
                        f"{_ms(r['submit_p50'])} | {_ms(r['submit_p95'])} | {_ms(r['submit_p99'])} | "
                        f"{r['errors']} | {r['max_per_item']} | {cpu['server']:.2f} / {cpu['database']:.2f} / "
                        f"{cpu['load generator']:.2f} | {r['cpu_busy']:.2f} |"
                    )
                    print(line, flush=True)
                    rows.append(line)
    if every_run:
        rows += ["", "Every run of the repeated cases (annotations/s, submit p99):", ""]
        rows += [f"- {line}" for line in every_run]
    rows += [
        "",
        "Target (issue 3): ≥ 300 annotations/s at 32 annotators with p99 < 100 ms on both databases. For scale, the "
        "issue reports Label Studio 1.23.2 at 1–4 annotations/s here, next-task p50 of seconds at 32 annotators "
        "(not re-measured here).",
    ]
    command = (
        f"python bench/annotate_load.py --items {' '.join(map(str, args.items))} --annotators "
        f"{' '.join(map(str, args.annotators))} --seconds {args.seconds:.0f} --warmup {args.warmup:g} "
        + (f"--repeats {args.repeats} " if args.repeats > 1 else "")
        + (f"--workers {args.workers} " if args.workers else "")
        + f"--modes {' '.join(args.modes)}"
    )
    if not args.dry_run:
        write_section("annotate_load", "Annotation load (`bench/annotate_load.py`)", rows, command=command)


if __name__ == "__main__":
    main()
