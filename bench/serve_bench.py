"""Endpoint latency and throughput with wrk, plus batch-prediction throughput.

    apt-get install -y wrk
    python bench/serve_bench.py                 # trains a TweetEval model once into bench/.cache if needed
    python bench/serve_bench.py --model DIR --workers 2 --duration 15 --no-write
    python bench/serve_bench.py --no-mlflow      # only our endpoint

wrk posts one tweet per request (``{"instances": [text]}``, rotating over TweetEval test tweets) for
``--duration`` seconds at 1, 10 and 50 connections; wrk and the server share this machine's cores.

In the same run, the same scikit-learn pipeline is served by MLflow's ``mlflow models serve`` (the reference
the issue compares against) and measured with the same wrk script: MLflow lives in its own virtual
environment, ``bench/.cache/mlflow-venv`` (created here on first use: ``python3.11 -m venv`` and ``pip install
mlflow`` with our scikit-learn version; never a product dependency). Our estimator is exported with
``mlflow.sklearn.save_model`` (``predict_proba`` as the pyfunc method, so both servers compute probabilities;
``groundswell`` travels as the model's ``code_paths``), and served with ``--env-manager local``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from groundswell.serve import predict_file
from groundswell.train import read_training_manifest, train_model
from results import write_section

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "tweeteval-sentiment"

LUA = """
local bodies = {}
local i = 0
for line in io.lines("%s") do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = (i %% #bodies) + 1
  return wrk.format(nil, "/invocations", nil, bodies[i])
end
"""


MLFLOW_VENV = HERE / ".cache" / "mlflow-venv"

EXPORT = """
import sys
import mlflow.sklearn
from groundswell.ml import load_model
estimator = load_model(sys.argv[1]).estimator
mlflow.sklearn.save_model(
    estimator, sys.argv[2], code_paths=[sys.argv[3]], pyfunc_predict_fn="predict_proba",
    serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
)
"""


def ensure_mlflow_venv() -> Path:
    """MLflow's own venv with our scikit-learn (and what loading our skops artifact needs); returns its bin/."""
    import importlib.metadata as md

    bin_dir = MLFLOW_VENV / "bin"
    if not (bin_dir / "mlflow").exists():
        print(f"creating {MLFLOW_VENV} with mlflow (about a minute, once)", flush=True)
        python = shutil.which("python3.11") or sys.executable
        subprocess.run([python, "-m", "venv", str(MLFLOW_VENV)], check=True)
        pins = [f"{name}=={md.version(name)}" for name in ("scikit-learn", "skops", "vaderSentiment")]
        subprocess.run([str(bin_dir / "pip"), "install", "--quiet", "mlflow", *pins], check=True)
    return bin_dir


def export_mlflow_model(model: Path, out: Path) -> tuple[Path, str]:
    """Our estimator as an MLflow sklearn model folder (rebuilt every run); returns it and MLflow's version."""
    bin_dir = ensure_mlflow_venv()
    shutil.rmtree(out, ignore_errors=True)
    src = HERE.parent / "src"
    env = {**os.environ, "PYTHONPATH": str(src), "MLFLOW_TRACKING_URI": f"file://{out.parent / 'mlruns'}"}
    subprocess.run(
        [str(bin_dir / "python"), "-c", EXPORT, str(model), str(out), str(src / "groundswell")], check=True, env=env
    )
    version = subprocess.run(
        [str(bin_dir / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return out, version


def model_description(model: Path) -> str:
    card = json.loads((model / "model-card.json").read_text(encoding="utf-8"))
    if card["model_type"] == "tfidf-linear":
        return "tfidf-linear (default, with lexicon)"
    average = (card.get("params") or {}).get("average") or {}
    return card["model_type"] + (" (averaged with tfidf-linear)" if average.get("kept") else "")


def start_mlflow(model: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    bin_dir = ensure_mlflow_venv()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MLFLOW_TRACKING_URI=f"file://{model.parent / 'mlruns'}", DO_NOT_TRACK="1", MLFLOW_DISABLE_TELEMETRY="1")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # MLflow starts `uvicorn` from PATH
    # Like ours (log level warning): no per-request access log. uvicorn reads UVICORN_* settings from the env.
    env.update(UVICORN_ACCESS_LOG="false", UVICORN_LOG_LEVEL="warning")
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model), "-h", "127.0.0.1", "-p", str(port)]
    command += ["-w", str(workers), "--env-manager", "local"]
    log = (model.parent / "mlflow-serve.log").open("wb")  # the child keeps its own descriptor
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return wait_healthy(process, port, f"mlflow models serve (log: {model.parent / 'mlflow-serve.log'})")


def ensure_model(folder: Path) -> Path:
    if (folder / "model-card.json").exists():
        return folder
    print(f"training a TweetEval model into {folder} (a few minutes, once)", flush=True)
    train_model(read_training_manifest(str(DATA / "train.jsonl")), folder)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    code = (
        "from groundswell.serve import EndpointConfig, run_endpoint;"
        f"run_endpoint(EndpointConfig(model_dir={str(model)!r}, workers={workers}, reload_interval_s=0),"
        f" port={port}, log_level='warning')"
    )
    return wait_healthy(subprocess.Popen([sys.executable, "-c", code]), port, "endpoint")


def wait_healthy(process: subprocess.Popen[bytes], port: int, name: str) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{name} did not come up")


def measure(
    process: subprocess.Popen[bytes], port: int, script: Path, connections: list[int], duration: int, name: str
) -> dict[int, dict[str, float]]:
    results = {}
    try:
        run_wrk(f"http://127.0.0.1:{port}", script, 10, 3)  # warm-up
        for count in connections:
            results[count] = run_wrk(f"http://127.0.0.1:{port}", script, count, duration)
            print(name, count, results[count], flush=True)
        PEAK_RSS_MB[name] = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    return results


#: Each measured server's largest process, by peak resident memory (VmHWM) after its load, in MB.
PEAK_RSS_MB: dict[str, float] = {}


def peak_rss_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) among a server process and its children (the workers), in MB."""
    import psutil

    peaks = []
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)  # type: ignore[union-attr]
    return max(peaks, default=float("nan"))


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, duration: int) -> dict[str, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": to_ms(latency["50"]),
        "p90": to_ms(latency["90"]),
        "p99": to_ms(latency["99"]),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def batch_throughput(model: Path, rows: int, processes: int) -> tuple[float, int]:
    texts = [json.loads(x)["source"] for x in (DATA / "test.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        with source.open("w") as handle:
            for i in range(rows):
                handle.write(json.dumps({"source": texts[i % len(texts)], "id": i}) + "\n")
        report = predict_file(model, str(source), str(Path(tmp) / "out.jsonl"), processes=processes)
    return report.rows / report.seconds, report.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=HERE / ".cache" / "serve-model")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the `mlflow models serve` comparison")
    parser.add_argument("--mlflow-workers", type=int, default=None, help="MLflow server workers (default: --workers)")
    parser.add_argument("--section", default="serve", help="the RESULTS.md section to write (e.g. serve-transformer)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    model = ensure_model(args.model)
    load_before = os.getloadavg()[0]
    texts = [json.loads(x)["source"] for x in (DATA / "test.jsonl").read_text().splitlines()][:2000]
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.txt"
        bodies.write_text("".join(json.dumps({"instances": [t]}) + "\n" for t in texts))
        script = Path(tmp) / "post.lua"
        script.write_text(LUA % bodies)
        port = free_port()
        server = start_server(model, port, args.workers)
        results = measure(server, port, script, args.connections, args.duration, "groundswell")
        mlflow: dict[int, dict[str, float]] = {}
        mlflow_workers = args.mlflow_workers or args.workers
        mlflow_version = ""
        if not args.no_mlflow:
            exported, mlflow_version = export_mlflow_model(model, HERE / ".cache" / "mlflow-model")
            port = free_port()
            mlflow = measure(
                start_mlflow(exported, port, mlflow_workers), port, script, args.connections, args.duration, "mlflow"
            )
    rate, rows = batch_throughput(model, args.batch_rows, processes=min(os.cpu_count() or 1, 8))
    print(f"batch: {rate:,.0f} tweets/s over {rows:,} rows", flush=True)
    lines = [
        f"Model: {model_description(model)} trained on TweetEval train. Server: `groundswell endpoint serve` "
        f"with {args.workers} worker(s), micro-batching on; wrk on the same machine, one tweet per POST "
        f"(`application/json`), {args.duration} s per row.",
        "",
        "| connections | req/s | p50 ms | p90 ms | p99 ms | non-2xx |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for connections, r in results.items():
        lines.append(
            f"| {connections} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} "
            f"| {r['errors']:.0f} |"
        )
    if mlflow:
        lines += [
            "",
            f"Beside it, in the same run: MLflow {mlflow_version} `mlflow models serve` ({mlflow_workers} worker(s), "
            "`--env-manager local`) of the same pipeline exported with `mlflow.sklearn.save_model` "
            "(pyfunc method `predict_proba`), same wrk script. Ratios are groundswell ÷ MLflow for req/s and "
            "MLflow ÷ groundswell for latency (above 1: groundswell is better).",
            "",
            "| connections | groundswell req/s | MLflow req/s | req/s ratio | groundswell p50 / p99 ms "
            "| MLflow p50 / p99 ms | p99 ratio | MLflow non-2xx |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for connections, r in results.items():
            m = mlflow[connections]
            lines.append(
                f"| {connections} | {r['rps']:,.0f} | {m['rps']:,.0f} | {r['rps'] / max(m['rps'], 1e-9):.1f}× "
                f"| {r['p50']:.2f} / {r['p99']:.2f} | {m['p50']:.2f} / {m['p99']:.2f} "
                f"| {m['p99'] / max(r['p99'], 1e-9):.1f}× | {m['errors']:.0f} |"
            )
    lines += [
        "",
        f"1-minute load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run "
        f"({os.cpu_count()} cores; other work on the machine competes with wrk and the server). Peak resident "
        "memory of the largest server process (VmHWM): "
        + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in PEAK_RSS_MB.items())
        + ".",
        "",
        f"Batch prediction (`groundswell predict`, {min(os.cpu_count() or 1, 8)} processes, JSONL in and out, "
        f"{rows:,} tweets): **{rate:,.0f} tweets/s**.",
        "",
        "Targets (issue 6, tfidf-linear): 1 connection p99 < 5 ms; 50 connections ≥ 1,500 req/s with p99 < 100 ms; "
        "batch ≥ 5,000 tweets/s; 50 connections ≥ 3× MLflow's req/s. (Issue 14, the transformer: 1 connection "
        "p99 < 15 ms; 50 connections ≥ 400 req/s with p99 < 200 ms; batch ≥ 800 tweets/s; < 1 GB per process.)"
        + ("" if mlflow else " MLflow `models serve` comparison: not run (`--no-mlflow`)."),
    ]
    for line in lines:
        print(line)
    if not args.no_write:
        command = f"python bench/serve_bench.py --workers {args.workers} --duration {args.duration}"
        command += " --no-mlflow" if args.no_mlflow else ""
        command += f" --batch-rows {args.batch_rows}" if args.batch_rows != parser.get_default("batch_rows") else ""
        command += f" --mlflow-workers {args.mlflow_workers}" if args.mlflow_workers else ""
        if args.model != parser.get_default("model"):
            command += f" --model {args.model.relative_to(HERE.parent) if args.model.is_absolute() else args.model}"
        command += f" --section {args.section}" if args.section != "serve" else ""
        title = "Serving (`bench/serve_bench.py`)" + (f": {args.section}" if args.section != "serve" else "")
        write_section(args.section, title, lines, command=command)


if __name__ == "__main__":
    main()
