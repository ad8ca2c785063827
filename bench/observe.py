"""The latency `promptc observe` adds, per request and per streamed chunk, against calling the
simulator directly in the same run.

Run:  python bench/observe.py [--out bench/results/observe.json] [--requests 200]

One provider simulator (``promptc sim serve``: Anthropic Messages, a ~1,900-token cached system
prompt, fake clock) and one observer (``promptc observe``) in front of it, each in its own process on
loopback; this process is the agent, with one keep-alive httpx client per path. Rounds alternate direct / via the proxy so drift hits both alike.

* **per request**: wall time of a non-streamed call (send → whole body), median over the rounds;
  added = median(via) − median(direct).
* **per chunk**: streamed calls; for each, the time from the first chunk to the last divided by the
  number of chunks received after the first; added = median(via) − median(direct). Also the time
  to the first chunk (TTFB), median, both ways.

The goal (issue 24) is ≤ 2 ms added per request and per chunk (median). The trace record is
written after the last chunk has been sent, off the event loop, so it is outside these numbers
unless it delays the next request: every round waits for the previous record to be written, as a
sequential agent would (its next call comes after its previous reply).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

MODEL = "claude-sonnet-4-5"
RULES = "You are the release assistant of the acme repository. Follow the checklist exactly. " * 120
HEADERS = {"x-api-key": "sim", "anthropic-version": "2023-06-01"}


def _payload(stream: bool, n: int) -> dict:
    return {"model": MODEL, "max_tokens": 64, "stream": stream,
            "system": [{"type": "text", "text": RULES, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": f"Question {n}: what is the next step?"}]}


def _call(client: httpx.Client, url: str, stream: bool, n: int) -> tuple[float, float | None, float | None, int]:
    """(total s, ttfb s, per-chunk s, chunks)."""
    t0 = time.perf_counter()
    if not stream:
        r = client.post(url + "/v1/messages", json=_payload(False, n), headers=HEADERS)
        r.raise_for_status()
        return time.perf_counter() - t0, None, None, 1
    times = []
    with client.stream("POST", url + "/v1/messages", json=_payload(True, n), headers=HEADERS) as r:
        for _ in r.iter_raw():
            times.append(time.perf_counter())
    total = times[-1] - t0
    per_chunk = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None
    return total, times[0] - t0, per_chunk, len(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "observe.json"))
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    rows: dict[str, dict[str, list[float]]] = {k: {"total": [], "ttfb": [], "chunk": [], "chunks": []}
                                               for k in ("direct-json", "proxy-json", "direct-sse", "proxy-sse")}
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        sim_port, px_port = _free_port(), _free_port()
        sim_url, px_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{px_port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # separate processes, as in use: in one process the three event loops would share one GIL and
        # its 5 ms switch interval would be measured instead of the proxy
        procs = [subprocess.Popen([sys.executable, "-m", "promptc", "sim", "serve", "--port", str(sim_port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                 subprocess.Popen([sys.executable, "-m", "promptc", "observe", "--port", str(px_port),
                                   "--anthropic-upstream", sim_url, "--trace", str(trace)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            for url in (sim_url, px_url):
                _wait(url)
            with httpx.Client(timeout=30) as direct, httpx.Client(timeout=30) as via:
                written = 0
                for n in range(args.requests + 10):  # the first 10 rounds warm up (connections, tokenizer)
                    for stream in (False, True):
                        kind = "sse" if stream else "json"
                        for name, client, url in (("direct", direct, sim_url), ("proxy", via, px_url)):
                            total, ttfb, chunk, chunks = _call(client, url, stream, n)
                            if name == "proxy":  # wait for the record, as a sequential agent's next call would
                                written += 1
                                deadline = time.monotonic() + 10
                                while (trace.read_text().count("\n") if trace.exists() else 0) < written:
                                    if time.monotonic() > deadline:
                                        raise SystemExit("the observer wrote no record")
                                    time.sleep(0.0005)
                            if n < 10:
                                continue
                            r = rows[f"{name}-{kind}"]
                            r["total"].append(total)
                            r["chunks"].append(chunks)
                            if ttfb is not None:
                                r["ttfb"].append(ttfb)
                            if chunk is not None:
                                r["chunk"].append(chunk)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=20)
    med = {k: {m: (statistics.median(v) if v else None) for m, v in r.items()} for k, r in rows.items()}
    ms = lambda s: None if s is None else round(s * 1000, 3)  # noqa: E731
    result = {
        "requests": args.requests,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "median_ms": {k: {m: ms(v) if m != "chunks" else v for m, v in r.items()} for k, r in med.items()},
        "added_ms": {
            "per_request_json": ms(med["proxy-json"]["total"] - med["direct-json"]["total"]),
            "per_request_sse_ttfb": ms(med["proxy-sse"]["ttfb"] - med["direct-sse"]["ttfb"]),
            "per_chunk_sse": ms(med["proxy-sse"]["chunk"] - med["direct-sse"]["chunk"]),
        },
        "goal_ms": 2.0,
    }
    print(f"{'path':<14} {'total ms':>9} {'TTFB ms':>8} {'per chunk ms':>13} {'chunks':>7}")
    for k, r in med.items():
        fmt = lambda v: "-" if v is None else f"{v * 1000:.3f}"  # noqa: E731
        print(f"{k:<14} {fmt(r['total']):>9} {fmt(r['ttfb']):>8} {fmt(r['chunk']):>13} {r['chunks']:>7}")
    a = result["added_ms"]
    print(f"added per request (JSON): {a['per_request_json']} ms; to first chunk (SSE): {a['per_request_sse_ttfb']} ms; "
          f"per chunk (SSE): {a['per_chunk_sse']} ms; goal ≤ 2 ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
