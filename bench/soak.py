"""Soak benchmark (issue 17): K annotators answer for a long time against `groundswell serve --workers 2` on
PostgreSQL; latency minute by minute, errors, answers per tweet and every server process's memory.

What "holds up" means here: zero errors; next-task and answer p99 under the bar in *every* minute, not just
overall (a leak or a growing table shows up as a slope, which an overall percentile hides); no tweet over its
3 answers; and the resident memory of each server process flat after the first minute (growth < 10 %).

The annotators are bench/annotate_load.py's (the web UI's loop: answer and fetch the next task in one request),
timed with a clock per request so each latency lands in its minute.

Run: python bench/soak.py --items 100000 --annotators 64 --seconds 600
PostgreSQL comes from GROUNDSWELL_TEST_POSTGRES_URL (scripts/start-postgres starts one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvloop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from annotate_load import _process_groups, annotator, max_answers_per_item, percentile, prepare  # noqa: E402
from import_bench import drop_postgres_db, fresh_postgres_db  # noqa: E402
from results import write_section  # noqa: E402
from servers import start_server, stop_server  # noqa: E402

#: The bars of issue 17's soak: p99 per minute, and memory growth after the first minute.
P99_BAR_MS = 150.0
MEMORY_GROWTH_BAR = 0.10
SAMPLE_EVERY_S = 10.0


class Timed(list[tuple[float, float]]):
    """A list that stamps what is appended with the time it was appended, so latencies fall into minutes."""

    def append(self, value: Any) -> None:  # type: ignore[override]
        super().append((time.monotonic(), float(value)))


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def _sample_memory(server_pid: int, until: float, samples: dict[int, list[tuple[float, float]]]) -> None:
    while time.monotonic() < until:
        for pid in _process_groups(server_pid)["server"]:
            rss = _rss_mib(pid)
            if rss is not None:
                samples[pid].append((time.monotonic(), rss))
        await asyncio.sleep(SAMPLE_EVERY_S)


def run(items: int, k: int, seconds: float, tmp: Path) -> dict[str, Any]:
    url = fresh_postgres_db(os.environ["GROUNDSWELL_TEST_POSTGRES_URL"])
    stats: dict[str, list[Any]] = defaultdict(Timed)
    memory: dict[int, list[tuple[float, float]]] = defaultdict(list)
    try:
        tokens = prepare(url, tmp, items, k)
        server = start_server(url, tmp, workers=2)
        try:
            start = time.monotonic()
            stop_at = start + seconds

            async def main() -> list[int]:
                sampler = asyncio.create_task(_sample_memory(server.process.pid, stop_at, memory))
                counts = await asyncio.gather(
                    *(annotator(server.url, t, (start, stop_at), stats, i, True) for i, t in enumerate(tokens))
                )
                await sampler
                return counts

            gc.collect()
            gc.disable()
            try:
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    counts = runner.run(main())
            finally:
                gc.enable()
            elapsed = time.monotonic() - start
            maximum = max_answers_per_item(url)
            tables = _table_churn(url)
        finally:
            stop_server(server)
    finally:
        drop_postgres_db(os.environ["GROUNDSWELL_TEST_POSTGRES_URL"], url)
    minutes = []
    for minute in range(int(seconds // 60 + (seconds % 60 > 0))):
        lo, hi = start + 60 * minute, start + 60 * (minute + 1)
        row = {"minute": minute + 1}
        for kind in ("next", "submit"):
            values = [v * 1000 for t, v in stats[kind] if lo <= t < hi]
            row[f"{kind}_p99"] = percentile(values, 0.99)
            row[f"{kind}_count"] = len(values)
        minutes.append(row)
    growth = {}
    for pid, series in memory.items():
        after_first = [rss for t, rss in series if t >= start + 60]
        if len(after_first) >= 2:
            growth[pid] = {"first": after_first[0], "last": after_first[-1], "max": max(after_first)}
    return {
        "items": items,
        "k": k,
        "seconds": elapsed,
        "answers": sum(counts),
        "per_s": sum(counts) / elapsed,
        "errors": len(stats["errors"]),
        "max_per_item": maximum,
        "minutes": minutes,
        "memory": growth,
        "tables": tables,
    }


def _table_churn(url: str) -> list[dict[str, Any]]:
    """Live and dead rows of the hot tables and when autovacuum last ran: the first suspects when latency
    climbs as a job fills (dead index entries are visited until a vacuum removes them)."""
    from sqlalchemy import text

    from groundswell.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT relname, n_live_tup, n_dead_tup, n_tup_hot_upd, n_tup_upd, autovacuum_count "
                    "FROM pg_stat_user_tables WHERE relname IN ('job_items', 'task_leases', 'judgments') "
                    "ORDER BY relname"
                )
            ).mappings()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def _ms(value: float) -> str:
    """A latency, or a dash for a minute without that request (the UI's loop asks for a task only when an
    answer's response brought none)."""
    return "–" if value != value else f"{value:.1f}"


def report(result: dict[str, Any]) -> list[str]:
    worst = max(
        max(v for v in (m["next_p99"], m["submit_p99"]) if v == v) for m in result["minutes"] if m["submit_count"]
    )
    growths = [(g["last"] - g["first"]) / g["first"] for g in result["memory"].values()]
    ok = (
        result["errors"] == 0
        and worst < P99_BAR_MS
        and result["max_per_item"] <= 3
        and growths
        and max(growths) < MEMORY_GROWTH_BAR
    )
    lines = [
        f"PostgreSQL, `serve --workers 2`, {result['items']:,} tweets (3 answers each), {result['k']} annotators "
        f"answering and fetching the next task in one request (the web UI's loop), {result['seconds'] / 60:.1f} "
        "minutes on the same 2-core machine as the load generator.",
        "",
        f"Answers: {result['answers']:,} ({result['per_s']:.0f}/s); errors: {result['errors']}; most answers on one "
        f"tweet: {result['max_per_item']}; worst minute's p99: {worst:.1f} ms; memory growth after the first "
        f"minute, per server process: {', '.join(f'{g:+.1%}' for g in growths) or 'not sampled'}. "
        f"Bar (errors 0, p99 < {P99_BAR_MS:.0f} ms every minute, ≤ 3 answers, growth < "
        f"{MEMORY_GROWTH_BAR:.0%}): **{'met' if ok else 'not met'}**.",
        "",
        "| minute | next p99 ms | answer p99 ms | answers |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for m in result["minutes"]:
        if m["submit_count"]:  # a job finished early leaves empty minutes
            lines.append(f"| {m['minute']} | {_ms(m['next_p99'])} | {_ms(m['submit_p99'])} | {m['submit_count']:,} |")
    lines += [
        "",
        "| table | live rows | dead rows | updates (HOT) | autovacuum runs |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in result.get("tables", []):
        lines.append(
            f"| {t['relname']} | {t['n_live_tup']:,} | {t['n_dead_tup']:,} | {t['n_tup_upd']:,} "
            f"({t['n_tup_hot_upd']:,}) | {t['autovacuum_count']} |"
        )
    lines += ["", "| server process | RSS after 1 min (MiB) | at the end | highest |", "| ---: | ---: | ---: | ---: |"]
    for pid, g in sorted(result["memory"].items()):
        lines.append(f"| {pid} | {g['first']:.0f} | {g['last']:.0f} | {g['max']:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--dry-run", action="store_true", help="print the report, leave bench/RESULTS.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result = run(args.items, args.annotators, args.seconds, Path(tmp))
    lines = report(result)
    print("\n".join(lines))
    if not args.dry_run:
        write_section(
            "soak",
            "Soak: annotators on PostgreSQL for minutes on end (`bench/soak.py`)",
            lines,
            command="python bench/soak.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
