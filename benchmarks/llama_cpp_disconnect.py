"""Does a llama.cpp server stop generating when star1 gives up on a request?

Against a running one-slot server (``python -m llama_cpp.server --model M --n_threads 1``), this
sends a request that generates for a long time, lets star1's deadline (``--timeout``) close the
connection, and then times how long a short request waits for the slot. If the server stops on
disconnect, the short request is served at once; if not, it waits for the abandoned generation.
Both a normal request and a streamed one (``"stream": true``) are tried, each on the same prompt.

    python benchmarks/llama_cpp_disconnect.py --base-url http://127.0.0.1:8080/v1 --timeout 2
"""

from __future__ import annotations

import argparse
import json
import time

import httpx2 as httpx

# Greedy, the bundled SmolLM2-135M writes this story until the limit: 600 tokens, ~15 s here.
LONG = {"messages": [{"role": "user", "content": "Write a very long story about a dragon, with many chapters."}],
        "max_tokens": 600, "temperature": 0}
SHORT = {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4, "temperature": 0}


def abandon(url: str, stream: bool, timeout: float) -> float:
    """Send the long request and give up after ``timeout`` seconds; the seconds it ran."""
    started = time.monotonic()
    try:
        with httpx.Client(timeout=timeout) as client:
            with client.stream("POST", url, json={"model": "m", **LONG, "stream": stream}) as reply:
                for _ in reply.iter_bytes():
                    if time.monotonic() - started > timeout:
                        break
    except httpx.TimeoutException:
        pass
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    url = f"{args.base_url.rstrip('/')}/chat/completions"
    with httpx.Client(timeout=600) as client:
        started = time.monotonic()
        client.post(url, json={"model": "m", **SHORT})
        idle = time.monotonic() - started
        rows = []
        for stream in (False, True):
            ran = abandon(url, stream, args.timeout)
            started = time.monotonic()
            client.post(url, json={"model": "m", **SHORT})
            rows.append({"stream": stream, "abandoned_after_s": round(ran, 2),
                         "next_request_waited_s": round(time.monotonic() - started, 2),
                         "idle_request_s": round(idle, 2)})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
