"""Issue 9 item 8: memory stays bounded and a large request never stalls the server.

Before, a rejected 3.9 MB body grew the process by ~33 MB and kept it: the rejected prompt's piece
and its ~1.1M token ids (a tuple of Python ints, ~36 bytes each) stayed in the engine's piece cache.
Now hopeless prompts are refused from a lower bound without tokenizing, pieces longer than the
context are never cached, the cache is bounded in bytes, and parsing and tokenizing run on one
preparation thread (so /health answers meanwhile, and the memory one large request used is reused).
"""

from __future__ import annotations

import random
import threading
import time

import httpx

from .conftest import rss_mb


def _text(rng: random.Random, chars: int) -> str:
    words = [("".join(rng.choices("abcdefghij", k=rng.randint(2, 8)))) for _ in range(5000)]
    return " ".join(rng.choices(words, k=chars // 5))[:chars]


def test_rejected_bodies_do_not_grow_the_process(tiny_server, http_a):
    engine = tiny_server.engine
    rng = random.Random(5)
    sizes = [3_900_000, 300_000]  # refused from the lower bound / refused after tokenizing (over the context)

    def reject(size):
        r = http_a.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": _text(rng, size)}]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"

    for size in sizes * 2:  # warm up: allocator arenas, the preparation thread, tokenizer buffers
        reject(size)
    cache_before, rss_before = engine.token_cache.bytes_used, rss_mb()
    for _ in range(6):
        for size in sizes:
            reject(size)
    growth = rss_mb() - rss_before
    # 12 more rejected bodies: before the fix each kept its piece and token ids (+33 MB per 3.9 MB body,
    # ~200 MB for the six large ones); allocator noise under load reaches ~40 MB, so the bound is 100 MB
    assert growth < 100, f"RSS grew by {growth:.0f} MB"
    assert engine.token_cache.bytes_used == cache_before  # nothing of a rejected prompt was cached


def test_oversized_bodies_are_refused_without_reading_them(tiny_server, http_a):
    limit = 4 << 20
    r = http_a.post("/v1/chat/completions", content=b"x" * (limit + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunks():  # no content-length: the server counts while it reads
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = http_a.post("/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_health_answers_while_a_large_request_is_tokenized(tiny_server, http_a, monkeypatch):
    """Deterministic: hold the tokenizer inside a large request, and /health must still answer."""
    rt = tiny_server.engine.request_tokenizer
    inside, release = threading.Event(), threading.Event()
    original = rt.encode

    def slow_encode(text):
        if len(text) > 100_000:
            inside.set()
            release.wait(30)
        return original(text)

    monkeypatch.setattr(rt, "encode", slow_encode)
    result = {}

    def big():
        r = http_a.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "y " * 100_000}]})
        result["status"] = r.status_code

    t = threading.Thread(target=big)
    t.start()
    try:
        assert inside.wait(30), "the large request never reached the tokenizer"
        r = httpx.get(tiny_server.url + "/health", timeout=10)  # would time out with tokenizing on the loop
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert "status" not in result  # the large request is still being tokenized
    finally:
        release.set()
        t.join(60)
    assert result["status"] == 400  # 100k words exceed the tiny model's context


def test_tokenizing_lets_other_threads_run(tiny_server):
    """The real tokenizer releases the GIL: a big tokenization does not starve the event loop's thread."""
    rt = tiny_server.engine.request_tokenizer
    text = _text(random.Random(3), 1_500_000)
    done = threading.Event()
    ticks = []

    def work():
        rt.encode(text)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    # holding the GIL for the whole call would allow ~1 tick; count, don't time
    assert len(ticks) > 20, f"only {len(ticks)} ticks while tokenizing"
