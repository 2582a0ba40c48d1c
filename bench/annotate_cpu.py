"""Server CPU of the annotator hot path: one answer plus the next task, called as the API calls it.

Not a load test (``annotate_load.py`` is): the use-case functions run in this process, sign-in included, for
3 annotators taking turns, so the figure is the server's own CPU per answer, free of HTTP and of other
processes sharing the machine. With ``--against REV`` the same measurement runs on that git revision (a
temporary worktree) in alternation with the current tree, so the two are compared under the same load.

Run: python bench/annotate_cpu.py [--answers 600] [--repeats 3] [--against 2603532]
PostgreSQL comes from GROUNDSWELL_TEST_POSTGRES_URL (scripts/with-test-postgres starts one).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANNOTATORS = 3


def measure(store: str, answers: int) -> dict[str, float]:
    """CPU and wall ms per answer + next task, after a warm-up, on a fresh 10,000-tweet job."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    sys.path.insert(0, str(HERE))
    from annotate_load import prepare
    from groundswell import jobs

    try:
        from groundswell.jobs.people import redeem_invite, worker_for_session
    except ImportError:  # a revision before jobs/people.py (``--against``)
        from groundswell.jobs.access import redeem_invite, worker_for_session  # type: ignore[no-redef]
    from groundswell.store import make_engine, make_session_factory
    from groundswell.store.db import transaction
    from import_bench import drop_postgres_db, fresh_postgres_db

    tmp = Path(tempfile.mkdtemp(prefix="annotate-cpu-"))
    url = f"sqlite:///{tmp / 'cpu.db'}" if store == "SQLite" else fresh_postgres_db(os.environ[_PG])
    tokens = prepare(url, tmp, 10_000, ANNOTATORS)
    factory = make_session_factory(make_engine(url))
    cookies = []
    for token in tokens:
        with transaction(factory) as session:
            cookies.append(redeem_invite(session, token, session_ttl=timedelta(days=1))[1])
    tasks: list = [None] * ANNOTATORS

    def answer_and_next(round_: int, k: int) -> None:
        with transaction(factory) as session:
            signed = worker_for_session(session, cookies[k])
            assert signed is not None
            if tasks[k] is None:
                tasks[k] = jobs.next_task(session, "load", signed.worker)
            result = jobs.submit_answer(
                session,
                signed.worker,
                tasks[k].lease_id,
                label="positive",
                idempotency_key=f"{k}-{round_}",
                next_exclude=frozenset(),
            )
            tasks[k] = result.next

    for round_ in range(50):
        for k in range(ANNOTATORS):
            answer_and_next(round_, k)
    rounds = max(1, answers // ANNOTATORS)
    wall, cpu = time.perf_counter(), time.process_time()
    for round_ in range(50, 50 + rounds):
        for k in range(ANNOTATORS):
            answer_and_next(round_, k)
    done = rounds * ANNOTATORS
    figures = {
        "cpu_ms": (time.process_time() - cpu) / done * 1000,
        "wall_ms": (time.perf_counter() - wall) / done * 1000,
    }
    factory.kw["bind"].dispose()
    if store != "SQLite":
        drop_postgres_db(os.environ[_PG], url)
    return figures


_PG = "GROUNDSWELL_TEST_POSTGRES_URL"


def run_child(source: Path, store: str, answers: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    command = [sys.executable, str(HERE / "annotate_cpu.py"), "--child", store, "--answers", str(answers)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--against", help="a git revision to measure in alternation with the current tree")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.answers)))
        return
    stores = ["SQLite"] + (["PostgreSQL"] if os.environ.get(_PG) else [])
    trees = {"current tree": HERE.parent}
    worktree = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="annotate-cpu-rev-")) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.against], check=True)
        trees[args.against] = worktree
    try:
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for store in stores:
                for name, source in trees.items():
                    samples.setdefault((store, name), []).append(run_child(source, store, args.answers))
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], check=True)
    lines = [
        f"The use-case functions in-process (sign-in, submit with next task), {ANNOTATORS} annotators taking turns on "
        f"a 10,000-tweet job, {args.answers} answers per run after 150 warm-up answers; runs alternate between the "
        "trees measured.",
        "",
        "| store | code | CPU ms per answer + next (median) | wall ms (median) | runs |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for (store, name), runs in samples.items():
        cpu = statistics.median(run["cpu_ms"] for run in runs)
        wall = statistics.median(run["wall_ms"] for run in runs)
        lines.append(f"| {store} | {name} | {cpu:.2f} | {wall:.2f} | {len(runs)} |")
    print("\n".join(lines))
    if not args.no_write:
        from results import write_section

        command = "python bench/annotate_cpu.py " + shlex.join(sys.argv[1:])
        write_section("annotate-cpu", "Annotator hot path: server CPU per answer", lines, command=command.strip())


if __name__ == "__main__":
    main()
