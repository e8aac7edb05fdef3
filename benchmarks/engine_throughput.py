"""LLM-stage throughput against a local OpenAI-compatible server with a fixed latency.

The server (a minimal asyncio one) runs in its own process and answers every request after
``--latency`` seconds, so
with ``--concurrency`` requests in flight the ideal rate is concurrency / latency (32 / 0.5 s =
64 requests/s). Three client set-ups are measured side by side in one run:

  engine      the openai engine alone
  cached      the engine behind the call cache (a SQLite commit per finished call)
  stage       the whole classify stage: prompt building, cache, JSON parsing, label mapping

Reported: requests/s, share of the ideal rate, and client CPU time per request (user + system
time of this process, the server excluded).

    python benchmarks/engine_throughput.py --requests 640 --concurrency 32 --latency 0.5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

LABEL = json.dumps({"categories": ["Illicit / Criminal Behavior"]})


def serve(port_queue, latency: float) -> None:
    """A minimal asyncio HTTP/1.1 server (keep-alive) answering every chat request after
    ``latency`` seconds. The thread-per-connection test server tops out near 56 req/s here,
    below the 64 req/s being measured, so the benchmark uses this one."""
    import asyncio

    body = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": LABEL}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n")
    # GET /v1/models (the engine checks it once at start): answered at once.
    models = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "bench"}]}).encode()
    listing = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
               + str(len(models)).encode() + b"\r\n\r\n" + models)

    async def handle(reader, writer):
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                if headers.startswith(b"GET"):
                    writer.write(listing)
                    await writer.drain()
                    continue
                await asyncio.sleep(latency)
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_queue.put(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1")
        await server.serve_forever()

    asyncio.run(main())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, run, n: int, ideal: float) -> dict:
    cpu, wall = cpu_seconds(), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    rate = n / wall
    return {"setup": name, "requests": n, "seconds": round(wall, 2), "requests_per_s": round(rate, 1),
            "share_of_ideal": round(rate / ideal, 3), "client_cpu_ms_per_request": round(1000 * cpu / n, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from star1.engines import CachedEngine, CallCache, ChatRequest, make_engine
    from star1.pipeline.classify import ClassifyOptions, classify
    from star1.policies import load_policy_pack
    from star1.records import Record

    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(queue, args.latency), daemon=True)
    server.start()
    base_url = queue.get(timeout=30)
    work = tempfile.mkdtemp(prefix="star1-bench-")
    os.environ["STAR1_CACHE_DIR"] = work  # what the engine learns about the server stays here
    engine = make_engine(f"openai:stub@{base_url}?concurrency={args.concurrency}&api_key_env=STAR1_BENCH_KEY")
    ideal = args.concurrency / args.latency
    n = args.requests
    results = []
    try:
        engine.generate([ChatRequest.chat("warm-up")])
        results.append(measure("engine", lambda: engine.generate(
            [ChatRequest.chat(f"engine request {i}") for i in range(n)]), n, ideal))
        cached = CachedEngine(engine, CallCache(Path(work) / "cached.sqlite"), "bench")
        results.append(measure("cached", lambda: cached.generate(
            [ChatRequest.chat(f"cached request {i}") for i in range(n)]), n, ideal))
        pack = load_policy_pack()
        records = [Record(id=str(i), question=f"stage request {i}") for i in range(n)]
        staged = CachedEngine(engine, CallCache(Path(work) / "stage.sqlite"), "classify")
        results.append(measure("stage", lambda: classify(records, staged, pack, ClassifyOptions(),
                                                          show_progress=False), n, ideal))
    finally:
        server.terminate()

    table = Table(title=f"{n} requests, concurrency {args.concurrency}, server latency {args.latency}s "
                        f"(ideal {ideal:.0f} req/s)")
    for column in ("setup", "seconds", "requests/s", "share of ideal", "client CPU ms/request"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for r in results:
        table.add_row(r["setup"], str(r["seconds"]), str(r["requests_per_s"]),
                      f"{r['share_of_ideal']:.1%}", str(r["client_cpu_ms_per_request"]))
    Console().print(table)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
